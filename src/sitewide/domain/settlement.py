"""Daily settlement: charges for billable clicks, delivered ROI, and compensation when ROI misses the target.

Pure functions from events to a :class:`SettlementReport` and balanced ledger transactions.

Accounts (signed micros, + = money into the account, every transaction sums to zero):
- ``merchant:{id}:cash``       the merchant's cash balance, debited for charges
- ``merchant:{id}:ad_credit``  ad credit granted as compensation
- ``platform:revenue``         ad revenue
- ``platform:compensation``    compensation expense (negative = paid out)

Guarantee (v1, simple rule): a campaign whose delivered ROI for the day is below its target gets
``min(spend, spend − GMV ÷ target)`` back as ad credit. Issue 7 replaces this with versioned contracts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from sitewide.domain.attribution import Attribution
from sitewide.domain.money import Micros
from sitewide.domain.types import Campaign, Event, EventKind, LedgerEntry, Transaction

PLATFORM_REVENUE = "platform:revenue"
PLATFORM_COMPENSATION = "platform:compensation"


def cash_account(merchant_id: str) -> str:
    return f"merchant:{merchant_id}:cash"


def credit_account(merchant_id: str) -> str:
    return f"merchant:{merchant_id}:ad_credit"


@dataclass(frozen=True, slots=True)
class CampaignSettlement:
    campaign_id: str
    merchant_id: str
    target_roi: Decimal
    clicks: int
    billable_clicks: int
    orders: int
    raw_spend_micros: int  # before the budget cap
    spend_micros: int
    gmv_micros: int  # net of refunds
    compensation_micros: int

    @property
    def roi(self) -> float | None:
        return self.gmv_micros / self.spend_micros if self.spend_micros else None


@dataclass(frozen=True, slots=True)
class SettlementReport:
    period: str
    start_ms: int
    end_ms: int
    campaigns: list[CampaignSettlement] = field(default_factory=list)
    transactions: list[Transaction] = field(default_factory=list)
    already_settled: bool = False


def compensation_due(spend: int, gmv: int, target_roi: Decimal) -> int:
    """``spend − GMV ÷ target`` when ROI < target, floored to micros and capped at the spend; else 0."""
    if spend <= 0 or target_roi <= 0:
        return 0
    t = Fraction(target_roi)
    if Fraction(gmv) >= t * spend:
        return 0
    owed = spend - Fraction(gmv) / t
    return min(spend, int(owed))


def settle_period(
    period: str,
    start_ms: int,
    end_ms: int,
    ts_ms: int,
    campaigns: Mapping[str, Campaign],
    clicks: Iterable[Event],
    attributions: Iterable[Attribution],
    refunds: Iterable[Event] = (),
) -> SettlementReport:
    """Settle clicks with ``start_ms ≤ ts < end_ms`` and the orders attributed to them in the same period.

    Charges per campaign are the sum of billable click prices, capped at the daily budget.
    """
    clicks_by: dict[str, list[Event]] = {}
    for c in clicks:
        if c.kind is EventKind.CLICK and c.campaign_id and start_ms <= c.ts_ms < end_ms:
            clicks_by.setdefault(c.campaign_id, []).append(c)
    gmv_by: dict[str, int] = {}
    orders_by: dict[str, int] = {}
    order_campaign: dict[str, str] = {}
    for a in attributions:
        if a.campaign_id and start_ms <= a.ts_ms < end_ms:
            gmv_by[a.campaign_id] = gmv_by.get(a.campaign_id, 0) + a.order_value_micros
            orders_by[a.campaign_id] = orders_by.get(a.campaign_id, 0) + 1
            order_campaign[a.order_id] = a.campaign_id
    for r in refunds:
        cid = order_campaign.get(r.order_id or "")
        if r.kind is EventKind.REFUND and cid and start_ms <= r.ts_ms < end_ms:
            gmv_by[cid] = gmv_by.get(cid, 0) - int(r.order_value_micros)

    rows: list[CampaignSettlement] = []
    legs: list[LedgerEntry] = []
    comp_legs: list[LedgerEntry] = []
    txn_id = f"settlement:{period}"
    comp_id = f"compensation:{period}"
    for cid in sorted(set(clicks_by) | set(gmv_by)):
        camp = campaigns.get(cid)
        if camp is None:
            continue
        cl = sorted(clicks_by.get(cid, []), key=lambda e: (e.ts_ms, e.id))
        budget = int(camp.daily_budget_micros)
        raw = 0
        spend = 0
        billable = 0
        for c in cl:  # bill in time order until the budget is used up
            p = int(c.price_micros)
            raw += p
            if spend + p <= budget:
                spend += p
                billable += 1
        gmv = max(0, gmv_by.get(cid, 0))
        comp = compensation_due(spend, gmv, camp.target_roi)
        rows.append(
            CampaignSettlement(
                campaign_id=cid,
                merchant_id=camp.merchant_id,
                target_roi=camp.target_roi,
                clicks=len(cl),
                billable_clicks=billable,
                orders=orders_by.get(cid, 0),
                raw_spend_micros=raw,
                spend_micros=spend,
                gmv_micros=gmv,
                compensation_micros=comp,
            )
        )
        if spend:
            memo = f"campaign {cid}: {billable} clicks"
            legs.append(LedgerEntry(txn_id, cash_account(camp.merchant_id), Micros(-spend), memo))
            legs.append(LedgerEntry(txn_id, PLATFORM_REVENUE, Micros(spend), memo))
        if comp:
            memo = f"campaign {cid}: ROI {gmv / spend:.3f} < target {camp.target_roi}"
            comp_legs.append(LedgerEntry(comp_id, credit_account(camp.merchant_id), Micros(comp), memo))
            comp_legs.append(LedgerEntry(comp_id, PLATFORM_COMPENSATION, Micros(-comp), memo))
    txns = [Transaction(txn_id, "settlement", period, ts_ms, tuple(legs))]
    if comp_legs:
        txns.append(Transaction(comp_id, "compensation", period, ts_ms, tuple(comp_legs)))
    return SettlementReport(period, start_ms, end_ms, rows, txns)
