"""The merchant dashboard's shared parts: templates, the one login guard, error pages, charts, login/logout.

Server-rendered Jinja2 pages with Plotly charts, on the same app as the API. Login stores the API key in an
HTTP-only, ``SameSite=Strict`` cookie; every page acts as that key's principal through the same scope rules and
use cases as the API. Forms post back to the dashboard (same origin only). plotly.js is served from the
installed ``plotly`` package; nothing is loaded from the internet.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import plotly
import plotly.graph_objects as go
from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from pydantic import ValidationError as PydanticError

from sitewide.domain.accounts import Principal
from sitewide.engine import Engine
from sitewide.i18n import (
    HTML_LANG,
    LANG_COOKIE,
    LANGS,
    Translator,
    format_money,
    format_time,
    pick_lang,
    translator,
)
from sitewide.ports import ServiceRecords, Store
from sitewide.service.deps import COOKIE, get_accounts
from sitewide.service.usecases.creatives import CreativeDesk

PKG = resources.files("sitewide") / "dashboard"
STATIC_DIR = Path(str(PKG / "static"))
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"

router = APIRouter(prefix="/ui", include_in_schema=False)
templates = Jinja2Templates(directory=str(PKG / "templates"))


@pass_context
def _money(ctx: Any, v: int | None) -> str:
    """Micros in the deployment's currency (``Settings.currency``), e.g. ``$12.50``."""
    return format_money(None if v is None else int(v), ctx.get("currency", "USD"))


templates.env.filters["money"] = _money
templates.env.filters["ratio"] = lambda v: f"{float(v):.2f}" if v is not None else "–"
templates.env.filters["when"] = format_time
templates.env.filters["pct"] = lambda v: f"{100 * float(v):.2f}%" if v is not None else "–"


class LoginRequired(Exception):
    """No valid login cookie (or a form posted from another origin): the answer is the login page."""


def logged_in(request: Request) -> Principal | None:
    key = request.cookies.get(COOKIE)
    return get_accounts(request).authenticate(key) if key else None


def same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


def require_login(request: Request) -> Principal:
    """The login guard of every page: the cookie's principal, else :class:`LoginRequired`."""
    who = logged_in(request)
    if who is None:
        raise LoginRequired
    return who


def require_form_login(request: Request) -> Principal:
    """The guard of every form post: logged in, and posted from this site (no cross-site forms)."""
    who = require_login(request)
    if not same_origin(request):
        raise LoginRequired
    return who


def lang_of(request: Request) -> str:
    """``?lang=`` (remembered in a cookie by :func:`page`), else the cookie, else ``Accept-Language``."""
    return pick_lang(
        request.query_params.get("lang"),
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
    )


def tr_of(request: Request) -> Translator:
    return translator(lang_of(request))


def currency_of(request: Request) -> str:
    return str(getattr(request.app.state.settings, "currency", "USD"))


def page(request: Request, name: str, who: Principal | None, status: int = 200, **ctx: Any) -> HTMLResponse:
    """Render a page in the request's language (``_`` translates, ``t.code`` words a code) and currency."""
    tr = tr_of(request)
    base: dict[str, Any] = {
        "who": who,
        "_": tr.gettext,
        "t": tr,
        "lang": tr.lang,
        "html_lang": HTML_LANG[tr.lang],
    }
    base.update(currency=currency_of(request), langs=LANGS, path=request.url.path)
    done = request.query_params.get("done")  # a success message after a form: ?done=created
    if done and tr.has(f"done.{done}"):
        base["flash"] = tr.code("done", done)
    resp = templates.TemplateResponse(request, name, {**base, **ctx}, status_code=status)
    chosen = request.query_params.get("lang")
    if chosen in LANGS and chosen != request.cookies.get(LANG_COOKIE):
        resp.set_cookie(LANG_COOKIE, chosen, samesite="lax", max_age=365 * 24 * 3600)
    return resp


def error_page(request: Request, who: Principal | None, status: int, message: str) -> HTMLResponse:
    return page(request, "error.html", who, status=status, message=message)


