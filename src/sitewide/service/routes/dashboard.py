"""The merchant dashboard: server-rendered Jinja2 pages with Plotly charts, on the same app as the API.

Login stores the API key in an HTTP-only, ``SameSite=Strict`` cookie; every page acts as that key's
principal through the same scope rules as the API. Forms post back to the dashboard (same origin only).
plotly.js is served from the installed ``plotly`` package; nothing is loaded from the internet.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Any

import plotly
import plotly.graph_objects as go
from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError as PydanticError

from sitewide.domain.accounts import Principal
from sitewide.domain.money import format_amount, parse_amount
from sitewide.domain.types import Campaign, CampaignStatus, DomainError, NotFound
from sitewide.engine import Engine
from sitewide.ports import ServiceRecords
from sitewide.service.deps import COOKIE
from sitewide.service.reporting import campaign_days, merchant_statements
from sitewide.service.routes.campaigns import _set_status, campaign_out, create_campaign, update_campaign
from sitewide.service.routes.products import eligibility_out
from sitewide.service.routes.reports import auction_losses
from sitewide.service.routes.shops import shop_score
from sitewide.service.schemas import CampaignIn, CampaignPatch
from sitewide.service.scope import shop_owners, visible_campaign, visible_product, visible_shop

PKG = resources.files("sitewide") / "dashboard"
STATIC_DIR = Path(str(PKG / "static"))
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"

router = APIRouter(prefix="/ui", include_in_schema=False)
templates = Jinja2Templates(directory=str(PKG / "templates"))
templates.env.filters["money"] = lambda v: format_amount(int(v)) if v is not None else "–"
templates.env.filters["ratio"] = lambda v: f"{float(v):.2f}" if v is not None else "–"
templates.env.filters["pct"] = lambda v: f"{100 * float(v):.2f}%" if v is not None else "–"


def mount_static(app: FastAPI) -> None:
    @app.get("/ui/static/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        return FileResponse(PLOTLY_JS, media_type="application/javascript")

    app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="ui-static")


class LoginRequired(Exception):
    pass


def _engine(request: Request) -> Engine:
    eng: Engine = request.app.state.engine
    return eng


def _accounts(request: Request) -> ServiceRecords:
    acc: ServiceRecords = request.app.state.accounts
    return acc


def _who(request: Request) -> Principal | None:
    key = request.cookies.get(COOKIE)
    return _accounts(request).authenticate(key) if key else None


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


def _page(request: Request, name: str, who: Principal, status: int = 200, **ctx: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"who": who, **ctx}, status_code=status)


def _to_login() -> RedirectResponse:
    return RedirectResponse("/ui/login", status_code=303)


def _fig_json(fig: go.Figure) -> str:
    return str(fig.to_json())


def _layout(fig: go.Figure, title: str, **kw: Any) -> go.Figure:
    fig.update_layout(
        title=title, margin={"l": 50, "r": 20, "t": 40, "b": 40}, height=320, template="plotly_white", **kw
    )
    return fig


# login ---------------------------------------------------------------------------------------------
@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "login.html", {"who": None, "error": None})


@router.post("/login", response_model=None)
def login(request: Request, api_key: str = Form("")) -> Response:
    who = _accounts(request).authenticate(api_key.strip())
    if who is None:
        return templates.TemplateResponse(
            request, "login.html", {"who": None, "error": "That API key is not valid."}, status_code=401
        )
    resp = RedirectResponse("/ui/", status_code=303)
    resp.set_cookie(COOKIE, api_key.strip(), httponly=True, samesite="strict", max_age=7 * 24 * 3600)
    return resp


@router.get("/logout")
def logout() -> RedirectResponse:
    resp = _to_login()
    resp.delete_cookie(COOKIE)
    return resp


# campaigns -----------------------------------------------------------------------------------------
def _totals(engine: Engine, cid: str) -> dict[str, Any]:
    return asdict(engine.campaign_report(cid).total)


@dataclass(frozen=True)
class CampaignRow:
    c: Campaign
    t: dict[str, Any]
    roi: float | None
    met: bool | None


@router.get("/", response_class=HTMLResponse, response_model=None)
def campaigns_page(request: Request) -> Response:
    who = _who(request)
    if who is None:
        return _to_login()
    engine = _engine(request)
    camps = sorted(
        engine.store.list_campaigns(None if who.is_operator else who.merchant_id),
        key=lambda c: (-c.created_ms, c.id),
    )
    rows = []
    for c in camps:
        t = _totals(engine, c.id)
        roi = t.get("roi")
        rows.append(CampaignRow(c, t, roi, None if roi is None else roi >= float(c.target_roi)))
    fig = go.Figure()
    if rows:
        names = [f"{r.c.name} ({r.c.id})" for r in rows]
        fig.add_bar(
            name="delivered ROI",
            x=names,
            y=[r.roi or 0 for r in rows],
            marker_color=["#2e7d32" if r.met else ("#c62828" if r.met is False else "#9e9e9e") for r in rows],
        )
        fig.add_scatter(
            name="target ROI",
            x=names,
            y=[float(r.c.target_roi) for r in rows],
            mode="markers",
            marker={"symbol": "line-ew-open", "size": 28, "color": "#000", "line": {"width": 3}},
        )
    _layout(fig, "ROI vs target", yaxis_title="GMV ÷ spend")
    return _page(request, "campaigns.html", who, rows=rows, fig=_fig_json(fig))


def _form_products(engine: Engine, merchant_id: str | None, who: Principal) -> list[dict[str, Any]]:
    owners = shop_owners(engine)
    out = []
    for p in sorted(engine.store.list_products(), key=lambda p: p.id):
        owner = owners.get(p.shop_id)
        if owner is None or not who.can_see(owner) or (merchant_id is not None and owner != merchant_id):
            continue
        try:
            elig = engine.eligibility(p.id).eligible
        except NotFound:
            elig = False
        out.append({"p": p, "owner": owner, "eligible": elig})
        if len(out) >= 500:
            break
    return out


def _parse_form(
    name: str, target_roi: str, budget_cny: str, product_ids: list[str]
) -> tuple[dict[str, Any], str | None]:
    """Turn the form's strings into API fields; a message for the first one that is not a number."""
    try:
        roi = Decimal(target_roi.strip())
    except InvalidOperation:
        return {}, "Target ROI must be a number, e.g. 3.00."
    try:
        budget = int(parse_amount(budget_cny.strip()))
    except (DomainError, ValueError, InvalidOperation):
        return {}, "Daily budget must be an amount in CNY, e.g. 200.00."
    return {
        "name": name.strip(),
        "target_roi": roi,
        "daily_budget_micros": budget,
        "product_ids": product_ids,
    }, None


