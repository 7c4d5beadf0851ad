"""Ghost-bid holdouts in serving, and the traffic sample the forecasts replay.

:class:`Holdout` wraps the auction of every served batch (one call in ``engine/serving.py``). For campaigns
with a holdout share (``EngineConfig.holdout_share`` for all, or per campaign with :meth:`Holdout.set_share`),
each (request, campaign) gets a seeded draw (:func:`sitewide.domain.incrementality.holdout_uniform`); where a
held-out campaign's ad won a slot, the auction is run again for that request without the campaign's bids (its
products stay as organic candidates; the next item serves) and the win is logged as a *ghost win*. Ghost wins
are never billed: the slot is not promoted, so no click on it carries the campaign. Exposed wins of campaigns
under holdout are logged too (the comparison group). Campaigns without a share cost nothing: one dictionary
look-up per batch.

:meth:`Holdout.outcomes` joins the log with the clicks and orders of a period (outcome of a logged request =
the GMV of the campaign's products bought from it), which :func:`sitewide.domain.incrementality.estimate`
turns into incremental GMV, ROI and cannibalisation. The log keeps :data:`HOLDOUT_RETENTION_DAYS` days:
each settlement run deletes older entries (:meth:`Holdout.prune`), so it stays bounded by the traffic of that
many days; an estimate for a period older than that finds no entries.

Writing the log: in one process (the simulator, tests, ``sitewide serve`` on one worker) each batch's entries are
written as its auction ends. In shared serving (``PacingConfig.background``) that write would be a database
round trip on the worker's event loop on every batch with a held-out campaign, so the entries are buffered in
memory (:meth:`Holdout.flush` writes them in one insert) and the follower thread (:mod:`sitewide.engine.follower`)
writes them at each of its rounds — every ``NOTICE_S`` (0.1 s) while the database answers — and once more when
it stops (a clean shutdown, ``Engine.close``, loses nothing); a read of the log (:meth:`Holdout.entries`,
:meth:`Holdout.prune`) writes what this process holds first. A killed process (SIGKILL) loses the entries of
its last round, about 0.1 s of batches, or, while the database is away (a failed write stays buffered), what
came since it went — at most :data:`MAX_BUFFERED` entries: past that the oldest are dropped (counted in
``Holdout.dropped``, logged), so that memory stays bounded.

:class:`TrafficSample` keeps the most recent served requests (a bounded window) with their daily rate, so that
a forecast can replay recent logged traffic through the auction.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import TypeVar

import numpy as np

from sitewide.domain.auction import AuctionBatch, AuctionConfig, AuctionResult, run_auction
from sitewide.domain.guarantee import INCREMENTAL_LEVEL
from sitewide.domain.incrementality import HoldoutEntry, Incrementality, estimate, holdout_uniform, key64
from sitewide.domain.time import DAY_MS
from sitewide.domain.types import Estimate, Event, EventKind, IntArray, NotFound, ValidationError
from sitewide.ports import RequestBatch, Store

_Rows = TypeVar("_Rows", AuctionBatch, AuctionResult)
# days of would-win entries kept: the campaign page reads the last 28, and the API's periods may reach further
# back (assumption: a quarter covers what an operator or merchant asks for)
HOLDOUT_RETENTION_DAYS = 90
# would-win entries held in memory at most while their write waits (shared serving, the database away): with
# ~200 bytes an entry, about 20 MB; at the soak's 300 requests/s with a held-out campaign in every answer, minutes
MAX_BUFFERED = 100_000

_log = logging.getLogger(__name__)


@dataclass
class Holdout:
    """Shares and the would-win log live in the store (they survive a restart); ``shares`` is read at start."""

    store: Store
    default_share: float = 0.0
    seed: int = 0
    # evaluation only (bench/forecast.py): also keep, per exposed win, the slate served without the campaign
    shadow: bool = False
    shares: dict[str, float] = field(init=False)
    shadow_log: list[tuple[str, str, IntArray]] = field(init=False, default_factory=list)
    # shared serving: the log is buffered and written by the follower (module note); else written per batch
    deferred: bool = field(init=False, default=False)
    dropped: int = field(init=False, default=0)  # entries dropped from a full buffer (the database away)
    _keys: dict[str, int] = field(init=False, default_factory=dict)
    _buffer: list[HoldoutEntry] = field(init=False, default_factory=list)
    _buffer_lock: threading.Lock = field(init=False, default_factory=threading.Lock)
    _flush_lock: threading.Lock = field(init=False, default_factory=threading.Lock)  # one write at a time

    def __post_init__(self) -> None:
        self._check(self.default_share)
        self.shares = self.store.holdout_shares()

    @staticmethod
    def _check(share: float) -> None:
        if not 0.0 <= float(share) <= 1.0:
            raise ValidationError(f"holdout share must lie in [0, 1], got {share}")

    def set_share(self, campaign_id: str, share: float) -> None:
        """The campaign's holdout share from now on (0 = none; the default applies to campaigns not set)."""
        self._check(share)
        self.store.put_holdout_share(campaign_id, float(share))
        self.shares[campaign_id] = float(share)

    def share_of(self, campaign_id: str) -> float:
        return self.shares.get(campaign_id, self.default_share)

    def _key(self, campaign_id: str) -> int:
        k = self._keys.get(campaign_id)
        if k is None:
            k = self._keys[campaign_id] = key64(campaign_id)
        return k

    def auction(
        self, ab: AuctionBatch, batch: RequestBatch, campaign_ids: Sequence[str], config: AuctionConfig
    ) -> AuctionResult:
        """``run_auction`` with the holdout applied (see the module docstring)."""
        res = run_auction(ab, batch.slots, config)
        if self.default_share <= 0.0 and not any(v > 0.0 for v in self.shares.values()):
            return res
        share = np.append(np.array([self.share_of(c) for c in campaign_ids], dtype=np.float64), 0.0)
        if not (share > 0).any() or not res.promoted.any():
            return res
        camp_of = ab.campaign
        won = np.where(res.promoted, np.take_along_axis(camp_of, np.maximum(res.slot, 0), axis=1), -1)
        rows = np.flatnonzero((share[won] > 0).any(axis=1))
        if not len(rows):
            return res
        active = np.flatnonzero(share[:-1] > 0)
        col_of = np.full(len(share), -1, dtype=np.int64)
        col_of[active] = np.arange(len(active))
        u = holdout_uniform(
            self.seed,
            [self._key(campaign_ids[int(c)]) for c in active],
            [key64(batch.request_ids[int(r)]) for r in rows],
        )
        ab_rows = _rows(ab, rows)
        res_rows = _rows(res, rows)
        ts = int(batch.ts_ms)
        log: list[HoldoutEntry] = []
        removed = np.zeros(ab_rows.campaign.shape, dtype=bool)
        # a withheld ad's slot may go to another held-out campaign: repeat until none wins (each round removes
        # at least one campaign from every row it re-runs, so this ends)
        for _ in range(len(active) + 1):
            col = np.maximum(res_rows.slot, 0)
            wc = np.where(res_rows.promoted, np.take_along_axis(ab_rows.campaign, col, axis=1), -1)
            ac = col_of[np.where(wc >= 0, wc, len(share) - 1)]
            draw = np.where(ac >= 0, np.take_along_axis(u, np.maximum(ac, 0), axis=1), 1.0)
            held = (ac >= 0) & (draw < share[wc])
            if not held.any():
                break
            cost = res_rows.price_cpc_micros * np.take_along_axis(ab_rows.pctr, col, axis=1)
            drop = np.zeros(ab_rows.campaign.shape, dtype=bool)
            for i, (c, spent) in _per_row_campaign(held, wc, cost):
                log.append(
                    HoldoutEntry(batch.request_ids[int(rows[i])], campaign_ids[c], True, ts, round(spent))
                )
                drop[i] |= ab_rows.campaign[i] == c
            removed |= drop
            ab_rows = _withheld(ab_rows, removed)
            res_rows = run_auction(ab_rows, batch.slots, config)
        # exposed wins of campaigns under holdout, after every withheld ad has been replaced
        col = np.maximum(res_rows.slot, 0)
        wc = np.where(res_rows.promoted, np.take_along_axis(ab_rows.campaign, col, axis=1), -1)
        on = (wc >= 0) & (share[wc] > 0)
        cost = res_rows.price_cpc_micros * np.take_along_axis(ab_rows.pctr, col, axis=1)
        exposed = list(_per_row_campaign(on, wc, cost))
        for i, (c, spent) in exposed:
            log.append(
                HoldoutEntry(batch.request_ids[int(rows[i])], campaign_ids[c], False, ts, round(spent))
            )
        self._append(log)
        if self.shadow and exposed:
            self._shadow(ab_rows, rows, exposed, batch, campaign_ids, config)
        return _splice(res, rows, res_rows)

    def _append(self, log: list[HoldoutEntry]) -> None:
        """A batch's entries: written now, or (deferred) buffered for the follower's next round."""
        if not self.deferred:
            self.store.append_holdout_entries(log)
            return
        if not log:
            return
        with self._buffer_lock:
            self._buffer.extend(log)
            self._bound()

    def _bound(self) -> None:
        """Drop the oldest entries past :data:`MAX_BUFFERED` (under the buffer lock)."""
        over = len(self._buffer) - MAX_BUFFERED
        if over > 0:
            del self._buffer[:over]
            if not self.dropped:
                _log.warning("holdout log: the buffer is full (the database away?); dropping the oldest")
            self.dropped += over

    def flush(self) -> None:
        """Write the buffered entries (one insert). When the write fails they go back into the buffer, ahead of
        what came meanwhile, and the error is raised."""
        with self._flush_lock:
            with self._buffer_lock:
                out, self._buffer = self._buffer, []
            if not out:
                return
            try:
                self.store.append_holdout_entries(out)
            except BaseException:
                with self._buffer_lock:
                    self._buffer[:0] = out
                    self._bound()
                raise

    def _shadow(
        self,
        ab_rows: AuctionBatch,
        rows: np.ndarray,
        exposed: list[tuple[int, tuple[int, float]]],
        batch: RequestBatch,
        campaign_ids: Sequence[str],
        config: AuctionConfig,
    ) -> None:
        """For evaluation only: the slate each exposed request would have shown without the campaign (the
        auction re-run as for a ghost win), kept in ``shadow_log`` as candidate product rows ``[S]``."""
        at = np.array([i for i, _ in exposed], dtype=np.int64)
        gone = np.array([c for _, (c, _) in exposed], dtype=np.int64)
        sub = _rows(ab_rows, at)
        drop = sub.campaign == gone[:, None]
        sub = _withheld(sub, drop)
        cf = run_auction(sub, batch.slots, config)
        prod = np.where(cf.slot >= 0, np.take_along_axis(sub.product, np.maximum(cf.slot, 0), axis=1), -1)
        for k, (i, (c, _)) in enumerate(exposed):
            self.shadow_log.append((batch.request_ids[int(rows[i])], campaign_ids[c], prod[k].copy()))

    def entries(self, campaign_id: str, start_ms: int, end_ms: int) -> list[HoldoutEntry]:
        self.flush()  # this process's buffered entries first (shared serving)
        return self.store.holdout_entries(campaign_id, start_ms, end_ms)

    def prune(self, now_ms: int, retention_days: int = HOLDOUT_RETENTION_DAYS) -> int:
        """Delete the entries older than ``retention_days`` before ``now_ms``; returns how many went."""
        if retention_days < 1:
            raise ValidationError(f"retention_days must be ≥ 1, got {retention_days}")
        self.flush()
        return self.store.prune_holdout_entries(int(now_ms) - retention_days * DAY_MS)

    @staticmethod
    def outcomes(
        entries: Sequence[HoldoutEntry], product_ids: Iterable[str], events: Iterable[Event]
    ) -> tuple[list[int], list[int], int]:
        """(exposed outcomes, ghost outcomes, expected ad revenue of the ghost wins): the outcome of a logged
        request is the order value (micros) of the campaign's products bought on clicks from that request."""
        products = set(product_ids)
        wanted = {e.request_id for e in entries}
        click_req: dict[str, str] = {}
        value: dict[str, int] = {}
        for ev in events:
            if ev.kind is EventKind.CLICK and ev.request_id in wanted and ev.product_id in products:
                click_req[ev.id] = ev.request_id
            elif ev.kind is EventKind.ORDER and ev.click_id is not None and ev.click_id in click_req:
                r = click_req[ev.click_id]
                value[r] = value.get(r, 0) + int(ev.order_value_micros)
        exposed = [value.get(e.request_id, 0) for e in entries if not e.ghost]
        ghosts = [value.get(e.request_id, 0) for e in entries if e.ghost]
        cost = round(sum(e.expected_cost_micros for e in entries if e.ghost))
        return exposed, ghosts, cost


