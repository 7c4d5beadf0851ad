"""The campaigns serving follows: which campaign bids for each product, the pacer (bidders and today's
spend), and the merchants' experiments."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sitewide.domain.experiments import Experiment
from sitewide.domain.time import DAY_MS, day_bounds, day_of
from sitewide.domain.types import (
    BoolArray,
    Campaign,
    CampaignStatus,
    Event,
    EventKind,
    FloatArray,
    IntArray,
    NotFound,
    ValidationError,
)
from sitewide.engine.catalogue import Catalogue
from sitewide.engine.config import EngineConfig
from sitewide.engine.pacing import MakeBidder, Pacer
from sitewide.experimentation import ExperimentRouter
from sitewide.ports import ChangeFeed, Clock, Store

if TYPE_CHECKING:
    from sitewide.engine.follower import Follower

CAMPAIGNS = "campaigns"  # the store's version counter of the campaigns
CLICK_MEMORY = 1_000_000  # today's click ids a process remembers (~12 MB; the day's change clears them)


@dataclass(frozen=True, slots=True)
class DaySeed:
    """A day's stored clicks as the follower read them (shared serving), for the pacer's first day in this
    process: spend by campaign id, and the clicks (id → campaign) for the pacer's order feedback."""

    day: int
    spent: dict[str, int]
    clicks: ClickMemory


@dataclass(frozen=True, slots=True)
class CampaignsRead:
    """The campaigns and experiments as read from the store, under the campaigns ``version`` read before them
    (None: not followed)."""

    version: int | None
    campaigns: list[Campaign]
    experiments: list[Experiment]


CLICK_RUN = 4096  # clicks a generation keeps in a dict before they go to a sorted run


class _Clicks:
    """One generation of :class:`ClickMemory`: the newest clicks in a dict (id hash → campaign code), the rest in
    sorted runs of numpy arrays (int64 id hashes, int32 campaign codes: 12 bytes a click), merged as they come
    so that their sizes stay geometric (a lookup searches O(log n) runs, newest first)."""

    def __init__(self) -> None:
        self.recent: dict[int, int] = {}
        self.runs: list[tuple[IntArray, np.ndarray]] = []
        self.size = 0

    def add(self, h: int, code: int) -> None:
        self.recent[h] = code
        self.size += 1
        if len(self.recent) >= CLICK_RUN:
            keys = np.fromiter(self.recent.keys(), np.int64, len(self.recent))
            codes = np.fromiter(self.recent.values(), np.int32, len(self.recent))
            self.recent = {}
            while self.runs and len(self.runs[-1][0]) <= len(keys):  # sizes in powers of two; older first (stable)
                k0, c0 = self.runs.pop()
                keys, codes = np.concatenate((k0, keys)), np.concatenate((c0, codes))
            order = np.argsort(keys, kind="stable")
            self.runs.append((keys[order], codes[order]))

    def get(self, h: int) -> int | None:
        if (code := self.recent.get(h)) is not None:
            return code
        for keys, codes in reversed(self.runs):
            i = int(np.searchsorted(keys, h, side="right")) - 1  # the newest of equal hashes
            if i >= 0 and int(keys[i]) == h:
                return int(codes[i])
        return None


