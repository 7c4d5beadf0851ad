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
from pydantic import ValidationError as PydanticError

from sitewide.domain.accounts import Principal
from sitewide.domain.money import format_amount
from sitewide.engine import Engine
from sitewide.ports import ServiceRecords, Store
from sitewide.service.deps import COOKIE, get_accounts
from sitewide.service.usecases.creatives import CreativeDesk

PKG = resources.files("sitewide") / "dashboard"
STATIC_DIR = Path(str(PKG / "static"))
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"

router = APIRouter(prefix="/ui", include_in_schema=False)
templates = Jinja2Templates(directory=str(PKG / "templates"))
templates.env.filters["money"] = lambda v: format_amount(int(v)) if v is not None else "–"
templates.env.filters["ratio"] = lambda v: f"{float(v):.2f}" if v is not None else "–"
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


def page(request: Request, name: str, who: Principal | None, status: int = 200, **ctx: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"who": who, **ctx}, status_code=status)


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


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def pyd_message(exc: PydanticError) -> str:
    e = exc.errors()[0]
    return f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}"


def fig_json(fig: go.Figure) -> str:
    return str(fig.to_json())


def layout(fig: go.Figure, title: str, **kw: Any) -> go.Figure:
    fig.update_layout(
        title=title, margin={"l": 50, "r": 20, "t": 40, "b": 40}, height=320, template="plotly_white", **kw
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
        return page(request, "login.html", None, status=401, error="That API key is not valid.")
    resp = redirect("/ui/")
    resp.set_cookie(COOKIE, api_key.strip(), httponly=True, samesite="strict", max_age=7 * 24 * 3600)
    return resp


@router.get("/logout")
def logout() -> RedirectResponse:
    resp = redirect("/ui/login")
    resp.delete_cookie(COOKIE)
    return resp


__all__ = ["FormUi", "PageUi", "Ui", "mount", "router"]