def _per_row_campaign(
    mask: np.ndarray, camp: np.ndarray, cost: np.ndarray
) -> Iterable[tuple[int, tuple[int, float]]]:
    """(row, (campaign, summed cost)) once per (row, campaign) among the ``mask``ed slots."""
    ri, si = np.nonzero(mask)
    seen: dict[tuple[int, int], float] = {}
    for r, s in zip(ri.tolist(), si.tolist(), strict=True):
        k = (r, int(camp[r, s]))
        seen[k] = seen.get(k, 0.0) + float(cost[r, s])
    for (r, c), v in seen.items():
        yield r, (c, v)


def _withheld(ab: AuctionBatch, mask: np.ndarray) -> AuctionBatch:
    """``ab`` with the promoted bids under ``mask`` taken out: those candidates stay, as organic ones."""
    return replace(ab, bid=np.where(mask, 0.0, ab.bid), campaign=np.where(mask, -1, ab.campaign))


def _rows(x: _Rows, rows: np.ndarray) -> _Rows:
    """``x`` cut to ``rows``: every ``[R, …]`` array field (an AuctionBatch's ``examination`` is per position and
    stays)."""
    cut = {f.name: getattr(x, f.name) for f in fields(x)}
    return replace(x, **{k: v[rows] for k, v in cut.items() if isinstance(v, np.ndarray) and v.ndim == 2})