def _pyd_message(exc: PydanticError) -> str:
    e = exc.errors()[0]
    return f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}"


def _form_page(
    request: Request,
    who: Principal,
    *,
    campaign: Any = None,
    values: dict[str, Any],
    error: str | None,
    status: int = 200,
) -> HTMLResponse:
    engine = _engine(request)
    mid = campaign.merchant_id if campaign is not None else (values.get("merchant_id") or who.merchant_id)
    merchants = [m.id for m in _accounts(request).list_merchants()] if who.is_operator else []
    return _page(
        request,
        "campaign_form.html",
        who,
        status=status,
        campaign=campaign,
        values=values,
        error=error,
        merchants=merchants,
        products=_form_products(engine, mid, who),
    )


@router.get("/campaigns/new", response_class=HTMLResponse, response_model=None)
def new_campaign_form(request: Request, merchant_id: str | None = None) -> Response:
    who = _who(request)
    if who is None:
        return _to_login()
    values: dict[str, Any] = {
        "name": "",
        "target_roi": "3.00",
        "budget_cny": "200.00",
        "product_ids": [],
        "merchant_id": merchant_id,
    }
    return _form_page(request, who, values=values, error=None)


@router.post("/campaigns/new", response_class=HTMLResponse, response_model=None)
def create_campaign_form(
    request: Request,
    name: str = Form(""),
    target_roi: str = Form(""),
    budget_cny: str = Form(""),
    merchant_id: str = Form(""),
    product_ids: list[str] = Form(default_factory=list),
) -> Response:
    who = _who(request)
    if who is None or not _same_origin(request):
        return _to_login()
    engine = _engine(request)
    values = {
        "name": name,
        "target_roi": target_roi,
        "budget_cny": budget_cny,
        "product_ids": product_ids,
        "merchant_id": merchant_id or None,
    }
    fields, err = _parse_form(name, target_roi, budget_cny, product_ids)
    if err is None:
        try:
            body = CampaignIn(merchant_id=merchant_id or None, **fields)
            out = create_campaign(body, engine, _accounts(request), who)
            return RedirectResponse(f"/ui/campaigns/{out.id}", status_code=303)
        except PydanticError as exc:
            err = _pyd_message(exc)
        except DomainError as exc:
            err = str(exc)
    return _form_page(request, who, values=values, error=err, status=422)


