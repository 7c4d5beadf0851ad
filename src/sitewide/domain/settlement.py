"""Settlement: incremental and convergent, per campaign-day of the click.

Each run takes the events known now (up to its ``as_of`` time), computes for every *dirty* campaign-day the
figures that should hold — billable clicks under the daily budget, attributed orders, GMV net of refunds —
compares them with the latest figures the ledger was booked from, and books only the difference as one new
balanced transaction. Guarantee windows (see :mod:`sitewide.domain.guarantee`) that are mature are judged the
same way: compensation booked = due now − already booked. So

- settling the same period again books nothing (idempotent);
- a late order, refund, impression or click re-opens the days it can affect, and the next run books the
  correction as a new entry (never an update);
- settling ``[0, T)`` in any grouping of periods ends with the same balances as settling it once.

A campaign-day's figures depend only on events in ``[day − reach − 1 day, day end + reach + 1 day)``, the
clicks orders name, and the refunds of its orders; :func:`sitewide.domain.settlement_plan.dirty_days` turns new events into the days they
can affect. Pure functions: the engine does the I/O.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

from sitewide.domain.attribution import AttributionPolicy, TouchIndex
from sitewide.domain.guarantee import (
    PLATFORM_CONTRACT,
    GuaranteeContract,
    GuaranteeEvaluation,
    WindowTotals,
    incremental_payout_due,
    payout_due,
    window_key,
)
from sitewide.domain.invalid_traffic import IvtPolicy, flag_clicks
from sitewide.domain.ledger import EntryKeys, TransactionBuilder
from sitewide.domain.money import HasRoi
from sitewide.domain.reserve import ReserveMove
from sitewide.domain.terms import CampaignTerms, DayTerms, initial_terms, terms_for_day
from sitewide.domain.time import DAY_MS, day_index, day_str
from sitewide.domain.types import Campaign, Estimate, Event, EventKind, Transaction

Key = tuple[str, int]  # (campaign id, day index)


@dataclass(frozen=True, slots=True)
class SettlementPolicy:
    attribution: AttributionPolicy = field(default_factory=AttributionPolicy)
    ivt: IvtPolicy = field(default_factory=IvtPolicy)
    default_contract: GuaranteeContract = PLATFORM_CONTRACT
    reserve: bool = True  # provision open windows' expected compensation (see domain/reserve.py)

    @property
    def reach_ms(self) -> int:
        return self.attribution.reach_ms


@dataclass(frozen=True, slots=True, kw_only=True)
class Figures:
    """A campaign-day's counts, whole or one product's share: impression events, clicks, charged spend, orders,
    gross GMV and refunds (integer micros)."""

    impressions: int = 0
    clicks: int = 0
    spend_micros: int = 0
    orders: int = 0
    gross_gmv_micros: int = 0
    refunded_micros: int = 0

    @property
    def gmv_micros(self) -> int:
        return self.gross_gmv_micros - self.refunded_micros


@dataclass(frozen=True, slots=True)
class ProductFigures(Figures):
    """One product's share of a campaign-day's figures, split by product (an order counts for the product
    bought), so a report by product sums to the day's."""

    product_id: str


@dataclass(frozen=True, slots=True)
class DayFigures(Figures):
    """What should be booked for one campaign on one UTC day of its clicks (and the numbers used): the day's
    :class:`Figures` (``impressions``: the campaign's impression events of the day, what reports count — billing
    follows events, not what /serve logged; ``spend_micros``: charged) and how they were reached."""

    campaign_id: str
    merchant_id: str
    day: str
    budget_micros: int = 0
    invalid_clicks: int = 0
    invalid_by_rule: tuple[tuple[str, int], ...] = ()
    billable_clicks: int = 0
    raw_spend_micros: int = 0  # valid clicks' prices, before the budget cap
    # the terms of the day (sitewide.domain.terms.terms_for_day): the target the guarantee judges the day by
    # and the campaign's term versions in force during the day (``budget_micros`` is the day's cap)
    target_roi: Decimal = Decimal(0)
    terms_versions: tuple[int, ...] = ()
    products: tuple[ProductFigures, ...] = ()  # the day's figures by product, ordered by product id


# the counters a campaign-day is accumulated in: the Figures, and for the whole day how the spend was reached
_COUNTS = tuple(f.name for f in fields(Figures))
_DAY_COUNTS = (*_COUNTS, "invalid_clicks", "billable_clicks", "raw_spend_micros")


