"""Planning one settlement run: which guarantee windows to judge, their judgements, the reserve's moves and
the period's report — pure arithmetic over what the engine read from the store (see
:mod:`sitewide.domain.settlement` for the figures per campaign-day and the booking of differences).

Keys: figures by ``(campaign id, "YYYY-MM-DD")``, judgements by ``(campaign id, window key)``; a window is
``(first day index, length in days)``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from sitewide.domain.guarantee import GuaranteeContract, GuaranteeEvaluation, WindowTotals, window_key
from sitewide.domain.reserve import OpenWindow, ReserveMove, plan_reserve
from sitewide.domain.settlement import (
    CampaignSettlement,
    DayFigures,
    SettlementReport,
    SettlementRun,
    evaluate_window,
    window_for,
    window_target,
)
from sitewide.domain.time import DAY_MS, day_index, day_str
from sitewide.domain.types import Campaign, Estimate, EventKind, Transaction

DayKey = tuple[str, str]  # (campaign id, day)
Window = tuple[int, int]  # (first day index, days)
WindowRef = tuple[str, Window]  # (campaign id, window)


# which days a run must recompute ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DaySpans:
    """A set of day indices as merged, inclusive ``(first, last)`` spans (cost follows spans, not days)."""

    spans: tuple[tuple[int, int], ...] = ()

    @classmethod
    def of(cls, spans: Iterable[tuple[int, int]]) -> DaySpans:
        out: list[tuple[int, int]] = []
        for lo, hi in sorted(x for x in spans if x[0] <= x[1]):
            if out and lo <= out[-1][1] + 1:
                out[-1] = (out[-1][0], max(out[-1][1], hi))
            else:
                out.append((lo, hi))
        return cls(tuple(out))

    def __contains__(self, day: object) -> bool:
        if not isinstance(day, int):
            return False
        i = bisect_right(self.spans, (day, 1 << 62)) - 1
        return i >= 0 and self.spans[i][0] <= day <= self.spans[i][1]

    def __bool__(self) -> bool:
        return bool(self.spans)

    def only(self, days: Iterable[int]) -> DaySpans:
        """The days of these spans that are also in ``days``."""
        return DaySpans.of((d, d) for d in set(days) if d in self)

    @property
    def first(self) -> int:
        return self.spans[0][0]

    @property
    def last(self) -> int:
        return self.spans[-1][1]


def dirty_days(
    prev_as_of_ms: int,
    as_of_ms: int,
    touched_ts: Iterable[int],
    period: tuple[int, int],
    reach_ms: int,
) -> DaySpans:
    """Days whose figures may have changed: days that events can affect at the times in ``touched_ts`` (see
    :func:`touched_times`; the caller passes the events new since the last run and the stored ones whose time
    the advance of ``as_of`` lets in: nothing else can change a day before the previous ``as_of``), the days
    that advance opens, and the period's own days; none at or after ``as_of``.

    Only those: advancing ``as_of`` over a stretch without events does not reopen the reach window behind it
    (a day with nothing new costs one day, not the attribution window)."""
    last = (as_of_ms - 1) // DAY_MS
    spans: list[tuple[int, int]] = []

    def span(lo_ms: int, hi_ms: int) -> None:
        spans.append((max(lo_ms, 0) // DAY_MS, min(min(hi_ms, as_of_ms - 1) // DAY_MS, last)))

    for ts in sorted(set(touched_ts)):
        if ts < as_of_ms:
            span(ts - reach_ms - DAY_MS, ts + DAY_MS)
    if as_of_ms > prev_as_of_ms:
        span(prev_as_of_ms, as_of_ms - 1)
    span(period[0], period[1] - 1)
    return DaySpans.of(spans)


def load_range(days: DaySpans, reach_ms: int) -> list[tuple[int, int]]:
    """Merged ``[lo, hi)`` event ranges that hold every input of ``days``."""
    out: list[tuple[int, int]] = []
    for a, b in days.spans:
        lo, hi = max(0, a * DAY_MS - reach_ms - DAY_MS), (b + 1) * DAY_MS + reach_ms + DAY_MS
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


@dataclass(frozen=True, slots=True)
class Contracts:
    """The guarantee contracts in force: each campaign's own latest version, else the platform default."""

    by_campaign: Mapping[str, GuaranteeContract]
    default: GuaranteeContract

    def of(self, campaign_id: str) -> GuaranteeContract:
        return self.by_campaign.get(campaign_id) or self.default

    def _all(self) -> list[GuaranteeContract]:
        return [self.default, *self.by_campaign.values()]

    @property
    def lag_ms(self) -> int:
        """The longest observation lag of any contract."""
        return max(c.observation_lag_ms for c in self._all())

    @property
    def span_days(self) -> int:
        """The longest window of any contract."""
        return max(c.window_days for c in self._all())