@router.get("/campaigns/{campaign_id}", response_class=HTMLResponse, response_model=None)
def campaign_page(request: Request, campaign_id: str) -> Response:
    who = _who(request)
    if who is None:
        return _to_login()
    engine = _engine(request)
    try:
        c = visible_campaign(engine, who, campaign_id)
    except NotFound:
        return _page(request, "error.html", who, status=404, message=f"campaign {campaign_id} not found")
    days = campaign_days(engine, c.id)
    x = [d.day for d in days]
    money = go.Figure()
    for k, label in (
        ("spend_micros", "spend"),
        ("gmv_micros", "GMV"),
        ("compensation_micros", "compensation"),
    ):
        money.add_bar(name=label, x=x, y=[float(getattr(d, k)) / 1e6 for d in days])
    _layout(money, "Daily spend, GMV and compensation (CNY)", barmode="group", xaxis_type="category")
    roi = go.Figure()
    roi.add_scatter(name="delivered ROI", x=x, y=[d.roi for d in days], mode="lines+markers")
    roi.add_scatter(
        name="target", x=x, y=[float(c.target_roi)] * len(x), mode="lines+markers", line={"dash": "dash"}
    )
    _layout(roi, "Daily ROI vs target", xaxis_type="category")
    traffic = go.Figure()
    traffic.add_bar(name="impressions", x=x, y=[d.impressions for d in days])
    traffic.add_bar(name="clicks", x=x, y=[d.clicks for d in days])
    traffic.add_bar(name="orders", x=x, y=[d.orders for d in days])
    _layout(
        traffic, "Daily impressions, clicks, orders", barmode="group", xaxis_type="category", yaxis_type="log"
    )
    losses = auction_losses(c.id, engine, _accounts(request), who, None, 20)
    lost = go.Figure()
    lost.add_bar(x=[r.reason for r in losses.by_reason], y=[r.count for r in losses.by_reason])
    _layout(lost, "Lost auctions by reason")
    stm = []
    for s in merchant_statements(c.merchant_id, engine.store.ledger_entries(c.merchant_id, c.id)):
        stm.append(s)
    return _page(
        request,
        "campaign.html",
        who,
        c=campaign_out(c),
        days=days,
        total=_totals(engine, c.id),
        statements=stm,
        losses=losses,
        figs={
            "money": _fig_json(money),
            "roi": _fig_json(roi),
            "traffic": _fig_json(traffic),
            "lost": _fig_json(lost),
        },
    )


@router.get("/campaigns/{campaign_id}/edit", response_class=HTMLResponse, response_model=None)
def edit_campaign_form(request: Request, campaign_id: str) -> Response:
    who = _who(request)
    if who is None:
        return _to_login()
    try:
        c = visible_campaign(_engine(request), who, campaign_id)
    except NotFound:
        return _page(request, "error.html", who, status=404, message=f"campaign {campaign_id} not found")
    values = {
        "name": c.name,
        "target_roi": str(c.target_roi),
        "budget_cny": format_amount(int(c.daily_budget_micros)).replace(",", ""),
        "product_ids": list(c.product_ids),
        "merchant_id": c.merchant_id,
    }
    return _form_page(request, who, campaign=c, values=values, error=None)


@router.post("/campaigns/{campaign_id}/edit", response_class=HTMLResponse, response_model=None)
def edit_campaign(
    request: Request,
    campaign_id: str,
    name: str = Form(""),
    target_roi: str = Form(""),
    budget_cny: str = Form(""),
    product_ids: list[str] = Form(default_factory=list),
) -> Response:
    who = _who(request)
    if who is None or not _same_origin(request):
        return _to_login()
    engine = _engine(request)
    try:
        c = visible_campaign(engine, who, campaign_id)
    except NotFound:
        return _page(request, "error.html", who, status=404, message=f"campaign {campaign_id} not found")
    values = {
        "name": name,
        "target_roi": target_roi,
        "budget_cny": budget_cny,
        "product_ids": product_ids,
        "merchant_id": c.merchant_id,
    }
    fields, err = _parse_form(name, target_roi, budget_cny, product_ids)
    if err is None:
        try:
            update_campaign(campaign_id, CampaignPatch(**fields), engine, who)
            return RedirectResponse(f"/ui/campaigns/{campaign_id}", status_code=303)
        except PydanticError as exc:
            err = _pyd_message(exc)
        except DomainError as exc:
            err = str(exc)
    return _form_page(request, who, campaign=c, values=values, error=err, status=422)


@router.post("/campaigns/{campaign_id}/status", response_model=None)
def set_status(request: Request, campaign_id: str, status: str = Form("")) -> Response:
    who = _who(request)
    if who is None or not _same_origin(request):
        return _to_login()
    if status not in ("active", "paused"):
        return _page(request, "error.html", who, status=422, message="status must be active or paused")
    try:
        _set_status(_engine(request), who, campaign_id, CampaignStatus(status))
    except NotFound:
        return _page(request, "error.html", who, status=404, message=f"campaign {campaign_id} not found")
    return RedirectResponse(f"/ui/campaigns/{campaign_id}", status_code=303)


