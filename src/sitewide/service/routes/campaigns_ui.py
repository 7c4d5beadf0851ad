"""Dashboard pages for campaigns: the list with ROI against target, one campaign's days, statements and lost
auctions, the create/edit form (one form, one handler) and pause/resume."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import plotly.graph_objects as go
from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError as PydanticError

from sitewide.api.schemas import CampaignIn, CampaignPatch
from sitewide.domain.money import format_amount, parse_amount
from sitewide.domain.types import Campaign, CampaignStatus, DomainError
from sitewide.engine import Engine
from sitewide.service.present import campaign_out, losses_out
from sitewide.service.reporting import campaign_days
from sitewide.service.routes.ui import FormUi, PageUi, Ui, fig_json, layout, pyd_message, redirect
from sitewide.service.scope import visible_campaign
from sitewide.service.usecases import campaigns as uc
from sitewide.service.usecases import reports
from sitewide.service.usecases.catalogue import is_eligible, visible_products

router = APIRouter(prefix="/ui", include_in_schema=False)
FORM_PRODUCTS = 500  # products listed on the form


def _totals(engine: Engine, cid: str) -> dict[str, Any]:
    return asdict(engine.campaign_report(cid).total)


@dataclass(frozen=True)
class CampaignRow:
    c: Campaign
    t: dict[str, Any]
    roi: float | None
    met: bool | None


@router.get("/", response_class=HTMLResponse, response_model=None)
def campaigns_page(ui: PageUi) -> Response:
    rows = []
    for c in uc.list_campaigns(ui.store, ui.who):
        t = _totals(ui.engine, c.id)
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
    layout(fig, "ROI vs target", yaxis_title="GMV ÷ spend")
    return ui.page("campaigns.html", rows=rows, fig=fig_json(fig))


# the campaign form: one form for create and edit ---------------------------------------------------
@dataclass
class CampaignForm:
    """The form's fields as typed (strings), shown back as they were when something is wrong."""

    name: str = ""
    target_roi: str = "3.00"
    budget_cny: str = "200.00"
    product_ids: list[str] = field(default_factory=list)
    merchant_id: str | None = None

    @classmethod
    def of(cls, c: Campaign) -> CampaignForm:
        budget = format_amount(int(c.daily_budget_micros)).replace(",", "")
        return cls(c.name, str(c.target_roi), budget, list(c.product_ids), c.merchant_id)

    def fields(self) -> dict[str, Any]:
        """The API's fields; a ``ValueError`` with a message for the first one that is not a number."""
        try:
            roi = Decimal(self.target_roi.strip())
        except InvalidOperation:
            raise ValueError("Target ROI must be a number, e.g. 3.00.") from None
        try:
            budget = int(parse_amount(self.budget_cny.strip()))
        except (DomainError, ValueError, InvalidOperation):
            raise ValueError("Daily budget must be an amount in CNY, e.g. 200.00.") from None
        return {
            "name": self.name.strip(),
            "target_roi": roi,
            "daily_budget_micros": budget,
            "product_ids": self.product_ids,
        }


def posted_form(
    name: str = Form(""),
    target_roi: str = Form(""),
    budget_cny: str = Form(""),
    merchant_id: str = Form(""),
    product_ids: list[str] = Form(default_factory=list),
) -> CampaignForm:
    return CampaignForm(name, target_roi, budget_cny, product_ids, merchant_id or None)


PostedFormDep = Annotated[CampaignForm, Depends(posted_form)]


def _form_page(
    ui: Ui, form: CampaignForm, campaign: Campaign | None, error: str | None = None
) -> HTMLResponse:
    mid = campaign.merchant_id if campaign is not None else (form.merchant_id or ui.who.merchant_id)
    products = [
        {"p": p, "owner": owner, "eligible": is_eligible(ui.engine, p.id)}
        for p, owner in visible_products(ui.store, ui.who, mid)[:FORM_PRODUCTS]
    ]
    return ui.page(
        "campaign_form.html",
        status=200 if error is None else 422,
        campaign=campaign,
        values=asdict(form),
        error=error,
        merchants=[m.id for m in ui.accounts.list_merchants()] if ui.who.is_operator else [],
        products=products,
    )