@dataclass(frozen=True)
class Ui:
    """One dashboard request: who is logged in, and what its page works with (the engine facade and the ports
    the composition root handed to the app)."""

    request: Request
    who: Principal
    engine: Engine
    store: Store
    accounts: ServiceRecords
    desk: CreativeDesk

    @property
    def t(self) -> Translator:
        """The request's language: ``ui.t("text")``, ``ui.t.code("reason", code)``."""
        return tr_of(self.request)

    @property
    def currency(self) -> str:
        return currency_of(self.request)

    def money(self, micros: int | None) -> str:
        return format_money(micros, self.currency)

    def merchant_names(self) -> dict[str, str]:
        """Merchant id → name, for the operator's pages (a merchant sees only itself: empty)."""
        return {m.id: m.name for m in self.accounts.list_merchants()} if self.who.is_operator else {}

    def page(self, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        return page(self.request, name, self.who, status, **ctx)

    def error(self, status: int, message: str) -> HTMLResponse:
        return error_page(self.request, self.who, status, message)


def _ui(request: Request, who: Principal) -> Ui:
    state = request.app.state
    return Ui(request, who, state.engine, state.store, state.accounts, state.creatives)


def page_ui(request: Request, who: Annotated[Principal, Depends(require_login)]) -> Ui:
    return _ui(request, who)


def form_ui(request: Request, who: Annotated[Principal, Depends(require_form_login)]) -> Ui:
    return _ui(request, who)


PageUi = Annotated[Ui, Depends(page_ui)]  # a page: logged in
FormUi = Annotated[Ui, Depends(form_ui)]  # a form post: logged in, from this site


@dataclass(frozen=True)
class Paged:
    """One page of a list: its rows, the 1-based page number (clamped into range), the page count and the
    number of rows over all pages."""

    rows: list[Any]
    page: int
    pages: int
    total: int


def paged(rows: list[Any], page: int, size: int) -> Paged:
    pages = max(1, -(-len(rows) // size))
    page = min(max(1, page), pages)
    return Paged(rows[(page - 1) * size : page * size], page, pages, len(rows))


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def pyd_message(exc: PydanticError) -> str:
    e = exc.errors()[0]
    return f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}"


def fig_json(fig: go.Figure) -> str:
    return str(fig.to_json())


def layout(
    fig: go.Figure,
    title: str,
    x: str | None = None,
    y: str | None = None,
    empty: str | None = None,
    **kw: Any,
) -> go.Figure:
    """Title, axis titles (objects, as the bundled plotly.js expects) and, for a chart without data, ``empty``
    written across it instead of bare axes."""
    fig.update_layout(
        title={"text": title},
        margin={"l": 60, "r": 20, "t": 44, "b": 48},
        height=320,
        template="plotly_white",
        **kw,
    )
    if x is not None:
        fig.update_xaxes(title={"text": x})
    if y is not None:
        fig.update_yaxes(title={"text": y})
    if empty is not None and not any(
        len(getattr(tr, "x", None) or getattr(tr, "y", None) or ()) for tr in fig.data
    ):
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
        fig.add_annotation(
            text=empty, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font={"size": 14}
        )
    return fig


def mount(app: FastAPI) -> None:
    """plotly.js and the static files; a page without login answers with the login page."""

    @app.get("/ui/static/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        return FileResponse(PLOTLY_JS, media_type="application/javascript")

    app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="ui-static")

    @app.exception_handler(LoginRequired)
    async def _to_login(_: Request, __: Exception) -> Response:
        return redirect("/ui/login")


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    return page(request, "login.html", None, error=None)


@router.post("/login", response_model=None)
def login(request: Request, api_key: str = Form("")) -> Response:
    who = get_accounts(request).authenticate(api_key.strip())
    if who is None:
        err = tr_of(request)("That API key is not valid.")
        return page(request, "login.html", None, status=401, error=err)
    resp = redirect("/ui/")
    resp.set_cookie(COOKIE, api_key.strip(), httponly=True, samesite="strict", max_age=7 * 24 * 3600)
    return resp


@router.get("/logout")
def logout() -> RedirectResponse:
    resp = redirect("/ui/login")
    resp.delete_cookie(COOKIE)
    return resp


__all__ = ["FormUi", "PageUi", "Ui", "mount", "router"]