def touched_times(stamps: Iterable[tuple[int, str, str | None]], order_ts: Mapping[str, int]) -> list[int]:
    """The times new events can change figures at: an event's own time, a refund's order's time (a refund
    of an order not known, ``order_ts`` lacking it, touches nothing)."""
    out = []
    for ts, kind, order_id in stamps:
        t = order_ts.get(order_id or "", -1) if kind == EventKind.REFUND.value else ts
        if t >= 0:
            out.append(t)
    return out


def judged_day_range(
    days: DaySpans, contracts: Contracts, prev_as_of: int, end_ms: int, as_of: int
) -> tuple[int, int]:
    """``(lo, hi)`` day indices whose figures can hold a day of a window that this run judges: windows
    holding a recomputed day, and windows maturing since the previous run (up to the longest lag and span)."""
    span = contracts.span_days
    lo = max(
        0,
        min(
            days.first if days else 1 << 40,
            (prev_as_of - contracts.lag_ms) // DAY_MS - span - 1,
            (end_ms - 1) // DAY_MS - span,
        ),
    )
    return lo, (as_of - 1) // DAY_MS


def windows_to_judge(
    known: Mapping[DayKey, DayFigures],
    recomputed: Container[DayKey],
    camps: Mapping[str, Campaign],
    contracts: Contracts,
    prev_as_of: int,
    as_of: int,
) -> set[WindowRef]:
    """The mature windows (``matures_at ≤ as_of``) holding a day in ``known`` that were recomputed now or
    that matured since the previous run (``matures_at > prev_as_of``)."""
    out: set[WindowRef] = set()
    for cid, dstr in known:
        c = camps.get(cid)
        if c is None:
            continue
        contract = contracts.of(cid)
        w = window_for(contract, c, day_index(dstr))
        if w is None:
            continue
        mat = contract.matures_at_ms(w)
        if mat <= as_of and ((cid, dstr) in recomputed or mat > prev_as_of):
            out.add((cid, w))
    return out


def judge_windows(
    windows: Iterable[WindowRef],
    known: Mapping[DayKey, DayFigures],
    camps: Mapping[str, Campaign],
    contracts: Contracts,
    old: Container[tuple[str, str]],
    incremental: Callable[[str, Window], Estimate[float] | None] | None = None,
) -> list[GuaranteeEvaluation]:
    """Each window judged on its days' figures, by campaign and window; a window without spend and without
    anything due is left out unless it was judged before (``old`` keys: ``(campaign id, window key)``). A
    contract on incremental ROI is judged on ``incremental(campaign id, window)`` (None: not estimable)."""
    out: list[GuaranteeEvaluation] = []
    for cid, w in sorted(windows):
        figs = [known[(cid, day_str(d))] for d in range(w[0], w[0] + w[1]) if (cid, day_str(d)) in known]
        contract = contracts.of(cid)
        inc = incremental(cid, w) if incremental is not None and contract.basis == "incremental_roi" else None
        ev = evaluate_window(contract, camps[cid], w, figs, inc)
        if ev.spend_micros == 0 and ev.due_micros == 0 and (cid, ev.window) not in old:
            continue
        out.append(ev)
    return out


def _totals(figs: Mapping[DayKey, DayFigures], cid: str, w: Window) -> WindowTotals:
    return WindowTotals.of(figs[k] for d in range(w[0], w[0] + w[1]) if (k := (cid, day_str(d))) in figs)


def _target(
    k: GuaranteeContract, c: Campaign, figs: Mapping[DayKey, DayFigures], cid: str, w: Window
) -> Decimal:
    """The target a window is judged by (:func:`evaluate_window`'s): the contract's own, else the terms in
    force on the window's days (:func:`window_target`) — never the campaign's current target, which a merchant
    may have changed after the days were settled; that only stands in for a window without settled days."""
    if k.target_roi is not None:
        return k.target_roi
    fs = [figs[key] for d in range(w[0], w[0] + w[1]) if (key := (cid, day_str(d))) in figs]
    return window_target(fs, c.target_roi)