# products, shops, appeals --------------------------------------------------------------------------
@router.get("/products", response_class=HTMLResponse, response_model=None)
def products_page(request: Request, only: str = "all") -> Response:
    who = _who(request)
    if who is None:
        return _to_login()
    engine = _engine(request)
    rows = []
    for item in _form_products(engine, None, who):
        d = engine.eligibility(item["p"].id)
        if only == "ineligible" and d.eligible:
            continue
        rows.append({**item, "failed": [r for r in d.reasons if not r.passed]})
    return _page(request, "products.html", who, rows=rows, only=only)


@router.get("/products/{product_id}", response_class=HTMLResponse, response_model=None)
def product_page(request: Request, product_id: str) -> Response:
    who = _who(request)
    if who is None:
        return _to_login()
    engine = _engine(request)
    try:
        p, owner = visible_product(engine, who, product_id)
    except NotFound:
        return _page(request, "error.html", who, status=404, message=f"product {product_id} not found")
    appeals = _accounts(request).list_appeals(None if who.is_operator else who.merchant_id, object_id=p.id)
    return _page(
        request,
        "product.html",
        who,
        p=p,
        owner=owner,
        elig=eligibility_out(engine.eligibility(p.id)),
        appeals=appeals,
    )


@router.get("/shops", response_class=HTMLResponse, response_model=None)
def shops_page(request: Request) -> Response:
    who = _who(request)
    if who is None:
        return _to_login()
    engine = _engine(request)
    shops = [s for s in sorted(engine.store.list_shops(), key=lambda s: s.id) if who.can_see(s.merchant_id)]
    rows = []
    for s in shops[:200]:
        sc = shop_score(s.id, engine, who)
        fig = go.Figure()
        if sc.factors:
            fig.add_bar(
                x=[f.contribution for f in sc.factors],
                y=[f.name for f in sc.factors],
                orientation="h",
                text=[f"{f.sub_score:.0f}/100 × {f.weight:.2f}" for f in sc.factors],
            )
        _layout(fig, f"{s.name}: score {sc.score:.1f}" if sc.score is not None else f"{s.name}: not scored")
        fig.update_layout(height=240)
        appeals = _accounts(request).list_appeals(
            None if who.is_operator else who.merchant_id, object_id=s.id
        )
        rows.append({"s": s, "sc": sc, "fig": _fig_json(fig), "appeals": appeals})
    return _page(request, "shops.html", who, rows=rows)


@router.post("/appeals", response_model=None)
def appeal(
    request: Request, kind: str = Form(""), object_id: str = Form(""), message: str = Form("")
) -> Response:
    who = _who(request)
    if who is None or not _same_origin(request):
        return _to_login()
    engine = _engine(request)
    back = f"/ui/products/{object_id}" if kind == "product" else "/ui/shops"
    if kind not in ("product", "shop") or not message.strip():
        return _page(request, "error.html", who, status=422, message="an appeal needs a kind and a message")
    try:
        if kind == "product":
            _, owner = visible_product(engine, who, object_id)
        else:
            owner = visible_shop(engine, who, object_id).merchant_id
    except NotFound as exc:
        return _page(request, "error.html", who, status=404, message=str(exc))
    _accounts(request).create_appeal(kind, object_id, owner, message.strip()[:2000])  # type: ignore[arg-type]
    return RedirectResponse(back, status_code=303)


@router.get("/appeals", response_class=HTMLResponse, response_model=None)
def appeals_page(request: Request) -> Response:
    who = _who(request)
    if who is None:
        return _to_login()
    rows = _accounts(request).list_appeals(None if who.is_operator else who.merchant_id)
    return _page(request, "appeals.html", who, rows=rows)


@router.post("/appeals/{appeal_id}/resolve", response_model=None)
def resolve(
    request: Request, appeal_id: str, decision: str = Form(""), resolution: str = Form("")
) -> Response:
    who = _who(request)
    if who is None or not _same_origin(request):
        return _to_login()
    if not who.is_operator:
        return _page(request, "error.html", who, status=403, message="only the operator resolves appeals")
    if decision not in ("accepted", "rejected") or not resolution.strip():
        return _page(
            request, "error.html", who, status=422, message="a resolution needs a decision and a text"
        )
    try:
        _accounts(request).resolve_appeal(appeal_id, decision, resolution.strip()[:2000])  # type: ignore[arg-type]
    except DomainError as exc:
        return _page(request, "error.html", who, status=409, message=str(exc))
    return RedirectResponse("/ui/appeals", status_code=303)


__all__ = ["mount_static", "router"]
