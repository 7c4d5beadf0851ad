"""Dashboard: the campaign list (ROI against target, sorted and paged over a date range), its bulk pause,
resume and edit, and its CSV export. One campaign's page and the create/edit form are in ``campaigns_ui``."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

import plotly.graph_objects as go
from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, Response

from sitewide.api.schemas import CampaignPatch
from sitewide.domain.money import format_amount
from sitewide.domain.reports import CampaignTotals
from sitewide.domain.types import Campaign, CampaignStatus, DomainError
from sitewide.service.routes.campaigns_ui import (
    campaign_alerts,
    day_param,
    parse_budget,
    parse_target_roi,
    range_totals,
)
from sitewide.service.routes.ui import FormUi, PageUi, Ui, fig_json, layout, paged, redirect
from sitewide.service.scope import visible_campaign
from sitewide.service.usecases import campaigns as uc

router = APIRouter(prefix="/ui", include_in_schema=False)


@dataclass(frozen=True)
class CampaignRow:
    c: Campaign
    t: CampaignTotals
    roi: float | None
    met: bool | None


def _rows(ui: Ui, start: str | None, end: str | None) -> list[CampaignRow]:
    rows = []
    for c in uc.list_campaigns(ui.store, ui.who):
        t = range_totals(ui.engine, c.id, start, end)
        roi = t.roi
        rows.append(CampaignRow(c, t, roi, None if roi is None else roi >= float(c.target_roi)))
    return rows


LIST_PAGE = 50  # campaigns a page
# the campaign list's orders: each a key over a row (ties: newest first, then id)
LIST_SORTS: dict[str, Callable[[CampaignRow], Any]] = {
    "created": lambda r: r.c.created_ms,
    "name": lambda r: r.c.name.lower(),
    "status": lambda r: r.c.status.value,
    "target": lambda r: r.c.target_roi,
    "roi": lambda r: -1.0 if r.roi is None else r.roi,
    "budget": lambda r: r.c.daily_budget_micros,
    "spend": lambda r: r.t.spend_micros,
    "gmv": lambda r: r.t.gmv_micros,
    "orders": lambda r: r.t.orders,
}


@dataclass(frozen=True)
class ListView:
    """How the list is shown: the date range, the order and the page (as the query string gives them)."""

    start: str | None = None
    end: str | None = None
    sort: str = "created"
    desc: bool = True
    page: int = 1

    @classmethod
    def of(cls, start: str | None, end: str | None, sort: str, order: str, page: int) -> ListView:
        return cls(day_param(start), day_param(end), sort if sort in LIST_SORTS else "created",
                   order != "asc", page)  # fmt: skip

    def query(self, **change: Any) -> str:
        """This view's query string with ``change`` applied (for the sort links and the pager)."""
        v = replace(self, **change)
        q = {"start": v.start or "", "end": v.end or "", "sort": v.sort, "order": "desc" if v.desc else "asc"}
        return urlencode({**q, "page": v.page})


def _ordered(rows: list[CampaignRow], view: ListView) -> list[CampaignRow]:
    rows = sorted(rows, key=lambda r: (-r.c.created_ms, r.c.id))
    return sorted(rows, key=LIST_SORTS[view.sort], reverse=view.desc)


@router.get("/", response_class=HTMLResponse, response_model=None)
def campaigns_page(
    ui: PageUi,
    start: str | None = None,
    end: str | None = None,
    sort: str = "created",
    order: str = "desc",
    page: int = 1,
) -> Response:
    return _list_page(ui, ListView.of(start, end, sort, order, page))