def _save(ui: Ui, form: CampaignForm, campaign: Campaign | None) -> Response:
    """Create (``campaign`` None) or change the campaign, then show it; the form again with the reason if not."""
    try:
        fields = form.fields()
        if campaign is None:
            body = CampaignIn(merchant_id=form.merchant_id, **fields)
            c = uc.create_campaign(ui.engine, ui.store, ui.accounts, ui.who, body)
        else:
            c = uc.update_campaign(ui.engine, ui.store, ui.who, campaign.id, CampaignPatch(**fields))
        return redirect(f"/ui/campaigns/{c.id}")
    except PydanticError as exc:
        err = pyd_message(exc)
    except (DomainError, ValueError) as exc:
        err = str(exc)
    return _form_page(ui, form, campaign, err)


@router.get("/campaigns/new", response_class=HTMLResponse, response_model=None)
def new_campaign_form(ui: PageUi, merchant_id: str | None = None) -> Response:
    return _form_page(ui, CampaignForm(merchant_id=merchant_id), None)


@router.post("/campaigns/new", response_class=HTMLResponse, response_model=None)
def create_campaign_form(ui: FormUi, form: PostedFormDep) -> Response:
    return _save(ui, form, None)


@router.get("/campaigns/{campaign_id}", response_class=HTMLResponse, response_model=None)
def campaign_page(ui: PageUi, campaign_id: str) -> Response:
    engine, store = ui.engine, ui.store
    c = visible_campaign(store, ui.who, campaign_id)
    days = campaign_days(engine, c.id)
    x = [d.day for d in days]
    money = go.Figure()
    for k, label in (
        ("spend_micros", "spend"),
        ("gmv_micros", "GMV"),
        ("compensation_micros", "compensation"),
    ):
        money.add_bar(name=label, x=x, y=[float(getattr(d, k)) / 1e6 for d in days])
    layout(money, "Daily spend, GMV and compensation (CNY)", barmode="group", xaxis_type="category")
    roi = go.Figure()
    roi.add_scatter(name="delivered ROI", x=x, y=[d.roi for d in days], mode="lines+markers")
    roi.add_scatter(
        name="target", x=x, y=[float(c.target_roi)] * len(x), mode="lines+markers", line={"dash": "dash"}
    )
    layout(roi, "Daily ROI vs target", xaxis_type="category")
    traffic = go.Figure()
    traffic.add_bar(name="impressions", x=x, y=[d.impressions for d in days])
    traffic.add_bar(name="clicks", x=x, y=[d.clicks for d in days])
    traffic.add_bar(name="orders", x=x, y=[d.orders for d in days])
    layout(
        traffic, "Daily impressions, clicks, orders", barmode="group", xaxis_type="category", yaxis_type="log"
    )
    losses = losses_out(reports.auction_losses(store, ui.accounts, ui.who, c.id, None, 20))
    lost = go.Figure()
    lost.add_bar(x=[r.reason for r in losses.by_reason], y=[r.count for r in losses.by_reason])
    layout(lost, "Lost auctions by reason")
    return ui.page(
        "campaign.html",
        c=campaign_out(c),
        days=days,
        total=_totals(engine, c.id),
        statements=reports.campaign_statements(store, c),
        losses=losses,
        figs={
            "money": fig_json(money),
            "roi": fig_json(roi),
            "traffic": fig_json(traffic),
            "lost": fig_json(lost),
        },
    )


@router.get("/campaigns/{campaign_id}/edit", response_class=HTMLResponse, response_model=None)
def edit_campaign_form(ui: PageUi, campaign_id: str) -> Response:
    c = visible_campaign(ui.store, ui.who, campaign_id)
    return _form_page(ui, CampaignForm.of(c), c)


@router.post("/campaigns/{campaign_id}/edit", response_class=HTMLResponse, response_model=None)
def edit_campaign(ui: FormUi, campaign_id: str, form: PostedFormDep) -> Response:
    c = visible_campaign(ui.store, ui.who, campaign_id)
    form.merchant_id = c.merchant_id
    return _save(ui, form, c)


@router.post("/campaigns/{campaign_id}/status", response_model=None)
def set_status(ui: FormUi, campaign_id: str, status: str = Form("")) -> Response:
    if status not in ("active", "paused"):
        return ui.error(422, "status must be active or paused")
    uc.set_status(ui.engine, ui.store, ui.who, campaign_id, CampaignStatus(status))
    return redirect(f"/ui/campaigns/{campaign_id}")


__all__ = ["router"]
