"""Reports over what settlement booked: a campaign's days as last settled, and the statement of the numbers
settlement used (figures, terms versions, guarantee windows, ledger legs). Typed results; the API serialises
them as they are (field names are the JSON keys)."""

from __future__ import annotations

from sitewide.domain.guarantee import GuaranteeContract
from sitewide.domain.reports import (
    CampaignDay,
    CampaignReport,
    CampaignStatement,
    StatementDay,
    StatementLeg,
    StatementTerms,
    StatementWindow,
    campaign_total,
    roi_of,
)
from sitewide.domain.time import day_index
from sitewide.domain.types import Campaign, NotFound
from sitewide.ports import LedgerQuery, ReportQuery, Store

ALL_DAYS = ("0000-01-01", "9999-12-31")


class Reports:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _campaign(self, campaign_id: str) -> Campaign:
        camp = self.store.get_campaign(campaign_id)
        if camp is None:
            raise NotFound(f"campaign {campaign_id} not found")
        return camp

    def campaign_report(self, campaign_id: str) -> CampaignReport:
        """Per settled day: impressions (the impression events), clicks, orders, spend, GMV (net), ROI and the
        compensation credited for the guarantee windows ending that day — as last settled, summed by the store
        (``Store.report``: the same rows as every other report)."""
        camp = self._campaign(campaign_id)
        figs = {d: f for (_, d), f in self.store.day_figures(*ALL_DAYS, campaign_id).items()}
        rows = [
            CampaignDay(
                t.impressions,
                t.clicks,
                f.invalid_clicks if (f := figs.get(t.key)) else 0,
                t.orders,
                t.spend_micros,
                t.gmv_micros,
                t.compensation_micros,
                roi=roi_of(t.gmv_micros, t.spend_micros),
                day=t.key,
            )
            for t in self.store.report(ReportQuery((campaign_id,), "day", *ALL_DAYS)).rows
        ]
        total = campaign_total(rows)
        return CampaignReport(campaign_id, str(camp.target_roi), int(camp.daily_budget_micros), rows, total)

    def statement(
        self, campaign_id: str, contract: GuaranteeContract, period: str | None = None
    ) -> CampaignStatement:
        """The numbers settlement used for one campaign: per-day figures (clicks, invalid clicks by rule,
        billable clicks, spend vs budget, orders, gross GMV, refunds), each guarantee window's judgement with
        the contract it used, and the ledger legs booked for the campaign. ``period``: one day, or all;
        ``contract``: the one in force now."""
        camp = self._campaign(campaign_id)
        lo, hi = (period, period) if period else ALL_DAYS
        if period:
            day_index(period)  # ValidationError on a malformed day
        figs = self.store.day_figures(lo, hi, campaign_id)
        evals = self.store.guarantee_evaluations(ALL_DAYS[0], hi, campaign_id).values()
        evals_in = [
            g
            for g in evals
            if period is None or day_index(g.first_day) <= day_index(period) < day_index(g.first_day) + g.days
        ]
        windows = {g.window for g in evals_in}
        legs = [
            StatementLeg.of(ln)
            for ln in self.store.ledger_entries(LedgerQuery(campaign_id=campaign_id))
            if period is None or (ln.entry.window in windows if ln.entry.window else ln.entry.day == period)
        ]
        days = [
            StatementDay(
                f.day,
                f.budget_micros,
                f.clicks,
                f.invalid_clicks,
                dict(f.invalid_by_rule),
                f.billable_clicks,
                f.raw_spend_micros,
                f.spend_micros,
                f.orders,
                f.gross_gmv_micros,
                f.refunded_micros,
                f.gmv_micros,
                str(f.target_roi),
                list(f.terms_versions),
            )  # fmt: skip
            for _, f in sorted(figs.items())
        ]
        terms = [
            StatementTerms(
                t.version,
                t.effective_ms,
                str(t.target_roi),
                t.daily_budget_micros,
                t.status.value,
                list(t.product_ids),
            )  # fmt: skip
            for t in self.store.campaign_terms([campaign_id]).get(campaign_id, [])
        ]
        wins = [
            StatementWindow(
                g.window,
                g.first_day,
                g.days,
                g.contract_version,
                g.contract,
                str(g.target_roi),
                g.spend_micros,
                g.gmv_micros,
                g.orders,
                g.roi,
                g.triggered,
                g.due_micros,
                g.reason,
            )  # fmt: skip
            for g in sorted(evals_in, key=lambda g: g.first_day)
        ]
        return CampaignStatement(
            campaign_id, camp.merchant_id, period, contract.to_dict(), days, terms, wins, legs
        )