def zero_figures(f: DayFigures) -> DayFigures:
    return DayFigures(
        f.campaign_id,
        f.merchant_id,
        f.day,
        f.budget_micros,
        target_roi=f.target_roi,
        terms_versions=f.terms_versions,
    )


@dataclass(frozen=True, slots=True)
class CampaignSettlement(HasRoi):
    campaign_id: str
    merchant_id: str
    target_roi: Decimal
    clicks: int
    billable_clicks: int
    orders: int
    raw_spend_micros: int  # valid clicks before the budget cap
    spend_micros: int
    gmv_micros: int  # net of refunds
    compensation_micros: int
    invalid_clicks: int = 0


@dataclass(frozen=True, slots=True)
class SettlementReport:
    period: str
    start_ms: int
    end_ms: int
    campaigns: list[CampaignSettlement] = field(default_factory=list)
    transactions: list[Transaction] = field(default_factory=list)
    already_settled: bool = False
    run_seq: int = 0
    as_of_ms: int = 0
    days: list[DayFigures] = field(default_factory=list)
    guarantees: list[GuaranteeEvaluation] = field(default_factory=list)
    reserve: list[ReserveMove] = field(default_factory=list)  # this run's provisions and releases
    provisional: bool = False  # a preview: nothing was booked, the period may not have ended


@dataclass(frozen=True, slots=True)
class SettlementRun:
    """One committed run: ``seq`` is 1, 2, 3, … (a concurrent run with the same seq loses and retries)."""

    seq: int
    period: str
    start_ms: int
    end_ms: int
    as_of_ms: int
    event_watermark: int
    ts_ms: int


def compensation_due(spend: int, gmv: int, target_roi: Decimal) -> int:
    """``spend − GMV ÷ target`` when ROI < target, floored to micros and capped at the spend; else 0."""
    if spend <= 0 or target_roi <= 0:
        return 0
    t = Fraction(target_roi)
    if Fraction(gmv) >= t * spend:
        return 0
    return min(spend, int(spend - Fraction(gmv) / t))