class ClickMemory:
    """Today's clicks (id → campaign) for the pacer's order feedback, at most ``CLICK_MEMORY`` of them, ~12 bytes
    each in sorted numpy runs (:class:`_Clicks`; 70–88 bytes as a dict of hashes to campaign-id strings, and 210
    as an OrderedDict of id strings, measured with tracemalloc: a 10-minute soak's servers grew RSS by that per
    click, ~40 of the 78 MB it grew). A click is kept under its id's hash (this process's 64-bit ``hash``: two of
    a million ids collide with odds ~3e-8, and then an order's GMV reaches the wrong campaign's in-day pacing
    signal only; settlement reads the store), with a code for the campaign's id. Two generations: when the newer
    holds half the cap it becomes the older and the older is forgotten — oldest first, half the cap at a time."""

    def __init__(self) -> None:
        self._new, self._old = _Clicks(), _Clicks()
        self._names: list[str] = []  # campaign code → id
        self._codes: dict[str, int] = {}

    def remember(self, click_id: str, campaign_id: str) -> None:
        if self._new.size >= max(1, CLICK_MEMORY // 2):
            self._old, self._new = self._new, _Clicks()
        if (code := self._codes.get(campaign_id)) is None:
            code = self._codes[campaign_id] = len(self._names)
            self._names.append(campaign_id)
        self._new.add(hash(click_id), code)

    def campaign(self, click_id: str) -> str | None:
        h = hash(click_id)
        code = self._new.get(h)
        if code is None:
            code = self._old.get(h)
        return None if code is None else self._names[code]

    def __len__(self) -> int:
        return self._new.size + self._old.size


class CampaignBook:
    """Campaigns in store order; row ``i`` of ``multiplier``/``active`` is ``campaigns[i]``."""

    def __init__(
        self, store: Store, config: EngineConfig, clock: Clock, catalogue: Catalogue, make_bidder: MakeBidder
    ) -> None:
        self.store = store
        self.make_bidder = make_bidder
        self.config = config
        self.clock = clock
        self.catalogue = catalogue
        self.campaigns: list[Campaign] = []
        self.row: dict[str, int] = {}
        self.multiplier: FloatArray = np.zeros(0)
        self.active: BoolArray = np.zeros(0, dtype=bool)
        self.product_campaign: IntArray = np.zeros(0, dtype=np.int64)
        self._pacer: Pacer | None = None
        self.clicks = ClickMemory()  # today's click id → campaign (≤ CLICK_MEMORY)
        self._experiments: ExperimentRouter | None = None
        self._version = -1  # the store's campaigns version this book was loaded at
        self._next_poll = 0.0  # monotonic time of the next look for another process's changes
        self.wall: Callable[[], float] = time.monotonic  # seconds, for the poll (tests set their own)
        self._feed: ChangeFeed | None = None  # pushed notice of another process's change (PostgreSQL)
        self.follower: Follower | None = None  # the polls' and lease draws' thread (shared serving)
        # shared serving: the pacer's first day starts from the day's stored clicks as the follower read them
        # (advance), asked for by the first request of a day no seed is read for (its time: _want_ts)
        self._seed: DaySeed | None = None
        self._want_ts: int | None = None
        self._early: dict[str, tuple[str, int, int]] = {}  # clicks fed before that: id → (campaign, price, ts)

    @property
    def ids(self) -> list[str]:
        return [c.id for c in self.campaigns]

    def reload(self) -> None:
        """Re-read the campaigns; only a changed campaign's bidder restarts (every campaign keeps today's
        spend, no rescan)."""
        self.install(self.read())

    def read(self) -> CampaignsRead:
        """What :meth:`install` needs from the store (the store I/O of a reload; no state of this book)."""
        version = None
        if self.config.pacing.campaign_poll_ms is not None:
            if self._feed is None:  # listen before reading: a change after this read is not missed
                self._feed = self.store.changes(CAMPAIGNS)
            version = self.store.store_version(CAMPAIGNS)  # read before the rows: never newer
        return CampaignsRead(version, self.store.list_campaigns(), self.store.list_experiments())

    def install(self, read: CampaignsRead) -> None:
        """Serve the campaigns ``read`` from the store (under the serving state lock)."""
        if read.version is not None:
            self._version = read.version
        camps = read.campaigns
        self.campaigns = camps
        self.row = {c.id: i for i, c in enumerate(camps)}
        self.multiplier = np.array([1.0 / float(c.target_roi) for c in camps], dtype=np.float64)
        self.active = np.array([c.status is CampaignStatus.ACTIVE for c in camps], dtype=bool)
        if self._pacer is None:
            reserve = self.config.auction.reserve_cpc_micros
            self._pacer = Pacer(camps, self.config.pacing, reserve, self.make_bidder, self.store)
            self.clicks = ClickMemory()
        else:
            self._pacer.reconcile(camps)
        # each product's campaign: the active one with the highest multiplier (a product may be in several)
        best = np.full(len(self.catalogue.products), -1, dtype=np.int64)
        for ci, c in enumerate(camps):
            if not self.active[ci]:
                continue
            for pid in c.product_ids:
                r = self.catalogue.row.get(pid)
                if r is not None and (best[r] < 0 or self.multiplier[ci] > self.multiplier[best[r]]):
                    best[r] = ci
        self.product_campaign = best
        self._experiments = ExperimentRouter.load(
            self.store, self.ids, self.catalogue.ids, self.clock.now_ms(), self._experiments, read.experiments
        )

    @property
    def background(self) -> bool:
        """Polls, spend reads and lease draws are the follower thread's (:mod:`sitewide.engine.follower`)."""
        return self.follower is not None

    def follow_in_background(self, lock: AbstractContextManager[object], *, start: bool = True) -> Follower:
        """Hand the polls, the shared spend reads and the lease draws and returns to a follower thread (with
        leases and a poll only); ``lock``: the serving state lock it takes to read and change this book.
        ``start``: run its thread (tests step it by hand)."""
        assert self.config.pacing.leases is not None and self.config.pacing.campaign_poll_ms is not None
        from sitewide.engine.follower import Follower

        self.follower = Follower(self, lock, self.config.pacing.campaign_poll_ms / 1000)
        self.pacer.deferred, self.pacer.wake = True, self.follower.wake
        if start:
            self.follower.start()
        return self.follower

    def stop_following(self) -> None:
        """Stop the follower thread (not under the lock it takes); serving goes on synchronously."""
        if self.follower is not None:
            self.follower.stop()

    def changed_elsewhere(self) -> CampaignsRead | None:
        """The follower's poll (no lock held): the campaigns as the store has them now when another process
        changed them since this book's version, else None."""
        version = self.store.store_version(CAMPAIGNS)
        if version == self._version:
            return None
        return CampaignsRead(version, self.store.list_campaigns(), self.store.list_experiments())

    def newer(self, read: CampaignsRead) -> bool:
        """Whether ``read`` is newer than what this book serves (an edit through this process may have been
        installed since the follower read it)."""
        return read.version is not None and read.version > self._version

    def feed_fired(self) -> bool:
        return self._feed is not None and self._feed.fired()

    def follow(self, *, now: bool = False) -> bool:
        """Reload when another serving process changed the campaigns: the store's version is read at most
        every ``campaign_poll_ms`` (``now``: at once), so a change reaches this process within that delay
        plus one batch — on PostgreSQL at the next batch after its NOTIFY arrives (the poll stays as the
        fallback); the day's spend across processes is read at the same polls. Returns whether it
        reloaded."""
        poll = self.config.pacing.campaign_poll_ms
        if poll is None:
            return False
        if self._feed is not None and self._feed.fired():
            now = True
        t = self.wall()
        if not now and t < self._next_poll:
            return False
        self._next_poll = t + poll / 1000
        if self._pacer is not None and not self.background:
            self._pacer.refresh_shared()  # today's spend across processes (else the follower's)
        if self.store.store_version(CAMPAIGNS) == self._version:
            return False
        self.reload()
        return True

    def known_elsewhere(self, campaign_id: str) -> bool:
        """A campaign this process has not loaded yet but the store holds (created by another process)."""
        return (
            self.config.pacing.campaign_poll_ms is not None
            and self.store.get_campaign(campaign_id) is not None
        )

    def release(self) -> None:
        """Return this process's unused budget leases (before it stops)."""
        if self._pacer is not None:
            self._pacer.release()

    def close(self) -> None:
        """Before the process stops: return the leases and stop listening for changes. Serving again
        afterwards still works (it draws anew and follows by polling, on the serving thread)."""
        if self.follower is not None:
            self.follower.stop()  # before the caller takes its lock, see Engine.close; idempotent
            self.follower = None
            self.pacer.deferred, self.pacer.wake = False, lambda: None
        self.release()
        if self._feed is not None:
            self._feed.close()
            self._feed = None

    def reload_experiments(self) -> None:
        """Re-read the merchants' experiments (arms, caps, winners) that serving follows."""
        self._experiments = ExperimentRouter.load(
            self.store, self.ids, self.catalogue.ids, self.clock.now_ms(), self._experiments
        )

    @property
    def experiments(self) -> ExperimentRouter:
        assert self._experiments is not None, "reload() first"
        return self._experiments

    @property
    def pacer(self) -> Pacer:
        assert self._pacer is not None, "reload() first"
        return self._pacer

    def _check_products(self, campaign: Campaign) -> None:
        unknown = [p for p in campaign.product_ids if p not in self.catalogue.row]
        if unknown:
            raise ValidationError(f"unknown product ids: {', '.join(unknown[:5])}")

    def add(self, campaign: Campaign) -> None:
        """Validate against the catalogue, store, and start serving it."""
        self._check_products(campaign)
        self.store.create_campaign(campaign)
        self.reload()

    def update(self, campaign: Campaign) -> None:
        """Change a campaign (pause/resume, target, budget, products); serving follows at once."""
        self._check_products(campaign)
        if self.store.get_campaign(campaign.id) is None:
            raise NotFound(f"campaign {campaign.id} not found")
        self.store.update_campaign(campaign, self.clock.now_ms())
        self.reload()  # restarts only this campaign's bidder

    def advance(self, ts_ms: int) -> None:
        """Move the pacer to ``ts_ms``'s tick. Only the first time (a restarted engine) is today's spend read
        from the stored clicks; afterwards the pacer keeps it from the events fed in. In the background (the
        follower's) no store I/O here: that first read is the follower's (:meth:`seed_wanted`), and until it is
        in, the pacer has no day and no campaign is admitted (the requests get organic results; the losers
        count as ``lease_pending``)."""
        if not self.background:
            self.follow()
        pacer = self.pacer
        if pacer.day < 0 and self.background:
            spent = self._seeded(ts_ms // DAY_MS)
            if spent is None:
                if self._want_ts is None:
                    self._want_ts = ts_ms
                assert self.follower is not None
                self.follower.wake()
                return
            pacer.advance(ts_ms, spent)
            return
        spent = None
        if ts_ms // DAY_MS != pacer.day:
            self.clicks = ClickMemory()
        if pacer.day < 0:
            spent = np.zeros(len(self.campaigns), dtype=np.int64)
            start, end = day_bounds(day_of(ts_ms))
            for e in self.store.events_between(start, end, [EventKind.CLICK.value]):
                ci = self.row.get(e.campaign_id or "")
                if ci is not None:
                    spent[ci] += int(e.price_micros)
                    self._remember_click(e.id, self.campaigns[ci].id)
        pacer.advance(ts_ms, spent)

    # shared serving: the first day's stored clicks, read by the follower -----------------------------
    def seed_wanted(self) -> int | None:
        """The day whose stored clicks the follower should read (under the state lock): the day a request asked
        for, or at start the clock's; None once the pacer has a day or that day's seed is read."""
        if self._pacer is None or self._pacer.day >= 0:
            return None
        day = self.serving_day()
        return None if self._seed is not None and self._seed.day == day else day

    def serving_day(self) -> int:
        """The day the serve path is on: the pacer's, else the one a request asked for, else the clock's."""
        if self._pacer is not None and self._pacer.day >= 0:
            return self._pacer.day
        return (self._want_ts if self._want_ts is not None else self.clock.now_ms()) // DAY_MS

    def read_seed(self, day: int) -> DaySeed:
        """The follower's read of ``day``'s stored clicks (no lock held)."""
        spent: dict[str, int] = {}
        clicks = ClickMemory()
        start, end = day_bounds(day_of(day * DAY_MS))
        for e in self.store.events_between(start, end, [EventKind.CLICK.value]):
            if e.campaign_id:
                spent[e.campaign_id] = spent.get(e.campaign_id, 0) + int(e.price_micros)
                clicks.remember(e.id, e.campaign_id)
        return DaySeed(day, spent, clicks)

    def seed(self, got: DaySeed) -> bool:
        """Keep the follower's read (under the state lock); when a request of that day is waiting for it, start
        the pacer's day at once (at that request's time). Returns whether it started."""
        self._seed = got
        ts = self._want_ts
        if ts is None or ts // DAY_MS != got.day or self._pacer is None or self._pacer.day >= 0:
            return False
        spent = self._seeded(got.day)
        assert spent is not None
        self._pacer.advance(ts, spent)
        return True

    def _seeded(self, day: int) -> IntArray | None:
        """Today's spend by campaign row from the seed of ``day`` and the clicks fed since it was read (each click
        once: a fed click the read saw is not added again), its clicks remembered; None: no seed of that day."""
        got = self._seed
        if got is None or got.day != day:
            return None
        spent = np.zeros(len(self.campaigns), dtype=np.int64)
        for cid, amount in got.spent.items():
            ci = self.row.get(cid)
            if ci is not None:
                spent[ci] += amount
        self.clicks = got.clicks
        for click_id, (cid, price, ts) in self._early.items():
            ci = self.row.get(cid)
            if ts // DAY_MS == day and ci is not None and got.clicks.campaign(click_id) is None:
                spent[ci] += price
                self._remember_click(click_id, cid)
        self._seed, self._want_ts, self._early = None, None, {}
        return spent

    def share_spend(self, fresh: list[Event]) -> None:
        """With leases: add the cost of the clicks this process ingested to the day's shared spend."""
        if self.config.pacing.leases is None:
            return
        by_day: dict[int, dict[str, int]] = {}
        for e in fresh:
            if e.kind is EventKind.CLICK and e.campaign_id and e.price_micros:
                d = by_day.setdefault(e.ts_ms // DAY_MS, {})
                d[e.campaign_id] = d.get(e.campaign_id, 0) + int(e.price_micros)
        for day, spend in by_day.items():
            self.store.add_spend(day, spend)

    def _remember_click(self, click_id: str, campaign_id: str) -> None:
        """Today's clicks, for the pacer's order feedback: the oldest are forgotten past CLICK_MEMORY (an order on
        one then misses only the pacer's in-day GMV signal; settlement reads the store). The campaign's own id
        string is kept, not the event's copy."""
        ci = self.row.get(campaign_id)
        self.clicks.remember(click_id, self.campaigns[ci].id if ci is not None else campaign_id)

    def feed(self, e: Event) -> None:
        """Today's clicks (spend) and orders on those clicks (GMV) go to the campaign's bidder; clicks to the
        experiments."""
        pacer = self.pacer
        if e.kind is EventKind.CLICK and e.campaign_id:
            if pacer.day < 0 and self.background and len(self._early) < CLICK_MEMORY:  # for the first day's seed
                self._early[e.id] = (e.campaign_id, int(e.price_micros), e.ts_ms)
            if pacer.record_click(e.campaign_id, int(e.price_micros), e.ts_ms):
                self._remember_click(e.id, e.campaign_id)
        elif e.kind is EventKind.ORDER and e.click_id and (cid := self.clicks.campaign(e.click_id)) is not None:
            pacer.record_order(cid, int(e.order_value_micros), e.ts_ms)
        self.experiments.clicked(e)
