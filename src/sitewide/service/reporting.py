"""Reports for merchants: per day, campaign or product, with the field's rate names.

Day and campaign groups add up the engine's settled figures (``Engine.campaign_report``: billable spend under
the daily budget, attributed GMV net of refunds, compensation booked in the ledger). Product groups are
computed from the events of the campaigns' products: impressions and clicks as logged, spend = the clicks'
prices before the daily budget cap, orders and GMV attributed last-touch with the engine's window;
compensation is settled per campaign, so product rows carry 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Literal

from sitewide.domain.attribution import attribute_orders
from sitewide.domain.ledger import LedgerLine, merchant_accounts
from sitewide.domain.time import day_bounds, day_index, day_str
from sitewide.domain.types import Campaign, EventKind
from sitewide.engine import Engine
from sitewide.engine.reports import CampaignDay
from sitewide.ports import Store

GroupBy = Literal["day", "campaign", "product"]
FAR_FUTURE_MS = 10**14


@dataclass
class Acc:
    key: str
    impressions: int = 0
    clicks: int = 0
    orders: int = 0
    spend_micros: int = 0
    gmv_micros: int = 0
    compensation_micros: int = 0

    def add(self, other: Acc) -> None:
        self.impressions += other.impressions
        self.clicks += other.clicks
        self.orders += other.orders
        self.spend_micros += other.spend_micros
        self.gmv_micros += other.gmv_micros
        self.compensation_micros += other.compensation_micros

    def row(self) -> dict[str, object]:
        s, g = self.spend_micros, self.gmv_micros
        return {
            "key": self.key,
            "impressions": self.impressions,
            "clicks": self.clicks,
            "orders": self.orders,
            "spend_micros": s,
            "gmv_micros": g,
            "compensation_micros": self.compensation_micros,
            "ctr": self.clicks / self.impressions if self.impressions else None,
            "cvr": self.orders / self.clicks if self.clicks else None,
            "cpc_micros": s // self.clicks if self.clicks else None,
            "roi": g / s if s else None,
            "acos": s / g if g else None,
        }


def campaign_days(engine: Engine, campaign_id: str) -> list[CampaignDay]:
    return engine.campaign_report(campaign_id).days


def settled_groups(
    store: Store,
    campaigns: Iterable[Campaign],
    group_by: Literal["day", "campaign"],
    start: str | None,
    end: str | None,
) -> dict[str, Acc]:
    """Settled figures and served impressions summed by the store (``Store.settled_totals``) over the
    caller's campaigns; compensation of the guarantee windows ending in the range, by window end day."""
    ids = [c.id for c in campaigns]
    lo, hi = start or "0000-01-01", end or "9999-12-31"
    out = {
        t.key: Acc(t.key, t.impressions, t.clicks, t.orders, t.spend_micros, t.gmv_micros)
        for t in store.settled_totals(ids, group_by, lo, hi)
    }
    for cid in ids:
        for g in store.guarantee_evaluations("0000-01-01", hi, cid).values():
            last = day_str(day_index(g.first_day) + g.days - 1)
            if g.due_micros and lo <= last <= hi:
                key = last if group_by == "day" else cid
                out.setdefault(key, Acc(key)).compensation_micros += g.due_micros
    return out


def product_groups(
    engine: Engine, store: Store, campaigns: Iterable[Campaign], start: str | None, end: str | None
) -> dict[str, Acc]:
    """Impressions, clicks and spend summed by the store (SQL GROUP BY over the campaigns' own events);
    orders and GMV attributed last-touch over the campaigns' own clicks and the orders of their products.
    Only the caller's rows are read: another merchant's volume costs it nothing."""
    camps = list(campaigns)
    ids = [c.id for c in camps]
    if not ids:
        return {}
    lo = day_bounds(start)[0] if start else 0
    hi = day_bounds(end)[1] if end else FAR_FUTURE_MS
    w = engine.config.attribution_window_ms
    out: dict[str, Acc] = {}
    for t in store.event_totals(ids, lo, hi):
        a = out.setdefault(t.product_id, Acc(t.product_id))
        if t.kind == EventKind.IMPRESSION.value:
            a.impressions += t.count
        elif t.kind == EventKind.CLICK.value:
            a.clicks += t.count
            a.spend_micros += t.price_micros
    clicks = store.events_between(max(0, lo - w), hi, [EventKind.CLICK.value], campaign_ids=ids)
    products = sorted({p for c in camps for p in c.product_ids} | {e.product_id for e in clicks})
    orders = store.events_between(lo, hi, [EventKind.ORDER.value], product_ids=products)
    product_of = {o.id: o.product_id for o in orders}
    camp_set = set(ids)
    for att in attribute_orders(clicks, orders, w):
        if att.campaign_id in camp_set:
            pid = product_of[att.order_id]
            a = out.setdefault(pid, Acc(pid))
            a.orders += 1
            a.gmv_micros += att.order_value_micros
    return out


def report(
    engine: Engine,
    store: Store,
    campaigns: list[Campaign],
    group_by: GroupBy,
    start: str | None,
    end: str | None,
) -> tuple[list[dict[str, object]], dict[str, object]]:
    if group_by == "product":
        groups = product_groups(engine, store, campaigns, start, end)
    else:
        groups = settled_groups(store, campaigns, group_by, start, end)
    total = Acc("total")
    for g in groups.values():
        total.add(g)
    return [groups[k].row() for k in sorted(groups)], total.row()


@dataclass(frozen=True, slots=True)
class StatementEntry:
    account: str
    amount_micros: int
    memo: str
    campaign_id: str | None
    day: str | None
    window: str | None
    txn_id: str
    booked_in: str  # the period of the transaction that booked it


@dataclass(slots=True)
class MerchantStatement:
    """One period of one merchant: cash charged, ad credit got back as compensation, and the legs."""

    merchant_id: str
    period: str
    charged_micros: int = 0
    compensation_micros: int = 0
    transactions: list[str] = field(default_factory=list)
    entries: list[StatementEntry] = field(default_factory=list)

    @property
    def net_micros(self) -> int:
        return self.charged_micros - self.compensation_micros

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "net_micros": self.net_micros}


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
        p.entries.append(
            StatementEntry(e.account, amt, e.memo, e.campaign_id, e.day, e.window, e.txn_id, line.period)
        )
    return [periods[k] for k in sorted(periods, reverse=True)]
