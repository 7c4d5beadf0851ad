"""The follower: one thread per serving process that does the shared-serving store I/O off the serve path.

Several serving processes over one database (``sitewide serve --workers N``, see
:mod:`sitewide.domain.budget_lease`) must follow each other's campaign changes, read the day's spend across
processes and draw budget leases. Done inside a request (as the engine does in one process over its own store)
each is a database round trip on the worker's event loop, which serves every request of the worker: while the
database is slow (a restart, a long checkpoint, a lock on a lease row) every request waits for it. Measured
(in process, PostgreSQL with 300 ms added to each shared-state call, one request every 10 ms): the serve call's
p99 was 606 ms, its max 610 ms — the poll's two reads, once a second.

The follower does it instead, on its own thread:

- every ``campaign_poll_ms`` (and at once when PostgreSQL's NOTIFY says the campaigns changed) it reads the
  campaigns' version and, when another process changed them, the campaigns and experiments, all without a
  lock; the new state is then installed under the serving state lock (pacer reconcile and indexes: well under
  a millisecond for the bench's 50 campaigns);
- at the same polls it reads today's spend across processes (:meth:`Pacer.refresh_begin` / ``refresh_end``
  keep what this process ingested meanwhile);
- whenever a serve batch finds a campaign holding less than half a slice unused, it is woken and draws the
  slices of all such campaigns in one transaction (prefetch: the serve path goes on admitting on what is left
  and never waits for the draw);
- leases to give back (a new day, a deleted campaign, a grant that came after its day) are returned from here;
- what the serve path buffers for the store (:attr:`Follower.writes`: the holdout log) is written at every
  round, and once more when it stops;
- at the polls, the other facts the serve path uses are read (:attr:`Follower.reads`: the bidders' window aims,
  :meth:`sitewide.engine.value.ValueBook.refresh`);
- at start (and when a request comes for a day not read yet) today's stored clicks are read
  (:meth:`CampaignBook.read_seed`): the pacer's first day starts from them, and no campaign is admitted before.

A store call that fails (the database away) is logged and tried again after a second; meanwhile the serve path
keeps answering from memory, and once the spend read is older than ``2 × campaign_poll_ms`` it admits no leased
campaign (organic results only), which keeps the overspend bound stated in time (see the lease module's note).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sitewide.engine.campaigns import CampaignBook

_log = logging.getLogger(__name__)

RETRY_S = 1.0  # after a failed store call
NOTICE_S = 0.1  # how often the thread looks at the change feed between polls


class Follower:
    """The follower of ``book`` (module note); ``lock``: the serving state lock, held only to read or change
    the book's state, never across a store call. :meth:`step` is one round, callable by hand (tests)."""

    def __init__(self, book: CampaignBook, lock: AbstractContextManager[object], poll_s: float) -> None:
        self.book = book
        self.lock = lock
        self.poll_s = max(poll_s, 0.01)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failing = False  # the last round failed (logged once until a round succeeds)
        # writes of what the serve path buffered (each takes its own lock, not the state lock): every round
        self.writes: list[Callable[[], None]] = []
        # reads of facts the serve path uses as last read (each replaces its facts whole): at every poll, with the
        # day the serve path is on
        self.reads: list[Callable[[int], object]] = []

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="campaign-follower", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """From the serve path: a campaign wants a slice, or the spend read is stale (cheap when already
        woken)."""
        if not self._wake.is_set():
            self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)
        for write in self.writes:  # a clean shutdown leaves nothing buffered
            try:
                write()
            except Exception:  # noqa: BLE001 - kept buffered; the owner's next read or write retries it
                _log.warning("shared serving state: a buffered write failed at stop", exc_info=True)

    def step(self, poll: bool = True) -> None:
        """Return what is owed; (``poll``) follow the campaigns and read the facts; read the first day's clicks
        when wanted; (``poll``, or that day just started) read the shared spend; top up the slices the serve path
        asked for; write what the serve path buffered."""
        book, store = self.book, self.book.store
        with self.lock:
            owed = book.pacer.take_returns()
        try:
            for day, unused in owed:
                store.return_budgets(day, unused)
                owed = owed[1:]
        finally:
            if owed:  # not returned yet: again at the next round
                with self.lock:
                    book.pacer.pending[:0] = owed
        if poll:
            read = book.changed_elsewhere()
            if read is not None:
                with self.lock:
                    if book.newer(read):
                        book.install(read)
            with self.lock:
                day = book.serving_day()
            for fact in self.reads:
                fact(day)
        with self.lock:
            day_wanted = book.seed_wanted()
        started = False
        if day_wanted is not None:
            seed = book.read_seed(day_wanted)
            with self.lock:
                started = book.seed(seed)
        if poll or started:
            with self.lock:
                begun = book.pacer.refresh_begin()
            if begun is not None:
                rows = store.day_draws(begun[0])
                with self.lock:
                    book.pacer.refresh_end(begun, rows)
        with self.lock:
            day, draws = book.pacer.refill_plan()
        if draws:
            got = store.draw_budgets(day, draws)
            with self.lock:
                book.pacer.refilled(day, got)
        for write in self.writes:
            write()

    def _run(self) -> None:
        next_poll = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            poll = now >= next_poll or self.book.feed_fired()
            with self.lock:  # a stale spend read (a new day, a failed read) is read again at once
                poll = poll or (self.book.pacer.day >= 0 and self.book.pacer.stale())
            if poll:
                next_poll = now + self.poll_s
            try:
                self.step(poll)
            except Exception:  # noqa: BLE001 - the database away: the serve path goes on from memory
                if not self.failing:
                    _log.warning("shared serving state: a store call failed; retrying", exc_info=True)
                self.failing = True
                next_poll = 0.0
                self._stop.wait(RETRY_S)
                continue
            if self.failing:
                _log.warning("shared serving state: the store answers again")
                self.failing = False
            self._wake.wait(max(0.0, min(NOTICE_S, next_poll - time.monotonic())))
            self._wake.clear()