# figures of campaign-days ----------------------------------------------------------------------------
def compute_days(
    days: Container[int],
    events: Sequence[Event],
    campaigns: Mapping[str, Campaign],
    policy: SettlementPolicy,
    named_clicks: Mapping[str, Event] | None = None,
    refunds: Mapping[str, Sequence[Event]] | None = None,
    as_of_ms: int | None = None,
    terms: Mapping[str, Sequence[CampaignTerms]] | None = None,
) -> dict[Key, DayFigures]:
    """Figures for every campaign with activity on ``days``.

    ``events``: every event in :func:`sitewide.domain.settlement_plan.load_range` of ``days`` (duplicates by id are ignored);
    ``named_clicks``: clicks that orders in ``events`` name (any time); ``refunds``: order id → its refunds;
    events at or after ``as_of_ms`` are ignored. ``terms``: each campaign's term versions (the store's
    ``campaign_terms``); a day's budget cap and target are those of :func:`~sitewide.domain.terms.terms_for_day`,
    never the campaign's current ones. A campaign without a history is taken as its version 1.
    """
    cut = as_of_ms if as_of_ms is not None else 1 << 62
    day_terms: dict[Key, DayTerms] = {}

    def terms_of(k: Key) -> DayTerms:
        t = day_terms.get(k)
        if t is None:
            hist = (terms or {}).get(k[0]) or [initial_terms(campaigns[k[0]])]
            t = day_terms[k] = terms_for_day(hist, k[1])
        return t

    clicks: dict[str, Event] = {}
    imps: dict[str, Event] = {}
    orders: dict[str, Event] = {}
    for e in events:
        if e.ts_ms >= cut:
            continue
        if e.kind is EventKind.CLICK:
            clicks[e.id] = e
        elif e.kind is EventKind.IMPRESSION:
            imps[e.id] = e
        elif e.kind is EventKind.ORDER:
            orders[e.id] = e
    flags = flag_clicks(clicks.values(), imps, policy.ivt)

    groups: dict[Key, list[Event]] = {}
    for c in clicks.values():
        d = c.ts_ms // DAY_MS
        if c.campaign_id is not None and d in days and c.campaign_id in campaigns:
            groups.setdefault((c.campaign_id, d), []).append(c)
    acc: dict[Key, dict[str, int]] = {}
    rules: dict[Key, dict[str, int]] = {}
    by_product: dict[Key, dict[str, dict[str, int]]] = {}

    def row(k: Key) -> dict[str, int]:
        r = acc.get(k)
        if r is None:
            r = acc[k] = dict.fromkeys(_DAY_COUNTS, 0)
        return r

    def prow(k: Key, product_id: str) -> dict[str, int]:
        ps = by_product.setdefault(k, {})
        r = ps.get(product_id)
        if r is None:
            r = ps[product_id] = dict.fromkeys(_COUNTS, 0)
        return r

    for i in imps.values():
        d = i.ts_ms // DAY_MS
        if i.campaign_id is not None and d in days and i.campaign_id in campaigns:
            row((i.campaign_id, d))["impressions"] += 1
            prow((i.campaign_id, d), i.product_id)["impressions"] += 1

    for k, cl in groups.items():
        cl.sort(key=lambda e: (e.ts_ms, e.id))
        budget = terms_of(k).daily_budget_micros
        r = row(k)
        for c in cl:  # bill valid clicks in time order while they fit in the day's budget
            r["clicks"] += 1
            pr = prow(k, c.product_id)
            pr["clicks"] += 1
            rule = flags.get(c.id)
            if rule is not None:
                r["invalid_clicks"] += 1
                rr = rules.setdefault(k, {})
                rr[rule.value] = rr.get(rule.value, 0) + 1
                continue
            p = int(c.price_micros)
            r["raw_spend_micros"] += p
            if r["spend_micros"] + p <= budget:
                r["spend_micros"] += p
                r["billable_clicks"] += 1
                pr["spend_micros"] += p

    idx = TouchIndex(clicks.values(), imps.values() if policy.attribution.view_through_ms else ())
    for o in orders.values():
        t = idx.touch(o, policy.attribution, named_clicks)
        if t is None or t.campaign_id is None or t.campaign_id not in campaigns:
            continue
        d = t.ts_ms // DAY_MS
        if d not in days or (t.kind is EventKind.CLICK and t.event_id in flags):
            continue
        value = int(o.order_value_micros)
        back = sum(int(x.order_value_micros) for x in (refunds or {}).get(o.id, ()) if x.ts_ms < cut)
        for r in (row((t.campaign_id, d)), prow((t.campaign_id, d), o.product_id)):
            r["orders"] += 1
            r["gross_gmv_micros"] += value
            r["refunded_micros"] += min(value, back)

    out: dict[Key, DayFigures] = {}
    for k, r in acc.items():
        camp = campaigns[k[0]]
        dt = terms_of(k)
        out[k] = DayFigures(
            k[0],
            camp.merchant_id,
            day_str(k[1]),
            budget_micros=dt.daily_budget_micros,
            invalid_by_rule=tuple(sorted(rules.get(k, {}).items())),
            target_roi=dt.target_roi,
            terms_versions=dt.versions,
            products=tuple(ProductFigures(pid, **p) for pid, p in sorted(by_product.get(k, {}).items())),
            **r,
        )
    return out


# guarantee windows -----------------------------------------------------------------------------------
def window_for(contract: GuaranteeContract, campaign: Campaign, day: int) -> tuple[int, int] | None:
    return contract.window_of(day, max(campaign.created_ms, 0) // DAY_MS)


def window_target(figures: Sequence[DayFigures], fallback: Decimal) -> Decimal:
    """The target a window is judged against when the contract names none: each day counts with the target of
    its own terms, weighted by the day's spend — ``Σ spend_d × target_d ÷ Σ spend``, to 6 decimals — so that a
    window that spans a change asks each day for what was promised that day. A one-day window is judged by its
    day's target exactly. Days without spend do not count; a window without spend uses ``fallback``."""
    spend = sum(f.spend_micros for f in figures if f.target_roi > 0)
    if spend <= 0:
        return next((f.target_roi for f in reversed(figures) if f.target_roi > 0), fallback)
    targets = {f.target_roi for f in figures if f.target_roi > 0 and f.spend_micros}
    if len(targets) == 1:
        return targets.pop()
    need = sum((f.spend_micros * f.target_roi for f in figures if f.target_roi > 0), Decimal(0))
    return (need / spend).quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN).normalize()


