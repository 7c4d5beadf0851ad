"""Dashboard pages for campaigns: one campaign's days, statements and lost
auctions, the create/edit form (one form, one handler) and pause/resume. The list is in ``campaign_list_ui``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import plotly.graph_objects as go
from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError as PydanticError

from sitewide.api.schemas import (
    MAX_DAILY_BUDGET_MICROS,
    MAX_TARGET_ROI,
    MIN_DAILY_BUDGET_MICROS,
    MIN_TARGET_ROI,
    CampaignIn,
    CampaignPatch,
)
from sitewide.domain.money import format_amount, parse_amount
from sitewide.domain.reports import CampaignTotals, campaign_total
from sitewide.domain.types import Campaign, CampaignStatus, DomainError, ValidationError
from sitewide.engine import Engine
from sitewide.i18n import Translator
from sitewide.service import diagnosis
from sitewide.service.diagnosis import Alert
from sitewide.service.present import campaign_out, losses_out
from sitewide.service.reporting import campaign_days
from sitewide.service.routes.ui import FormUi, PageUi, Ui, fig_json, layout, pyd_message, redirect
from sitewide.service.scope import visible_campaign
from sitewide.service.usecases import campaigns as uc
from sitewide.service.usecases import forecast as forecast_uc
from sitewide.service.usecases import reports
from sitewide.service.usecases.catalogue import is_eligible, visible_products

router = APIRouter(prefix="/ui", include_in_schema=False)
FORM_PRODUCTS = 500  # products listed on the form


def _in_range(day: str, start: str | None, end: str | None) -> bool:
    return (not start or day >= start) and (not end or day <= end)


def range_totals(engine: Engine, cid: str, start: str | None, end: str | None) -> CampaignTotals:
    """The campaign's totals over its settled days in ``[start, end]`` (all days when both are empty)."""
    report = engine.campaign_report(cid)
    if not start and not end:
        return report.total
    return campaign_total(d for d in report.days if _in_range(d.day, start, end))


def day_param(v: str | None) -> str | None:
    v = (v or "").strip()
    return v if len(v) == 10 and v[4] == "-" and v[7] == "-" and v.replace("-", "").isdigit() else None


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

    def fields(self, t: Translator, currency: str) -> dict[str, Any]:
        """The API's fields; a ``ValueError`` with a message in the page's language for the first field that
        is wrong (the form's own checks, so that nobody reads pydantic's wording)."""
        name = self.name.strip()
        if not name or len(name) > 200:
            raise ValueError(t("Give the campaign a name (1–200 characters)."))
        roi = parse_target_roi(t, self.target_roi)
        budget = parse_budget(t, currency, self.budget_cny)
        if not self.product_ids:
            raise ValueError(t("Choose at least one product."))
        return {
            "name": name,
            "target_roi": roi,
            "daily_budget_micros": budget,
            "product_ids": self.product_ids,
        }


def parse_target_roi(t: Translator, text: str) -> Decimal:
    """A target ROI as typed, checked (a ``ValueError`` in the page's language if not)."""
    try:
        roi = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(t("Target ROI must be a number, e.g. 3.00.")) from None
    if not (MIN_TARGET_ROI <= roi <= MAX_TARGET_ROI) or roi != roi.quantize(Decimal("0.01")):
        raise ValueError(t("Target ROI must lie between 0.10 and 100, with at most two decimals."))
    return roi


def parse_budget(t: Translator, currency: str, text: str) -> int:
    """A daily budget as typed, in micros, checked (a ``ValueError`` in the page's language if not)."""
    try:
        budget = int(parse_amount(text.strip()))
    except (DomainError, ValueError, InvalidOperation):
        raise ValueError(t("Daily budget must be an amount in {cur}, e.g. 200.00.", cur=currency)) from None
    if not MIN_DAILY_BUDGET_MICROS <= budget <= MAX_DAILY_BUDGET_MICROS:
        raise ValueError(t("Daily budget must lie between 0.01 and 10,000,000 {cur}.", cur=currency))
    return budget


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
        merchants=list(ui.accounts.list_merchants()) if ui.who.is_operator else [],
        products=products,
    )