def _splice(res: AuctionResult, rows: np.ndarray, sub: AuctionResult) -> AuctionResult:
    """``res`` with ``rows`` replaced by ``sub``'s (fresh arrays: ``res`` is left as it was)."""
    out = {}
    for f in fields(res):
        a = getattr(res, f.name).copy()
        a[rows] = getattr(sub, f.name)
        out[f.name] = a
    return replace(res, **out)


@dataclass
class TrafficSample:
    """The most recent served requests (at most ``max_requests``), for replays: what was asked, when."""

    max_requests: int = 20_000
    _batches: deque[RequestBatch] = field(init=False, default_factory=deque)
    _n: int = field(init=False, default=0)

    def note(self, batch: RequestBatch) -> None:
        if not len(batch.request_ids):
            return
        self._batches.append(batch)
        self._n += len(batch.request_ids)
        while self._batches and self._n - len(self._batches[0].request_ids) >= self.max_requests:
            self._n -= len(self._batches.popleft().request_ids)

    @property
    def requests(self) -> int:
        return self._n

    def batches(self) -> list[RequestBatch]:
        return list(self._batches)

    def daily_requests(self) -> float:
        """Requests per day at the sampled rate: the window's count over its time span (at least one tick of
        15 minutes), or the count itself when everything arrived at one instant."""
        if not self._batches:
            return 0.0
        span = self._batches[-1].ts_ms - self._batches[0].ts_ms
        if span <= 0:
            return float(self._n)
        # the last batch's own duration is unknown: count it as one mean inter-batch gap
        gap = span / max(len(self._batches) - 1, 1)
        return float(self._n) * DAY_MS / (span + gap)


