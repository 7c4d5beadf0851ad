"""What the reports return, as typed records: a campaign's settled days and their total, and the statement of
the numbers settlement used (per-day figures, terms versions, guarantee windows, ledger legs). Pure data: the
engine fills them (``sitewide.engine.reports``), the API serves them as they are (``sitewide.api.reports``:
field names are the JSON keys) and the typed client reads them back."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sitewide.domain.ledger import LedgerLine


@dataclass(frozen=True, slots=True)
class CampaignTotals:
    """A campaign's settled figures over some days; ``roi`` (GMV ÷ spend) is ``None`` without spend."""

    impressions: int
    clicks: int
    invalid_clicks: int
    orders: int
    spend_micros: int
    gmv_micros: int
    compensation_micros: int
    roi: float | None


def roi_of(gmv_micros: int, spend_micros: int) -> float | None:
    """GMV ÷ spend; ``None`` without spend."""
    return gmv_micros / spend_micros if spend_micros else None


def campaign_total(days: Iterable[CampaignTotals]) -> CampaignTotals:
    """The campaign's figures summed over ``days`` (its report's total, or a date range of its days)."""
    rows = list(days)
    spend = sum(r.spend_micros for r in rows)
    gmv = sum(r.gmv_micros for r in rows)
    return CampaignTotals(
        impressions=sum(r.impressions for r in rows),
        clicks=sum(r.clicks for r in rows),
        invalid_clicks=sum(r.invalid_clicks for r in rows),
        orders=sum(r.orders for r in rows),
        spend_micros=spend,
        gmv_micros=gmv,
        compensation_micros=sum(r.compensation_micros for r in rows),
        roi=roi_of(gmv, spend),
    )


@dataclass(frozen=True, slots=True)
class CampaignDay(CampaignTotals):
    """One day of a campaign as last settled (``compensation_micros``: the windows ending that day)."""

    day: str


@dataclass(frozen=True, slots=True)
class CampaignReport:
    campaign_id: str
    target_roi: str  # decimal, as text
    daily_budget_micros: int
    days: list[CampaignDay]
    total: CampaignTotals


@dataclass(frozen=True, slots=True)
class StatementDay:
    day: str
    budget_micros: int
    clicks: int
    invalid_clicks: int
    invalid_by_rule: dict[str, int]
    billable_clicks: int
    raw_spend_micros: int
    spend_micros: int
    orders: int
    gross_gmv_micros: int
    refunded_micros: int
    gmv_micros: int
    target_roi: str
    terms_versions: list[int]


@dataclass(frozen=True, slots=True)
class StatementTerms:
    version: int
    effective_ms: int
    target_roi: str
    daily_budget_micros: int
    status: str
    product_ids: list[str]


@dataclass(frozen=True, slots=True)
class StatementWindow:
    window: str
    first_day: str
    days: int
    contract_version: int
    contract: str  # the contract document judged by, JSON
    target_roi: str
    spend_micros: int
    gmv_micros: int
    orders: int
    roi: float | None
    triggered: bool
    compensation_micros: int
    reason: str


@dataclass(frozen=True, slots=True)
class StatementLeg:
    """One ledger leg as a statement shows it (a campaign's statement and a merchant's): ``day`` is the UTC day
    the money is for, ``window`` the guarantee window (compensation), ``booked_in`` the settlement period whose
    run booked the leg."""

    account: str
    amount_micros: int
    memo: str
    campaign_id: str | None
    day: str | None
    window: str | None
    txn_id: str
    booked_in: str

    @classmethod
    def of(cls, line: LedgerLine) -> StatementLeg:
        e = line.entry
        return cls(e.account, int(e.amount_micros), e.memo, e.campaign_id, e.day, e.window, e.txn_id, line.period)


@dataclass(frozen=True, slots=True)
class CampaignStatement:
    campaign_id: str
    merchant_id: str
    period: str | None
    contract: dict[str, Any]  # the contract in force now (GuaranteeContract.to_dict)
    days: list[StatementDay]
    terms: list[StatementTerms]
    guarantee_windows: list[StatementWindow]
    ledger: list[StatementLeg]
