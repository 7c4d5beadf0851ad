"""Reports for merchants: per day, campaign or product, with the field's rate names.

Every grouping sums the same rows — the latest settled figures of each campaign-day (impressions = the
impression events, billing follows events; billable spend under the day's budget; orders and GMV attributed
and net of refunds), split by product for product groups — so the three agree on every total. Compensation is
what the ledger credited for the guarantee windows ending in the range (per campaign: product rows carry 0).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from sitewide.api.reports import ReportRow
from sitewide.domain.ledger import LedgerLine, merchant_accounts
from sitewide.domain.reports import CampaignDay, StatementLeg, roi_of
from sitewide.domain.types import Campaign
from sitewide.engine import Engine
from sitewide.ports import ReportQuery, ReportTotals, Store

GroupBy = Literal["day", "campaign", "product"]


def _row(t: ReportTotals) -> ReportRow:
    s, g = t.spend_micros, t.gmv_micros
    return ReportRow.model_validate(
        {
            "key": t.key,
            "impressions": t.impressions,
            "clicks": t.clicks,
            "orders": t.orders,
            "spend_micros": s,
            "gmv_micros": g,
            "compensation_micros": t.compensation_micros,
            "ctr": t.clicks / t.impressions if t.impressions else None,
            "cvr": t.orders / t.clicks if t.clicks else None,
            "cpc_micros": s // t.clicks if t.clicks else None,
            "roi": roi_of(g, s),
            "acos": s / g if g else None,
        }
    )


def campaign_days(engine: Engine, campaign_id: str) -> list[CampaignDay]:
    return engine.campaign_report(campaign_id).days


def report(
    store: Store,
    campaigns: list[Campaign],
    group_by: GroupBy,
    start: str | None,
    end: str | None,
    offset: int = 0,
    limit: int | None = None,
) -> tuple[list[ReportRow], ReportRow, int]:
    """The page of groups, the total over every group, and how many groups there are — summed, ordered and
    paged by the store (``Store.report``) over the caller's campaigns only."""
    ids = tuple(c.id for c in campaigns)
    got = store.report(ReportQuery(ids, group_by, start or "0000-01-01", end or "9999-12-31", offset, limit))
    return [_row(t) for t in got.rows], _row(got.total), got.total_rows


@dataclass(slots=True)
class MerchantStatement:
    """One period of one merchant: cash charged, ad credit got back as compensation, and the legs."""

    merchant_id: str
    period: str
    charged_micros: int = 0
    compensation_micros: int = 0
    transactions: list[str] = field(default_factory=list)
    entries: list[StatementLeg] = field(default_factory=list)

    @property
    def net_micros(self) -> int:
        return self.charged_micros - self.compensation_micros


def merchant_statements(merchant_id: str, lines: Iterable[LedgerLine]) -> list[MerchantStatement]:
    """Per day the money is for (a charge's click day, a compensation's window end; a leg without a day: its
    transaction's period): what the merchant was charged (cash debited), got back as compensation (ad
    credit), and every leg on its accounts, newest first. ``lines``: the store's ``ledger_entries`` of the
    merchant."""
    cash, credit = merchant_accounts(merchant_id)
    periods: dict[str, MerchantStatement] = {}
    for line in lines:
        e = line.entry
        if e.merchant_id != merchant_id or e.account not in (cash, credit):
            continue
        key = e.day or line.period
        p = periods.setdefault(key, MerchantStatement(merchant_id, key))
        if e.txn_id not in p.transactions:
            p.transactions.append(e.txn_id)
        amt = int(e.amount_micros)
        if e.account == cash:
            p.charged_micros -= amt
        else:
            p.compensation_micros += amt
        p.entries.append(StatementLeg.of(line))
    return [periods[k] for k in sorted(periods, reverse=True)]
