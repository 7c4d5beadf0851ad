"""Settlement runs: read what the store holds, plan with the domain (:mod:`sitewide.domain.settlement` and
:mod:`sitewide.domain.settlement_plan`), commit atomically; and the guarantee contracts of campaigns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from sitewide.domain.guarantee import GuaranteeContract
from sitewide.domain.reserve import ReserveMove
from sitewide.domain.settlement import (
    DayFigures,
    SettlementReport,
    SettlementRun,
    book_differences,
    compute_days,
    zero_figures,
)
from sitewide.domain.settlement_plan import (
    Contracts,
    dirty_days,
    judge_windows,
    judged_day_range,
    load_range,
    period_days,
    period_report,
    reserve_moves,
    touched_times,
    windows_to_judge,
)
from sitewide.domain.time import DAY_MS, day_bounds, day_index, day_of, day_str
from sitewide.domain.types import Conflict, Estimate, EventKind, NotFound, ValidationError
from sitewide.engine.config import EngineConfig
from sitewide.ports import Clock, SettlementWrite, Store

# Retention: a settlement run drops the stored events of the days more than this many days before the end of
# the period it settles, and the store refuses any event before that horizon from then on, so an event id is an
# idempotency key for this long after its day (README "Events", docs/scaling.md). It must exceed what a run
# reads back: the attribution reach (≤ 31 days, domain.attribution) plus the dirty days' window.
EVENT_RETENTION_DAYS = 90


def event_horizon_ms(end_ms: int) -> int:
    """The retention horizon for a run settling up to ``end_ms``: the start of the oldest day kept."""
    return (end_ms // DAY_MS - EVENT_RETENTION_DAYS) * DAY_MS


@dataclass(frozen=True, slots=True)
class Plan:
    """One planned run: the report, the run record, the transaction of differences, the changed figures and
    judgements, and whether anything is to commit."""

    report: SettlementReport
    write: SettlementWrite  # the run record, the transaction, the changed figures and judgements
    anything: bool


class Settlement:
    def __init__(
        self,
        store: Store,
        config: EngineConfig,
        clock: Clock,
        incremental: Callable[[str, tuple[int, int]], Estimate[float] | None] | None = None,
    ) -> None:
        self.store = store
        self.policy = config.settlement_policy()
        self.clock = clock
        self.incremental = incremental  # a window's incremental ROI, for guarantees written on it

    def _plan(self, start_ms: int, end_ms: int, period: str) -> Plan:
        """Plan one incremental run: read the new events' stamps and the days they dirty, recompute those
        days, judge the windows they (or time) make mature, and book the differences."""
        policy, store = self.policy, self.store
        last = store.last_run()
        prev_as_of = last.as_of_ms if last else 0
        prev_wm = last.event_watermark if last else 0
        wm = store.event_watermark()
        as_of = max(prev_as_of, end_ms)
        stamps = store.event_stamps_after(prev_wm, wm)  # new events; then those the advance of as_of lets in
        stamps += store.event_stamps_between(prev_as_of, as_of) if as_of > prev_as_of else []
        ref = sorted({o for _, k, o in stamps if k == EventKind.REFUND.value and o})
        order_ts = {i: e.ts_ms for i, e in store.get_events(ref).items()} if ref else {}
        days = dirty_days(
            prev_as_of, as_of, touched_times(stamps, order_ts), (start_ms, end_ms), policy.reach_ms
        )
        old_days: dict[tuple[str, str], DayFigures] = {}
        if days:  # a day has figures only with a campaign's click or impression on it, or booked ones to undo
            got = store.day_figures(day_str(days.first), day_str(days.last))
            old_days = {k: f for k, f in got.items() if day_index(k[1]) in days}
            active = {day_index(d) for _, d in old_days}
            for a, b in days.spans:
                active.update(store.campaign_event_days(a * DAY_MS, min((b + 1) * DAY_MS, as_of)))
            days = days.only(active)
        camps = {c.id: c for c in store.list_campaigns()}
        terms = store.campaign_terms()
        contracts = Contracts(store.guarantees(), policy.default_contract)

        new_days: dict[tuple[str, str], DayFigures] = {}
        for lo, hi in load_range(days, policy.reach_ms):
            evs = store.events_between(lo, min(hi, as_of))
            have = {e.id for e in evs}
            named_ids = sorted({e.click_id for e in evs if e.kind is EventKind.ORDER and e.click_id} - have)
            named = store.get_events(named_ids) if named_ids else {}
            refunds = store.refunds_for([e.id for e in evs if e.kind is EventKind.ORDER])
            for (cid, d), f in compute_days(days, evs, camps, policy, named, refunds, as_of, terms).items():
                new_days[(cid, day_str(d))] = f
        for k, f in old_days.items():  # a day that lost all its activity goes to zero
            new_days.setdefault(k, zero_figures(f))

        # guarantee windows: those holding a recomputed day, and those that mature in this run
        span = contracts.span_days
        lo_day, hi_day = judged_day_range(days, contracts, prev_as_of, end_ms, as_of)
        known = store.day_figures(day_str(lo_day - span), day_str(hi_day), products=False)
        booked = dict(known)  # the figures the previous run booked (the reserve's "before")
        known.update(new_days)
        windows = windows_to_judge(known, new_days, camps, contracts, prev_as_of, as_of)
        first_days = [w[0] for _, w in windows]
        old_evals = (
            store.guarantee_evaluations(day_str(min(first_days)), day_str(max(first_days)))
            if first_days
            else {}
        )
        for cid, w in windows:  # windows reaching back beyond what was read (long, old windows)
            if w[0] < lo_day - span:
                known.update(store.day_figures(day_str(w[0]), day_str(w[0] + w[1] - 1), cid, products=False))
        evals = judge_windows(windows, known, camps, contracts, old_evals, self.incremental)
        reserve: list[ReserveMove] = (
            reserve_moves(camps, contracts, booked, known, evals, prev_as_of, as_of) if policy.reserve else []
        )
        seq = (last.seq if last else 0) + 1
        now = self.clock.now_ms()
        txn, changed, changed_evals = book_differences(
            f"settlement:{seq}", period, now, new_days, old_days, evals, old_evals, reserve
        )
        run = SettlementRun(seq, period, start_ms, end_ms, as_of, wm, now)
        anything = bool(txn or changed or changed_evals) or as_of != prev_as_of or wm != prev_wm

        # the report: the period's days (whole UTC days overlapping it) and the windows ending in them
        p_lo, p_hi = period_days(start_ms, end_ms)
        cur_evals = dict(old_evals)
        cur_evals.update({(e.campaign_id, e.window): e for e in evals})
        figs_p = store.day_figures(p_lo, p_hi)
        figs_p.update({k: f for k, f in new_days.items() if p_lo <= k[1] <= p_hi})
        for k, g in store.guarantee_evaluations(day_str(max(0, day_index(p_lo) - span)), p_hi).items():
            cur_evals.setdefault(k, g)
        report = period_report(run, camps, figs_p, cur_evals.values(), txn, reserve)
        return Plan(report, SettlementWrite(run, txn, changed, changed_evals), anything)

    def settle(
        self, start_ms: int, end_ms: int, period: str | None = None, *, preview: bool = False
    ) -> SettlementReport:
        """Settle up to ``end_ms``: book, as one atomic transaction, the differences between what the events
        known now say is owed (charges per campaign-day, compensation per mature guarantee window) and what
        the ledger holds. Re-running books nothing (``already_settled``); late events re-open their days.
        Runs are serialised by their sequence number: a concurrent run that loses recomputes and retries.

        Only a period that has ended (``end_ms ≤ clock.now_ms()``) can be settled; guarantee windows are
        judged only once their observation lag has passed too. ``preview=True`` computes the same report for
        any period, ended or not, and books nothing (``provisional`` in the report)."""
        if end_ms <= start_ms:
            raise ValidationError("settlement period must have end > start")
        if start_ms < 0 or end_ms >= 1 << 50:
            raise ValidationError("settlement period must lie in epoch milliseconds ≥ 0")
        label = period or (
            day_of(start_ms)
            if end_ms - start_ms == DAY_MS and day_bounds(day_of(start_ms))[0] == start_ms
            else f"{start_ms}-{end_ms}"
        )
        if preview:
            return replace(self._plan(start_ms, end_ms, label).report, transactions=[], provisional=True)
        now = self.clock.now_ms()
        if end_ms > now:
            raise ValidationError(
                f"period {label} has not ended (it ends at {end_ms} ms, now is {now} ms): settle it once it "
                "has ended, or preview it (nothing is booked)"
            )
        self.store.prepare_event_days(now, now + 3 * DAY_MS)  # today's and the next two days' storage, ahead
        if (horizon := event_horizon_ms(end_ms)) > 0:
            self.store.drop_events_before(horizon)  # retention (EVENT_RETENTION_DAYS), before the plan reads
        for _ in range(20):
            p = self._plan(start_ms, end_ms, label)
            if not p.anything:  # everything up to as_of is booked already: nothing to write
                return replace(p.report, transactions=[], already_settled=True)
            if self.store.commit_settlement(p.write):
                return p.report
        raise Conflict("settlement: too many concurrent runs, try again")

    def settle_day(self, day: str, *, preview: bool = False) -> SettlementReport:
        start, end = day_bounds(day)
        return self.settle(start, end, day, preview=preview)

    def set_guarantee(self, campaign_id: str, contract: GuaranteeContract) -> GuaranteeContract:
        """Attach a new version of the ROI-guarantee contract to a campaign; windows judged from now on use
        it. Returns the stored contract with its version."""
        if self.store.get_campaign(campaign_id) is None:
            raise NotFound(f"campaign {campaign_id} not found")
        return self.store.put_guarantee(replace(contract, campaign_id=campaign_id))

    def guarantee(self, campaign_id: str) -> GuaranteeContract:
        """The contract in force for a campaign (its own latest version, else the platform default)."""
        if self.store.get_campaign(campaign_id) is None:
            raise NotFound(f"campaign {campaign_id} not found")
        default = self.policy.default_contract
        return self.store.guarantees().get(campaign_id) or replace(default, campaign_id=campaign_id)
