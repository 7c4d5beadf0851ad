"""What merchants read: reports over the caller's campaigns, settlement statements and auction losses (why ads
were not shown)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sitewide.api.reports import ReportRow
from sitewide.domain.accounts import LossSample, Principal
from sitewide.domain.ledger import merchant_accounts
from sitewide.domain.types import Campaign, ValidationError
from sitewide.ports import LedgerQuery, ServiceRecords, Store
from sitewide.service.reporting import GroupBy, MerchantStatement, merchant_statements, report
from sitewide.service.scope import owner_filter, visible_campaign


def check_days(**days: str | None) -> None:
    """Each given day must be a calendar day; a range's start must not be after its end."""
    for name, d in days.items():
        if d is not None:
            try:
                datetime.strptime(d, "%Y-%m-%d")
            except ValueError as exc:
                raise ValidationError(f"{name}: {d} is not a calendar day") from exc


def campaigns_report(
    store: Store,
    who: Principal,
    group_by: GroupBy,
    campaign_id: str | None,
    merchant_id: str | None,
    start_day: str | None,
    end_day: str | None,
    offset: int = 0,
    limit: int | None = None,
) -> tuple[list[ReportRow], ReportRow, int]:
    """A page of rows, the total over all rows and their number, over one visible campaign or the caller's (the
    operator's: a merchant's or all) — paged by the store."""
    check_days(start_day=start_day, end_day=end_day)
    if start_day and end_day and start_day > end_day:
        raise ValidationError("start_day: must not be after end_day")
    if campaign_id is not None:
        camps = [visible_campaign(store, who, campaign_id)]
    else:
        camps = store.list_campaigns(owner_filter(who, merchant_id))
    return report(store, camps, group_by, start_day, end_day, offset, limit)


def statements_merchant(who: Principal, merchant_id: str | None) -> str:
    """Whose statements: the operator must name a merchant; a merchant reads its own."""
    if who.is_operator:
        if merchant_id is None:
            raise ValidationError("merchant_id: required for the operator")
        return merchant_id
    assert who.merchant_id is not None
    return who.merchant_id


def statements(store: Store, merchant_id: str, period: str | None = None) -> list[MerchantStatement]:
    """The merchant's statements, newest period first (``period``: only that one)."""
    rows = merchant_statements(
        merchant_id, store.ledger_entries(LedgerQuery(merchant_id, accounts=merchant_accounts(merchant_id)))
    )
    return [r for r in rows if period is None or r.period == period]


def campaign_statements(store: Store, c: Campaign) -> list[MerchantStatement]:
    """The statements of one campaign's ledger legs."""
    return merchant_statements(c.merchant_id, store.ledger_entries(LedgerQuery(c.merchant_id, c.id)))


@dataclass(frozen=True, slots=True)
class LossReport:
    """Why a campaign's products were not shown: counts by reason, by (product, reason), and sampled requests."""

    campaign_id: str
    by_reason: list[tuple[str, int]]  # most frequent first
    by_product: list[tuple[str, str, int]]  # (product, reason, count), most frequent first
    samples: list[LossSample]


def auction_losses(
    store: Store, accounts: ServiceRecords, who: Principal, campaign_id: str, day: str | None, samples: int
) -> LossReport:
    visible_campaign(store, who, campaign_id)
    by_reason: dict[str, int] = {}
    by_product: dict[tuple[str, str], int] = {}
    for d, pid, reason, n in accounts.losses(campaign_id):
        if day is None or d == day:
            by_reason[reason] = by_reason.get(reason, 0) + n
            by_product[(pid, reason)] = by_product.get((pid, reason), 0) + n
    return LossReport(
        campaign_id,
        sorted(by_reason.items(), key=lambda x: -x[1]),
        [(p, r, n) for (p, r), n in sorted(by_product.items(), key=lambda x: (-x[1], x[0]))],
        accounts.loss_samples(campaign_id, samples),
    )
