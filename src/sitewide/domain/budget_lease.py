"""Budget leases: how several serving processes share one campaign's daily budget.

The database keeps, per campaign-day (:class:`DayDraws`), how much of the budget the processes have drawn
as leases and how much the day's clicks have actually cost (every process adds the spend of the clicks it
ingests). A lease is a right to admit *expected* cost: a process serves a campaign only while the expected
cost of the slots it admitted (pCTR × price per click, what the budget guard calls in-flight exposure) fits
in the leases it holds; when it does not, it draws another slice (:func:`grant`, atomic in the store), and
it returns what it did not use when the day ends or it stops (:func:`give_back`). Admission, not the click,
uses a lease, so it does not matter which process a click is posted to. A grant never passes
``budget − max(drawn, spent)``: once the clicks have cost the budget, nothing more is granted.

Worst-case overspend (what serving can deliver beyond the budget; what a merchant is *charged* is capped per
campaign-day by settlement regardless): every process also reads the day's actual spend from the store at
every poll (``campaign_poll_ms``) and stops admitting a campaign whose spend, as last read plus what it
ingested since, leaves no room for one more slot. So spend passes the budget only by the clicks on slots
admitted between a process's last read and the click that crossed the budget: per process, the slots of
one poll interval at their per-click price, plus clicks still in flight then. With every admitted slot
clicked at once, that is :func:`overspend_bound`: processes × batches per poll interval × slots per batch
× price per click (tested with two engines on one database, polling every batch and at the default 1 s with
8 batches a second each). At the measured HTTP rate (~20-30 requests/s per worker, a request is a batch)
and the 1 s default that is ~30 batches' slots per worker; a shorter poll shrinks it in proportion. Without leases or the shared spend each process would admit against the
whole budget: up to ``processes × budget``. A killed process never returns its slice: the campaign can
underspend by it (never overspend).

Shared serving's default (``PacingConfig.background``, :mod:`sitewide.engine.follower`): the reads, draws and
returns run on a follower thread, not inside requests, so a slow database no longer holds the spend read and
the serving with it; instead the serve path admits a leased campaign only while the last completed read
*began* at most ``2 × campaign_poll_ms`` ago (``Pacer.stale``). A click that crosses the budget at time t
(ingested, so in the store's spend) is in every read begun after t; a process admits the campaign after t only
on a read begun before t, so for at most ``2 × campaign_poll_ms`` after t. The bound is the same formula with
``batches_per_poll`` = the batches a process serves in ``2 × campaign_poll_ms`` (tested with two engines on
one database, their followers stepped by hand: 16 batches at 8 a second); with a healthy database the reads
come every poll and take milliseconds, so the window is one poll plus a read, as before. Slices are drawn ahead
(when less than half a slice is left unused), so a process holds up to 1.5 slices unused: what a killed process
strands grows by half a slice (underspend only). A slice that has not arrived is never waited for: the
campaign is not admitted for that request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sitewide.domain.types import BoolArray, IntArray, ValidationError


@dataclass(frozen=True, slots=True)
class LeasePolicy:
    """A slice is ``slice_permille`` ‰ of the daily budget, at least ``min_slice_micros`` (never more than is
    left). Smaller slices: less stranded in a process that stops serving a campaign, more draws."""

    slice_permille: int = 100
    min_slice_micros: int = 1_000_000

    def __post_init__(self) -> None:
        if not 0 < self.slice_permille <= 1000:
            raise ValidationError("slice_permille must lie in 1..1000")
        if self.min_slice_micros < 0:
            raise ValidationError("min_slice_micros must be ≥ 0")

    def slice_micros(self, budget_micros: int) -> int:
        return max(self.min_slice_micros, budget_micros * self.slice_permille // 1000)


@dataclass(frozen=True, slots=True)
class DayDraws:
    """One campaign-day's row: the budget in force, what the processes have drawn (net of returns) and what
    the clicks ingested so far cost."""

    budget_micros: int
    drawn_micros: int = 0
    spent_micros: int = 0

    @property
    def left_micros(self) -> int:
        return max(0, self.budget_micros - max(self.drawn_micros, self.spent_micros))


def grant(row: DayDraws, want_micros: int, budget_micros: int) -> tuple[int, DayDraws]:
    """What a draw of ``want_micros`` gets (never more than is left of the budget in force now) and the row
    after it. A budget lowered below what was drawn grants nothing until returns bring it back under."""
    if want_micros < 0 or budget_micros < 0:
        raise ValidationError("a draw and a budget must be ≥ 0")
    now = DayDraws(budget_micros, row.drawn_micros, row.spent_micros)
    got = min(want_micros, now.left_micros)
    return got, DayDraws(budget_micros, now.drawn_micros + got, now.spent_micros)


def give_back(row: DayDraws, unused_micros: int) -> DayDraws:
    """The row after a process returns ``unused_micros`` (negative: it used that much more than it held)."""
    return DayDraws(row.budget_micros, max(0, row.drawn_micros - unused_micros), row.spent_micros)


@dataclass(frozen=True, slots=True)
class Draw:
    """One campaign's part of a batch of draws: up to ``want_micros`` under the budget in force now."""

    campaign_id: str
    budget_micros: int
    want_micros: int


# a change of one campaign-day row: the old row → (micros granted, the new row)
RowChange = Callable[[DayDraws], tuple[int, DayDraws]]


def draw_changes(draws: Sequence[Draw]) -> dict[str, RowChange]:
    """The row changes of a batch of draws, by campaign (what a store applies in one transaction)."""
    return {d.campaign_id: _granting(d) for d in draws}


def return_changes(unused: Mapping[str, int]) -> dict[str, RowChange]:
    """The row changes of returning ``unused`` micros per campaign (nothing is granted)."""
    return {cid: _returning(int(micros)) for cid, micros in unused.items()}


def apply_changes(
    rows: Mapping[str, DayDraws], changes: Mapping[str, RowChange]
) -> tuple[dict[str, int], dict[str, DayDraws]]:
    """What each change grants and the rows it changed (a row it leaves as it was is not among them)."""
    got: dict[str, int] = {}
    changed: dict[str, DayDraws] = {}
    for cid, change in changes.items():
        got[cid], new = change(rows[cid])
        if new != rows[cid]:
            changed[cid] = new
    return got, changed


def _granting(d: Draw) -> RowChange:
    return lambda row: grant(row, d.want_micros, d.budget_micros)


def _returning(micros: int) -> RowChange:
    return lambda row: (0, give_back(row, micros))


def needs_slice(held_micros: IntArray, used_micros: IntArray, slot_micros: int) -> BoolArray:
    """Which campaigns (one entry each) must draw before they may admit one more slot of expected cost
    ``slot_micros``."""
    short: BoolArray = used_micros + max(1, slot_micros) > held_micros
    return short


def overspend_bound(
    max_slots_per_batch: int, max_cpc_micros: int, processes: int, batches_per_poll: int = 1
) -> int:
    """The stated worst case above the daily budget when every admitted slot is clicked: each process can
    have admitted the batches of one poll interval whose clicks it had not seen yet (see the module note).
    ``batches_per_poll``: the batches a process serves between two reads of the shared spend — its serve
    rate × ``campaign_poll_ms`` (a batch every request over HTTP), 1 when it polls every batch."""
    if min(max_slots_per_batch, max_cpc_micros, processes, batches_per_poll) < 0:
        raise ValidationError("slots, price, processes and batches must be ≥ 0")
    return processes * batches_per_poll * max_slots_per_batch * max_cpc_micros