def _refuse_ineligible(ui: Ui, form: CampaignForm, campaign: Campaign | None) -> None:
    """Products that cannot be promoted are refused when they are added (kept when already in the campaign:
    removing them is the merchant's choice, and the campaign page says they do not serve)."""
    had = set(campaign.product_ids) if campaign is not None else set()
    mine = {p.id for p, _ in visible_products(ui.store, ui.who, form.merchant_id or ui.who.merchant_id)}
    new = [p for p in dict.fromkeys(form.product_ids) if p not in had and p in mine]  # others': the use case
    bad = [p for p in new if not is_eligible(ui.engine, p)]
    if bad:
        raise ValueError(
            ui.t(
                "Not eligible for promotion, so not added: {ids}. Open a product's page to see why.",
                ids=", ".join(bad[:10]),
            )
        )


def _save(ui: Ui, form: CampaignForm, campaign: Campaign | None) -> Response:
    """Create (``campaign`` None) or change the campaign, then show it; the form again with the reason if not."""
    try:
        fields = form.fields(ui.t, ui.currency)
        _refuse_ineligible(ui, form, campaign)
        if campaign is None:
            body = CampaignIn(merchant_id=form.merchant_id, **fields)
            c = uc.create_campaign(ui.engine, ui.store, ui.accounts, ui.who, body)
            return redirect(f"/ui/campaigns/{c.id}?done=created")
        c = uc.update_campaign(ui.engine, ui.store, ui.who, campaign.id, CampaignPatch(**fields))
        return redirect(f"/ui/campaigns/{c.id}?done=saved")
    except PydanticError as exc:  # the form's checks come first; this is a last resort
        err = ui.t("Please check the form: {what}", what=pyd_message(exc))
    except ValidationError as exc:
        err = _domain_message(ui, str(exc))
    except (DomainError, ValueError) as exc:
        err = str(exc)
    return _form_page(ui, form, campaign, err)


def _domain_message(ui: Ui, text: str) -> str:
    if text.startswith("merchant_id:"):
        return ui.t("Choose the merchant the campaign is for.")
    if text.startswith("product_ids:"):
        return ui.t(
            "Some products are unknown or belong to another merchant: {ids}",
            ids=text.rsplit(":", 1)[-1].strip(),
        )
    return text


@router.get("/campaigns/new", response_class=HTMLResponse, response_model=None)
def new_campaign_form(ui: PageUi, merchant_id: str | None = None) -> Response:
    return _form_page(ui, CampaignForm(merchant_id=merchant_id), None)


@router.post("/campaigns/new", response_class=HTMLResponse, response_model=None)
def create_campaign_form(ui: FormUi, form: PostedFormDep) -> Response:
    return _save(ui, form, None)


def campaign_alerts(ui: Ui, c: Campaign, totals: CampaignTotals) -> list[Alert]:
    days = campaign_days(ui.engine, c.id)
    last = days[-1].day if days else None
    budget_lost = sum(n for d, _, r, n in ui.accounts.losses(c.id) if d == last and r == "budget_exhausted")
    bad = [p for p in c.product_ids if not is_eligible(ui.engine, p)]
    changes = ui.accounts.pool_changes(c.product_ids, limit=10 * len(c.product_ids))
    titles = {pid: p.title for pid in {ch.product_id for ch in changes} if (p := ui.store.get_product(pid))}
    news = diagnosis.pool_news(changes, ui.engine.clock.now_ms() - diagnosis.POOL_NEWS_MS, titles)
    return diagnosis.campaign_alerts(ui.t, ui.currency, c, days, totals, bad, budget_lost, news)


def _loss_rows(ui: Ui, by_product: list[tuple[str, str, int]], limit: int = 20) -> list[diagnosis.LossRow]:
    """Lost auctions by product with the title and what the product lacked."""
    out = []
    for pid, reason, n in by_product[:limit]:
        p = ui.store.get_product(pid)
        title = p.title if p is not None else pid
        if reason == "ineligible":
            d = ui.engine.eligibility(pid)
            failed = [r for r in d.reasons if not r.passed]
            short = "; ".join(f"{ui.t.code('rule', r.rule)}: {ui.t.explain(r)}" for r in failed) or ui.t(
                "was not eligible when it lost"
            )
        else:
            short = ui.t.code("shortfall", reason)
        out.append(diagnosis.LossRow(pid, title, reason, n, short))
    return out