def reserve_moves(
    camps: Mapping[str, Campaign],
    contracts: Contracts,
    booked: Mapping[DayKey, DayFigures],
    known: Mapping[DayKey, DayFigures],
    evals: Sequence[GuaranteeEvaluation],
    prev_as_of: int,
    as_of: int,
) -> list[ReserveMove]:
    """Reserve bookings for the windows open at the previous run (see :mod:`sitewide.domain.reserve`):
    ``booked`` holds the figures the previous run booked, ``known`` those in force now."""
    due = {(g.campaign_id, g.window): g.due_micros for g in evals}
    open_: set[WindowRef] = set()
    for cid, dstr in known:
        c = camps.get(cid)
        w = window_for(contracts.of(cid), c, day_index(dstr)) if c is not None else None
        if w is not None and contracts.of(cid).matures_at_ms(w) > prev_as_of and w[0] * DAY_MS < as_of:
            open_.add((cid, w))
    wins = []
    for cid, w in open_:
        k, c = contracts.of(cid), camps[cid]
        key = window_key(w)
        wins.append(
            OpenWindow(
                campaign_id=cid,
                merchant_id=c.merchant_id,
                window=key,
                contract=k,
                target=_target(k, c, known, cid, w),
                target_before=_target(k, c, booked, cid, w),
                window_days=w[1],
                before=_totals(booked, cid, w),
                elapsed_before=(prev_as_of - w[0] * DAY_MS) / DAY_MS,
                now=_totals(known, cid, w),
                elapsed_now=(as_of - w[0] * DAY_MS) / DAY_MS,
                judged_now=k.matures_at_ms(w) <= as_of,
                due_micros=due.get((cid, key), 0),
            )
        )
    return plan_reserve(wins)


def period_days(start_ms: int, end_ms: int) -> tuple[str, str]:
    """The first and last UTC day a period ``[start_ms, end_ms)`` overlaps."""
    return day_str(start_ms // DAY_MS), day_str((end_ms - 1) // DAY_MS)


def period_report(
    run: SettlementRun,
    camps: Mapping[str, Campaign],
    figures: Mapping[DayKey, DayFigures],
    judgements: Iterable[GuaranteeEvaluation],
    txn: Transaction | None,
    reserve: Sequence[ReserveMove],
) -> SettlementReport:
    """The report of a period: per campaign the sums of its days' ``figures`` (the period's days, as they
    hold after this run) and the compensation of the windows in ``judgements`` that end in the period."""
    p_lo, p_hi = period_days(run.start_ms, run.end_ms)
    comp: dict[str, int] = {}
    p_evals = []
    for g in judgements:
        if p_lo <= day_str(day_index(g.first_day) + g.days - 1) <= p_hi:
            comp[g.campaign_id] = comp.get(g.campaign_id, 0) + g.due_micros
            p_evals.append(g)
    rows: dict[str, list[DayFigures]] = {}
    for (cid, _), f in sorted(figures.items()):
        rows.setdefault(cid, []).append(f)
    for cid in comp:
        rows.setdefault(cid, [])
    campaigns: list[CampaignSettlement] = []
    for cid in sorted(rows):
        c = camps.get(cid)
        fs = rows[cid]
        campaigns.append(
            CampaignSettlement(
                campaign_id=cid,
                merchant_id=c.merchant_id if c else (fs[0].merchant_id if fs else ""),
                target_roi=c.target_roi if c else Decimal(0),
                clicks=sum(f.clicks for f in fs),
                billable_clicks=sum(f.billable_clicks for f in fs),
                orders=sum(f.orders for f in fs),
                raw_spend_micros=sum(f.raw_spend_micros for f in fs),
                spend_micros=sum(f.spend_micros for f in fs),
                gmv_micros=sum(f.gmv_micros for f in fs),
                compensation_micros=comp.get(cid, 0),
                invalid_clicks=sum(f.invalid_clicks for f in fs),
            )
        )
    return SettlementReport(
        period=run.period,
        start_ms=run.start_ms,
        end_ms=run.end_ms,
        campaigns=campaigns,
        transactions=[txn] if txn else [],
        run_seq=run.seq,
        as_of_ms=run.as_of_ms,
        days=[f for _, f in sorted(figures.items())],
        guarantees=sorted(p_evals, key=lambda g: (g.campaign_id, g.window)),
        reserve=list(reserve),
    )