def evaluate_window(
    contract: GuaranteeContract,
    campaign: Campaign,
    window: tuple[int, int],
    figures: Iterable[DayFigures],
    incremental_roi: Estimate[float] | None = None,
) -> GuaranteeEvaluation:
    """Judge one window from its days' figures; the target is the contract's own, else
    :func:`window_target` of the days' terms (``campaign.target_roi`` only for a window without spend). A
    contract on incremental ROI is judged on ``incremental_roi``, the window's holdout estimate
    (:func:`~sitewide.domain.guarantee.incremental_payout_due`)."""
    import json

    figs = list(figures)
    totals = WindowTotals.of(figs)
    spend, gmv, orders = totals.spend_micros, totals.gmv_micros, totals.orders
    target = (
        contract.target_roi if contract.target_roi is not None else window_target(figs, campaign.target_roi)
    )
    if contract.basis == "incremental_roi":
        triggered, due, reason = incremental_payout_due(contract, target, spend, orders, incremental_roi)
    else:
        triggered, due, reason = payout_due(contract, target, spend, gmv, orders)
    doc = contract.to_dict()
    doc["campaign_id"] = campaign.id
    return GuaranteeEvaluation(
        campaign_id=campaign.id,
        merchant_id=campaign.merchant_id,
        window=window_key(window),
        first_day=day_str(window[0]),
        days=window[1],
        contract_version=contract.version,
        contract=json.dumps(doc, sort_keys=True),
        target_roi=target,
        spend_micros=spend,
        gmv_micros=gmv,
        orders=orders,
        triggered=triggered,
        due_micros=due,
        reason=reason,
    )


# booking the difference ------------------------------------------------------------------------------
def book_differences(
    txn_id: str,
    period: str,
    ts_ms: int,
    new_days: Mapping[tuple[str, str], DayFigures],
    old_days: Mapping[tuple[str, str], DayFigures],
    new_evals: Sequence[GuaranteeEvaluation],
    old_evals: Mapping[tuple[str, str], GuaranteeEvaluation],
    reserve: Sequence[ReserveMove] = (),
) -> tuple[Transaction | None, list[DayFigures], list[GuaranteeEvaluation]]:
    """One transaction with the charge and compensation differences, and the figures that changed (to be
    stored with it). ``new_days`` must hold every recomputed key; an old key it lacks went to zero."""
    tb = TransactionBuilder(txn_id)
    changed: list[DayFigures] = []
    for k in sorted(set(new_days) | set(old_days)):
        old = old_days.get(k)
        new = new_days.get(k)
        if new is None:
            assert old is not None
            new = zero_figures(old)
        if old == new:
            continue
        changed.append(new)
        delta = new.spend_micros - (old.spend_micros if old else 0)
        if delta:
            what = "charge" if old is None else "charge correction"
            tb.charge(
                delta,
                f"{what} campaign {new.campaign_id} day {new.day}: {new.billable_clicks} billable of "
                f"{new.clicks} clicks ({new.invalid_clicks} invalid), spend {new.spend_micros} "
                f"(budget {new.budget_micros}, terms v{','.join(map(str, new.terms_versions))}, "
                f"booked before {old.spend_micros if old else 0})",
                EntryKeys(new.merchant_id, new.campaign_id, new.day),
            )
    evals: list[GuaranteeEvaluation] = []
    for ev in new_evals:
        prev = old_evals.get((ev.campaign_id, ev.window))
        if prev == ev:
            continue
        evals.append(ev)
        delta = ev.due_micros - (prev.due_micros if prev else 0)
        if delta:
            what = "compensation" if delta > 0 else "compensation reversal"
            tb.compensate(
                delta,
                f"{what} campaign {ev.campaign_id} window {ev.window} (contract v{ev.contract_version}): "
                f"{ev.reason}; due {ev.due_micros}, booked before {prev.due_micros if prev else 0}",
                EntryKeys(
                    ev.merchant_id, ev.campaign_id, day_str(day_index(ev.first_day) + ev.days - 1), ev.window
                ),
            )
    for m in reserve:
        tb.reserve(m.kind, m.amount_micros, m.memo, EntryKeys(m.merchant_id, m.campaign_id, window=m.window))
    return tb.build("settlement", period, ts_ms), changed, evals