def _list_page(ui: Ui, view: ListView, error: str | None = None) -> HTMLResponse:
    """The campaign list: alerts, the ROI chart and the table of this page (sorted), with bulk actions."""
    all_rows = _rows(ui, view.start, view.end)
    pg = paged(_ordered(all_rows, view), view.page, LIST_PAGE)
    rows: list[CampaignRow] = pg.rows
    t = ui.t
    fig = go.Figure()
    if rows:
        names = [r.c.name for r in rows]
        fig.add_bar(
            name=t("delivered ROI"),
            x=names,
            y=[r.roi or 0 for r in rows],
            marker_color=["#2e7d32" if r.met else ("#c62828" if r.met is False else "#9e9e9e") for r in rows],
        )
        fig.add_scatter(
            name=t("target ROI"),
            x=names,
            y=[float(r.c.target_roi) for r in rows],
            mode="markers",
            marker={"symbol": "line-ew-open", "size": 28, "color": "#000", "line": {"width": 3}},
        )
    layout(fig, t("ROI vs target"), x=t("Campaign"), y=t("ROI (GMV ÷ spend)"), empty=t("No campaigns yet."))
    alerts = [a for r in all_rows for a in campaign_alerts(ui, r.c, r.t)]
    return ui.page(
        "campaigns.html",
        status=200 if error is None else 422,
        pg=pg,
        view=view,
        fig=fig_json(fig),
        alerts=alerts,
        error=error,
        merchant_names=ui.merchant_names(),
    )


@router.post("/campaigns/bulk", response_class=HTMLResponse, response_model=None)
def bulk_change(
    ui: FormUi,
    action: str = Form(""),
    ids: list[str] = Form(default_factory=list),
    daily_budget: str = Form(""),
    target_roi: str = Form(""),
) -> Response:
    """Pause, resume or edit (daily budget and/or target ROI) the ticked campaigns. Every campaign and value
    is checked before anything changes: another merchant's campaign is 404, a bad value 422, and then none
    of them changed."""
    t = ui.t
    camps = [visible_campaign(ui.store, ui.who, cid) for cid in dict.fromkeys(ids)]
    try:
        if not camps:
            raise ValueError(t("Tick at least one campaign."))
        if action in ("pause", "resume"):
            status = CampaignStatus.PAUSED if action == "pause" else CampaignStatus.ACTIVE
            for c in camps:
                uc.set_status(ui.engine, ui.store, ui.who, c.id, status)
            return redirect(f"/ui/?done=bulk_{'paused' if action == 'pause' else 'resumed'}")
        if action != "edit":
            raise ValueError(t("Choose what to do with the ticked campaigns."))
        fields: dict[str, Any] = {}
        if target_roi.strip():
            fields["target_roi"] = parse_target_roi(t, target_roi)
        if daily_budget.strip():
            fields["daily_budget_micros"] = parse_budget(t, ui.currency, daily_budget)
        if not fields:
            raise ValueError(t("Give a new daily budget, a new target ROI, or both."))
        for c in camps:
            uc.update_campaign(ui.engine, ui.store, ui.who, c.id, CampaignPatch(**fields))
        return redirect("/ui/?done=bulk_saved")
    except (DomainError, ValueError) as exc:
        return _list_page(ui, ListView(), str(exc))


@router.get("/campaigns.csv", response_model=None)
def campaigns_csv(ui: PageUi, start: str | None = None, end: str | None = None) -> Response:
    """The campaign table as CSV (amounts in the deployment's currency, two decimals; ROI as a ratio)."""
    start, end = day_param(start), day_param(end)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        ["campaign_id", "name", "merchant_id", "status", "target_roi", "roi", "daily_budget", "impressions",
         "clicks", "orders", "spend", "gmv", "compensation", "currency", "from", "to"]
    )  # fmt: skip
    for r in _rows(ui, start, end):
        c, t = r.c, r.t
        w.writerow(
            [c.id, c.name, c.merchant_id, c.status.value, c.target_roi,
             "" if r.roi is None else f"{r.roi:.4f}", _plain(c.daily_budget_micros), t.impressions,
             t.clicks, t.orders, _plain(t.spend_micros), _plain(t.gmv_micros),
             _plain(t.compensation_micros), ui.currency, start or "", end or ""]
        )  # fmt: skip
    name = f"campaigns-{start or 'all'}-{end or 'all'}.csv"
    return Response(
        buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _plain(micros: int) -> str:
    return format_amount(int(micros)).replace(",", "")


# the campaign form: one form for create and edit ---------------------------------------------------