def campaign_incrementality(
    store: Store,
    holdout: Holdout,
    campaign_id: str,
    start_ms: int,
    end_ms: int,
    window_ms: int,
    level: float = 0.95,
) -> Incrementality:
    """The campaign's holdout estimate over ``[start_ms, end_ms)``: the logged wins of the period, the clicks of
    the period and the orders up to ``window_ms`` after it; spend = the campaign's clicked prices in the period."""
    campaign = store.get_campaign(campaign_id)
    if campaign is None:
        raise NotFound(f"campaign {campaign_id} not found")
    if end_ms <= start_ms:
        raise ValidationError("end_ms must be after start_ms")
    entries = holdout.entries(campaign_id, start_ms, end_ms)
    clicks = store.events_between(start_ms, end_ms, [EventKind.CLICK.value])
    orders = store.events_between(start_ms, end_ms + window_ms, [EventKind.ORDER.value])
    exposed, ghosts, cost = Holdout.outcomes(entries, campaign.product_ids, [*clicks, *orders])
    spend = sum(int(e.price_micros) for e in clicks if e.campaign_id == campaign_id)
    prices = [int(p.price_micros) for p in map(store.get_product, campaign.product_ids) if p is not None]
    return estimate(
        campaign_id,
        exposed,
        ghosts,
        spend,
        holdout_share=holdout.share_of(campaign_id),
        holdout_cost_micros=cost,
        level=level,
        order_value_micros=float(np.mean(prices)) if prices else 0.0,
    )


def window_incremental_roi(
    store: Store, holdout: Holdout, window_ms: int
) -> Callable[[str, tuple[int, int]], Estimate[float] | None]:
    """What settlement judges a guarantee on incremental ROI with: a guarantee window's (first day index, days)
    → the campaign's incremental ROI over those days at ``INCREMENTAL_LEVEL`` (None: not estimable)."""

    def roi(campaign_id: str, window: tuple[int, int]) -> Estimate[float] | None:
        start, end = window[0] * DAY_MS, (window[0] + window[1]) * DAY_MS
        inc = campaign_incrementality(store, holdout, campaign_id, start, end, window_ms, INCREMENTAL_LEVEL)
        return inc.incremental_roi

    return roi
