"""Per-campaign auto-bidding inside the engine: bidders, ticks, and the budget guard.

The engine serves in batches. :class:`Pacer` cuts time into ticks (``tick_ms``); at the first batch of a new
tick it closes the previous tick for every campaign — handing the bidder its own outcome (impressions won,
clicks, orders, spend, GMV, the value it won) — and asks each bidder for the new tick's multiplier
(``bid = expected GMV per impression × multiplier``). Bidders start afresh every UTC day (the budget is daily).

Per-campaign state: :meth:`Pacer.reconcile` follows a campaign create/edit/pause/resume. Only the bidder of a
campaign whose terms changed restarts; every other campaign keeps its bidder, and every campaign keeps
today's spend, GMV, clicks, orders and in-flight exposure — they are kept incrementally from the events the
engine feeds in (:meth:`Pacer.record_click`), so nothing rescans the day's clicks. A click stamped with a
later day than the pacer's (it can arrive just before that day's first request) is held and seeds that
day's spend.

Budget guard: a campaign enters an auction only while ``spend today + in-flight exposure + reserve`` fits in
its daily budget (:class:`sitewide.domain.bidding.BudgetGuard`). In-flight exposure is the expected cost of
served ads whose clicks may still arrive (``pCTR × price per click``, held for ``inflight_ttl_ms``). This keeps
late clicks from running far past the budget; the hard guarantee that no merchant is *charged* beyond the
daily budget is settlement's (charges are capped per campaign-day).

Several serving processes (``PacingConfig.leases``, see :mod:`sitewide.domain.budget_lease`): each process
admits a campaign only while the expected cost of the slots it admitted today (``used``) leaves room for one
more slot in the leases it holds (``held``), drawing a slice from the store when it does not, and returns
what it did not use when the day changes (or :meth:`Pacer.release`). The guard's spend is the larger of what
this process ingested and the day's spend across processes as last read from the store
(:meth:`Pacer.refresh_shared`) plus what it ingested since.

With ``PacingConfig.background`` (``sitewide serve --workers N``) the serving thread does no store I/O for
this: a follower thread (:mod:`sitewide.engine.follower`) reads the shared spend, returns leases and tops up
each campaign's slice ahead of need (when what it holds unused falls below half a slice); the serve path
admits on what is held and, short of a slice, does not admit the campaign for that request (it asks the
follower, it never waits). While the shared spend as last read is older than ``2 × campaign_poll_ms``
(a slow or lost database), no leased campaign is admitted: the overspend bound stays stated in time.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from sitewide.domain.bidding import Bidder, BudgetGuard, CampaignState, TickOutcome, TruthfulBidder
from sitewide.domain.budget_lease import DayDraws, Draw, LeasePolicy, needs_slice
from sitewide.domain.time import DAY_MS
from sitewide.domain.types import BoolArray, Campaign, FloatArray, IntArray, ValidationError

_log = logging.getLogger(__name__)

# Makes one campaign's bidder for a day from its target ROI and daily budget (micros). The composition root
# picks it (``sitewide.models.bidding_policy.BidderFactory`` for the configured kind); the pacer never
# constructs bidders itself, so it imports no model code.
MakeBidder = Callable[[float, int], Bidder]
# × target ROI a campaign's bidder aims at on a day (index): the engine's guarantee-window aim
# (sitewide.engine.value.ValueBook.aim); None: the target itself
Aim = Callable[[Campaign, int], float]


@dataclass(frozen=True)
class PacingConfig:
    # which bidder the composition root's factory makes: truthful | pid | dual | learned | landscape |
    # landscape_lcb. Default: landscape. With the late-day lock-in (both kinds; off in the engine, which judges a
    # window, see Bidder.window_judged) small campaigns meet ROI as often with either (bench/bidding.py, report
    # seeds: 0.906 each) and landscape_lcb scores less on the families it was not tuned on (0.802 vs 0.815) and, in
    # bench/market.py's full run (3 seeds x 7 days, calibrated rates), spends 0.81 of the budget the hindsight
    # oracle could spend at the target against landscape's 0.88 (both with the window's margin only, see
    # Bidder.window_margin; the promise asks >= 0.8), so the default stays landscape (learned falls back to dual
    # without a policy file)
    bidder: str = "landscape"
    policy_path: str | None = None  # default: the shipped sitewide/data/bidding_policy.pt
    tick_ms: int = 30 * 60_000  # 48 ticks a day, as the shipped policy was trained
    inflight_ttl_ms: int = 30 * 60_000
    # several serving processes on one database: budgets through leases (None: this process is the only one)
    leases: LeasePolicy | None = None
    # and how often (ms of wall time) to look for campaign changes made by another process (None: never)
    campaign_poll_ms: int | None = None
    # with leases and a poll: polls, spend reads and lease draws on a follower thread, none on the serve path
    background: bool = False


class LeaseStore(Protocol):
    """What the pacer needs of the store for leases (the Store port has it)."""

    def draw_budgets(self, day: int, draws: Sequence[Draw]) -> dict[str, int]: ...
    def return_budgets(self, day: int, unused: Mapping[str, int]) -> None: ...
    def day_draws(self, day: int) -> dict[str, DayDraws]: ...


class Pacer:
    def __init__(
        self,
        campaigns: Sequence[Campaign],
        config: PacingConfig,
        reserve_cpc_micros: int,
        make_bidder: MakeBidder,
        lease_store: LeaseStore | None = None,
    ) -> None:
        self.config = config
        self._lease_store = lease_store if config.leases is not None else None
        self._bidder_for = make_bidder
        self.reserve = int(reserve_cpc_micros)
        self.ticks_per_day = max(1, DAY_MS // config.tick_ms)
        self._ttl_ticks = max(1, -(-config.inflight_ttl_ms // config.tick_ms))
        self.day = -1
        self.tick = -1
        self._ahead: dict[int, dict[str, int]] = {}  # day → campaign id → spend clicked before that day began
        self.aim: Aim | None = None
        # background refills (module note): the serve path asks the follower through ``wake``
        self.deferred = self._lease_store is not None and config.background
        self.wake: Callable[[], None] = lambda: None
        self.wall: Callable[[], float] = time.monotonic  # seconds, for the spend read's age (tests set their own)
        self.stale_s = 2 * max(config.campaign_poll_ms or 0, 50) / 1000
        self.spend_read_at = -math.inf  # wall time a completed read of the shared spend began
        self.pending: list[tuple[int, dict[str, int]]] = []  # returns for the follower to make: (day, unused)
        self._set_campaigns(campaigns)

    def _set_campaigns(self, campaigns: Sequence[Campaign]) -> None:
        self.campaigns = list(campaigns)
        self.row = {c.id: i for i, c in enumerate(self.campaigns)}
        n = len(self.campaigns)
        self.budget = np.array([int(c.daily_budget_micros) for c in self.campaigns], dtype=np.int64)
        self.target = np.array([float(c.target_roi) for c in self.campaigns], dtype=np.float64)
        for b in self.budget.tolist():  # the guards' check of the budgets (budget_ok applies them)
            BudgetGuard(b)
        self.spent = np.zeros(n, dtype=np.int64)
        self.gmv = np.zeros(n, dtype=np.int64)
        self.clicks = np.zeros(n, dtype=np.int64)
        self.orders = np.zeros(n, dtype=np.int64)
        self._inflight = np.zeros((n, self._ttl_ticks + 1))  # ring of expected exposure per tick
        self._t = np.zeros((6, n))  # this tick: impressions, clicks, orders, spend, gmv, value_won
        self._offered = np.zeros((2, n))  # candidates, value offered
        self.multipliers: FloatArray = np.zeros(n)
        self.tick_caps: FloatArray = np.full(n, np.inf)  # each bidder's within-tick spend cap (micros)
        self.bidders: list[Bidder] = []
        self.held = np.zeros(n, dtype=np.int64)  # leases held today (micros)
        self.used = np.zeros(n, dtype=np.int64)  # expected cost of the slots this process admitted today
        self.shared = np.zeros(n, dtype=np.int64)  # today's spend across processes, as last read
        self.since = np.zeros(n, dtype=np.int64)  # spend this process ingested since that read
        self._dry = np.zeros(n, dtype=bool)  # a draw got nothing this tick: do not ask again before the next
        self._wanted = np.zeros(n, dtype=bool)  # background: campaigns a batch found below the low-water mark
        # background: the campaigns the last budget_ok kept out for the lease alone (no slice held yet, or the
        # shared spend read stale) while their budget had room; the engine reports them as LEASE_PENDING
        self.waiting: BoolArray = np.zeros(n, dtype=bool)
        policy = self.config.leases
        self._low = np.array(  # background: top up when less than this is held unused (half a slice)
            [max(policy.slice_micros(b) // 2 if policy else 0, self.reserve, 1) for b in self.budget.tolist()],
            dtype=np.int64,
        )

    def _make_bidder(self, c: Campaign) -> Bidder:
        """The factory's bidder for the campaign's target (times the window's aim; an aimed bidder drops its own
        day margin, :meth:`~sitewide.domain.bidding.Bidder.window_margin`). A target the bidder kind
        refuses (the landscape bidders handle R in [0.2, 50]; the API accepts up to 100) gets the truthful rule,
        which bids expected GMV ÷ R and so aims at any target: one campaign never stops serving for all."""
        target = float(c.target_roi)
        aim = self.aim(c, self.day) if self.aim is not None and self.day >= 0 else 1.0
        try:
            bidder = self._bidder_for(target * aim, int(c.daily_budget_micros))
        except ValidationError as exc:
            _log.warning("campaign %s bids by the truthful rule: %s", c.id, exc)
            return TruthfulBidder(target * aim, int(c.daily_budget_micros))
        if self.aim is not None:  # judged over the guarantee window, not the day (Bidder.window_judged)
            bidder.window_judged()
        if aim != 1.0:  # the window's aim carries the margin (exactly 1 only when off or nothing is settled)
            bidder.window_margin()
        return bidder

    def reconcile(self, campaigns: Sequence[Campaign]) -> None:
        """Follow a campaign change without touching the others: rows follow ``campaigns``; a campaign whose
        terms are unchanged keeps its bidder and multiplier, a new or edited one gets a fresh bidder (its
        first multiplier is computed at once); every known campaign keeps today's figures."""
        old_camps, old_row, old_bidders = self.campaigns, self.row, self.bidders
        old = (self.spent, self.gmv, self.clicks, self.orders, self._inflight, self._t, self._offered)
        old_mult = self.multipliers
        old_lease = (self.held, self.used, self.shared, self.since)
        self._set_campaigns(campaigns)
        new = (self.spent, self.gmv, self.clicks, self.orders, self._inflight, self._t, self._offered)
        keep = [(i, old_row[c.id]) for i, c in enumerate(self.campaigns) if c.id in old_row]
        if keep:
            dst, src = (np.array(x, dtype=np.int64) for x in zip(*keep, strict=True))
            for a, b in zip(new[:5], old[:5], strict=True):
                a[dst] = b[src]
            for a, b in zip(new[5:], old[5:], strict=True):
                a[:, dst] = b[:, src]
            self.held[dst], self.used[dst] = old_lease[0][src], old_lease[1][src]
            self.shared[dst], self.since[dst] = old_lease[2][src], old_lease[3][src]
        gone = set(old_row) - set(self.row)
        if self._lease_store is not None and self.day >= 0 and gone:  # a deleted campaign's lease goes back
            unused = {cid: int(old_lease[0][old_row[cid]] - old_lease[1][old_row[cid]]) for cid in gone}
            if self.deferred:
                self.pending.append((self.day, unused))
            else:
                self._lease_store.return_budgets(self.day, unused)
        if self.day < 0:
            return
        self.bidders = []
        for i, c in enumerate(self.campaigns):
            j = old_row.get(c.id)
            if j is not None and j < len(old_bidders) and old_camps[j] == c:
                self.bidders.append(old_bidders[j])
                self.multipliers[i] = old_mult[j]
            else:
                self.bidders.append(self._make_bidder(c))
                self.multipliers[i] = self.bidders[i].multiplier(self.state(i))
            self.tick_caps[i] = self.bidders[i].tick_cap(self.state(i))

    # time --------------------------------------------------------------------------------------------
    def advance(self, ts_ms: int, spent_today: IntArray | None = None) -> None:
        """Move to the tick of ``ts_ms``: close the open tick, start a new day when the date changed
        (``spent_today`` then seeds today's spend, e.g. from stored clicks), compute new multipliers."""
        day, tick = divmod(ts_ms, DAY_MS)
        tick //= self.config.tick_ms
        if day == self.day and tick == self.tick:
            return
        if day != self.day:
            self._new_day(day, spent_today)
        elif tick > self.tick:
            self._close_tick()
            self._inflight[:, tick % (self._ttl_ticks + 1)] = 0.0
        self._dry[:] = False
        self.tick = tick
        states = [self.state(i) for i in range(len(self.bidders))]
        self.multipliers = np.array([b.multiplier(s) for b, s in zip(self.bidders, states, strict=True)])
        self.tick_caps = np.array([b.tick_cap(s) for b, s in zip(self.bidders, states, strict=True)], float)

    def release(self, *, defer: bool = False) -> None:
        """Give back what this process holds of today's budgets and did not use (an overdraft, negative), and
        the returns waiting for the follower; ``defer``: leave them all to the follower (the serve path)."""
        if self._lease_store is not None and self.day >= 0:
            unused = {
                c.id: int(self.held[i] - self.used[i])
                for i, c in enumerate(self.campaigns)
                if self.held[i] or self.used[i]
            }
            if unused:
                self.pending.append((self.day, unused))
        if self._lease_store is not None and not defer:
            for day, back in self.take_returns():
                self._lease_store.return_budgets(day, back)
        for a in (self.held, self.used, self.shared, self.since):
            a[:] = 0
        self.spend_read_at = -math.inf

    # the follower's side (background; each under the serving state lock, the store calls between them) ----
    def take_returns(self) -> list[tuple[int, dict[str, int]]]:
        out, self.pending = self.pending, []
        return out

    def stale(self) -> bool:
        """Whether the shared spend as last read is too old to admit on (or not read yet today)."""
        return self.wall() - self.spend_read_at > self.stale_s

    def refresh_begin(self) -> tuple[int, dict[str, int], float] | None:
        """Before a read of the shared spend: the day, what this process has ingested since the last read (by
        campaign) and the wall time."""
        if self._lease_store is None or self.day < 0:
            return None
        return self.day, {c.id: int(self.since[i]) for i, c in enumerate(self.campaigns)}, self.wall()

    def refresh_end(self, begun: tuple[int, dict[str, int], float], rows: Mapping[str, DayDraws]) -> None:
        """After the read: the shared spend is the rows'; what was ingested after the read began stays in
        ``since`` (it may be counted twice, never missed: a click's spend is added to the store before it is
        fed here)."""
        day, since, t0 = begun
        if day != self.day:
            return
        for i, c in enumerate(self.campaigns):
            r = rows.get(c.id)
            self.shared[i] = r.spent_micros if r is not None else 0
            self.since[i] = max(0, int(self.since[i]) - since.get(c.id, 0))
        self.spend_read_at = max(self.spend_read_at, t0)

    def refill_plan(self) -> tuple[int, list[Draw]]:
        """The slices to draw: each campaign a batch wanted that holds less than the low-water mark unused and
        whose last draw this tick was not empty."""
        assert self.config.leases is not None
        if self.day < 0:
            return self.day, []
        ask = np.flatnonzero(self._wanted & ~self._dry & (self.held - self.used < self._low))
        self._wanted[:] = False
        return self.day, self._slices(ask)

    def _slices(self, ask: IntArray) -> list[Draw]:
        """One slice's draw for each campaign row in ``ask``."""
        policy = self.config.leases
        assert policy is not None
        return [Draw(self.campaigns[i].id, int(self.budget[i]), policy.slice_micros(int(self.budget[i]))) for i in ask]

    def refilled(self, day: int, got: Mapping[str, int]) -> None:
        """A draw's grants: held from now on, or returned when the day or the campaign is gone meanwhile."""
        back: dict[str, int] = {}
        for cid, g in got.items():
            i = self.row.get(cid)
            if day != self.day or i is None:
                if g:
                    back[cid] = int(g)
                continue
            self.held[i] += g
            self._dry[i] = g == 0
        if back:
            self.pending.append((day, back))

    def refresh_shared(self) -> None:
        """Read today's spend across processes from the store (at every poll)."""
        begun = self.refresh_begin()
        if begun is not None:
            assert self._lease_store is not None
            self.refresh_end(begun, self._lease_store.day_draws(begun[0]))

    def _new_day(self, day: int, spent_today: IntArray | None) -> None:
        n = len(self.campaigns)
        self.release(defer=self.deferred)
        self.day = day
        self.bidders = [self._make_bidder(c) for c in self.campaigns]
        self.spent = (
            np.zeros(n, dtype=np.int64) if spent_today is None else np.asarray(spent_today, np.int64).copy()
        )
        for cid, amount in self._ahead.pop(day, {}).items():
            if cid in self.row and spent_today is None:
                self.spent[self.row[cid]] += amount
        self._ahead = {d: v for d, v in self._ahead.items() if d > day}
        for a in (self.gmv, self.clicks, self.orders):
            a[:] = 0
        self._inflight[:] = 0.0
        self._t[:] = 0.0
        self._offered[:] = 0.0

    def _close_tick(self) -> None:
        t, o = self._t, self._offered
        for i, b in enumerate(self.bidders):
            b.observe(
                TickOutcome(
                    impressions=int(t[0, i]),
                    clicks=int(t[1, i]),
                    orders=int(t[2, i]),
                    spend_micros=int(t[3, i]),
                    gmv_micros=int(t[4, i]),
                    value_won=float(t[5, i]),
                    candidates=int(o[0, i]),
                    value_offered=float(o[1, i]),
                )
            )
        t[:] = 0.0
        o[:] = 0.0

    def state(self, i: int) -> CampaignState:
        ticks_left = max(0, self.ticks_per_day - max(self.tick, 0))
        return CampaignState(
            budget_micros=int(self.budget[i]),
            spent_micros=int(self.spent[i]),
            in_flight_micros=int(self._inflight[i].sum()),
            gmv_micros=max(0, int(self.gmv[i])),
            target_roi=float(self.target[i]),
            time_left_frac=ticks_left / self.ticks_per_day,
            ticks_left=ticks_left,
            clicks=int(self.clicks[i]),
            orders=int(self.orders[i]),
        )

    # serving -----------------------------------------------------------------------------------------
    def budget_ok(self) -> BoolArray:
        """Which campaigns may enter an auction now: one more slot at the reserve still fits in the budget,
        and this tick's spend plus the exposure reserved this tick is under the bidder's within-tick cap."""
        inflight = self._inflight.sum(axis=1)
        spent = np.maximum(self.spent, self.shared + self.since)
        # BudgetGuard(budget).may_enter(spent, int(inflight), reserve) for every campaign at once
        room = np.maximum(0, self.budget - spent - inflight.astype(np.int64))
        fits: BoolArray = room >= max(1, self.reserve)
        this_tick = self._t[3] + self._inflight[:, max(self.tick, 0) % (self._ttl_ticks + 1)]
        under_cap: BoolArray = this_tick + self.reserve <= self.tick_caps
        if self._lease_store is not None:
            fits &= self._leased(fits & under_cap)
        return fits & under_cap

    def _leased(self, wanted: BoolArray) -> BoolArray:
        """Which campaigns this process holds enough lease for to admit one more slot; every wanted campaign
        short of it draws one slice first, all in one store transaction (at most one draw per campaign and
        tick once a draw came back empty)."""
        assert self._lease_store is not None and self.config.leases is not None
        if self.deferred:
            return self._leased_ahead(wanted)
        self.waiting[:] = False  # a draw on this thread: a campaign short after it has no budget left to draw
        short = needs_slice(self.held, self.used, self.reserve)
        ask = np.flatnonzero(short & wanted & ~self._dry) if self.day >= 0 else np.zeros(0, np.int64)
        if len(ask):
            got = self._lease_store.draw_budgets(self.day, self._slices(ask))
            for i in ask:
                g = got.get(self.campaigns[i].id, 0)
                self.held[i] += g
                self._dry[i] = g == 0
            short = needs_slice(self.held, self.used, self.reserve)
        ok: BoolArray = ~short
        return ok

    def _leased_ahead(self, wanted: BoolArray) -> BoolArray:
        """Background: the campaigns whose held lease admits one more slot, none while the shared spend read
        is stale; the campaigns below the low-water mark are the follower's to top up (woken, not waited for)."""
        low = wanted & ~self._dry & (self.held - self.used < self._low)
        if low.any():
            self._wanted |= low
            self.wake()
        short = needs_slice(self.held, self.used, self.reserve)
        ok: BoolArray
        if self.stale():
            self.wake()
            ok = np.zeros(len(wanted), dtype=bool)
        else:
            ok = ~short
        # kept out for the lease: all but those short of a slice whose last draw this tick came back empty
        # (the day's budget is all drawn: exhausted as far as this process can tell)
        self.waiting = wanted & ~ok & ~(short & self._dry)
        return ok

    def offered(self, campaign: IntArray, value: FloatArray) -> None:
        """Candidate impressions each campaign was asked to bid on (``campaign`` ≥ 0 entries only)."""
        m = campaign >= 0
        n = len(self.campaigns)
        self._offered[0] += np.bincount(campaign[m], minlength=n)
        self._offered[1] += np.bincount(campaign[m], weights=value[m], minlength=n)

    def served(self, campaign: IntArray, price_cpc: IntArray, pctr: FloatArray, value: FloatArray) -> None:
        """Promoted slots won this batch: count them and reserve their expected click cost."""
        n = len(self.campaigns)
        self._t[0] += np.bincount(campaign, minlength=n)
        self._t[5] += np.bincount(campaign, weights=value, minlength=n)
        slot = max(self.tick, 0) % (self._ttl_ticks + 1)
        exposure = np.bincount(campaign, weights=pctr * price_cpc, minlength=n)
        self._inflight[:, slot] += exposure
        self.used += np.ceil(exposure).astype(np.int64)  # admission uses the lease, whoever gets the click

    # feedback ----------------------------------------------------------------------------------------
    def record_click(self, campaign_id: str, price_micros: int, ts_ms: int) -> bool:
        """A click's spend, by campaign id and timestamp: today's goes to the bidder, a later day's is held
        for that day. Returns whether it counted for today."""
        day = ts_ms // DAY_MS
        if campaign_id not in self.row or day < self.day:
            return False
        if day > self.day:
            ahead = self._ahead.setdefault(day, {})
            ahead[campaign_id] = ahead.get(campaign_id, 0) + int(price_micros)
            return False
        self.clicked(self.row[campaign_id], int(price_micros))
        return True

    def record_order(self, campaign_id: str, value_micros: int, ts_ms: int) -> None:
        """An order on a click that counted today (GMV for the campaign's bidder)."""
        if ts_ms // DAY_MS == self.day and campaign_id in self.row:
            self.ordered(self.row[campaign_id], int(value_micros))

    def clicked(self, i: int, price_micros: int) -> None:
        self.spent[i] += price_micros
        self.since[i] += price_micros
        self.clicks[i] += 1
        self._t[1, i] += 1
        self._t[3, i] += price_micros

    def ordered(self, i: int, value_micros: int) -> None:
        self.gmv[i] += value_micros
        self.orders[i] += 1
        self._t[2, i] += 1
        self._t[4, i] += value_micros