@router.get("/campaigns/{campaign_id}", response_class=HTMLResponse, response_model=None)
def campaign_page(ui: PageUi, campaign_id: str, start: str | None = None, end: str | None = None) -> Response:
    """One campaign: its figures, charts and daily table over ``[start, end]`` (every settled day when both
    are empty); what limits delivery, the guarantee statement and lost auctions as of now."""
    engine, store, t = ui.engine, ui.store, ui.t
    c = visible_campaign(store, ui.who, campaign_id)
    start, end = day_param(start), day_param(end)
    days = [d for d in campaign_days(engine, c.id) if _in_range(d.day, start, end)]
    x = [d.day for d in days]
    cur = ui.currency
    no_days = t("No settled days yet.")
    money = go.Figure()
    for k, label in (
        ("spend_micros", t("spend")),
        ("gmv_micros", t("GMV")),
        ("compensation_micros", t("compensation")),
    ):
        money.add_bar(name=label, x=x, y=[float(getattr(d, k)) / 1e6 for d in days])
    layout(money, t("Daily spend, GMV and compensation"), x=t("day"), y=t("amount ({cur})", cur=cur),
           empty=no_days, barmode="group", xaxis_type="category")  # fmt: skip
    roi = go.Figure()
    roi.add_scatter(name=t("delivered ROI"), x=x, y=[d.roi for d in days], mode="lines+markers")
    roi.add_scatter(
        name=t("target ROI"),
        x=x,
        y=[float(c.target_roi)] * len(x),
        mode="lines+markers",
        line={"dash": "dash"},
    )
    layout(roi, t("Daily ROI vs target"), x=t("day"), y=t("ROI (GMV ÷ spend)"), empty=no_days,
           xaxis_type="category")  # fmt: skip
    traffic = go.Figure()
    traffic.add_bar(name=t("impressions"), x=x, y=[d.impressions for d in days])
    traffic.add_bar(name=t("clicks"), x=x, y=[d.clicks for d in days])
    traffic.add_bar(name=t("orders"), x=x, y=[d.orders for d in days])
    layout(traffic, t("Daily impressions, clicks, orders (log scale)"), x=t("day"), y=t("count (log scale)"),
           empty=no_days, barmode="group", xaxis_type="category", yaxis_type="log")  # fmt: skip
    lr = reports.auction_losses(store, ui.accounts, ui.who, c.id, None, 20)
    losses = losses_out(lr)
    lost = go.Figure()
    lost.add_bar(
        x=[t.code("reason", r.reason) for r in losses.by_reason], y=[r.count for r in losses.by_reason]
    )
    layout(
        lost,
        t("Lost auctions by reason"),
        x=t("reason"),
        y=t("auctions lost"),
        empty=t("No lost auctions recorded."),
    )
    total = range_totals(engine, c.id, start, end)
    diag = diagnosis.explain_campaign(t, cur, engine, store, c, ui.accounts.losses(c.id))
    guarantee = diagnosis.guarantee_view(t, cur, engine.statement(c.id), str(c.target_roi))
    titles = {
        pid: (p.title if (p := store.get_product(pid)) else pid) for pid in {s.product_id for s in lr.samples}
    }
    one_each = list({s.request_id: s for s in reversed(lr.samples)}.values())[::-1][:10]  # a row per request
    return ui.page(
        "campaign.html",
        c=campaign_out(c),
        days=days,
        start=start,
        end=end,
        total=total,
        diag=diag,
        guarantee=guarantee,
        losses=losses,
        samples=one_each,
        loss_rows=_loss_rows(ui, lr.by_product),
        titles=titles,
        alerts=campaign_alerts(ui, c, engine.campaign_report(c.id).total),
        incrementality=forecast_uc.incrementality_view(engine, store, ui.who, c.id),
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
        return ui.error(422, ui.t("Status must be active or paused."))
    uc.set_status(ui.engine, ui.store, ui.who, campaign_id, CampaignStatus(status))
    return redirect(f"/ui/campaigns/{campaign_id}?done={'resumed' if status == 'active' else 'paused'}")


__all__ = ["router"]
