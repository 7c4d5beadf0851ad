"""Shared serving's follower thread (sitewide.engine.follower): the serve path does no store I/O for campaign
polls, shared spend reads or lease draws, so a slow or stuck database does not stall requests; campaign
changes still arrive within the poll delay, and a spend read too old to rely on stops the leased campaigns."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scripts.pg import ENV_URL, throwaway_schema, unreachable_reason

from sitewide.domain.budget_lease import LeasePolicy
from sitewide.domain.money import Micros
from sitewide.domain.time import DAY_MS, day_bounds, day_str
from sitewide.domain.types import Campaign, CampaignStatus, Event, EventKind, Product, ServeRequest, Shop
from sitewide.engine import Engine
from sitewide.engine.config import EngineConfig
from sitewide.engine.pacing import PacingConfig
from sitewide.ports import RequestBatch
from sitewide.service.usecases.serving import serve_many
from sitewide.storage.accounts import AccountStore
from sitewide.storage.sql import SqlStore
from sitewide.wiring import seeded_engine

PG_URL = os.environ.get(ENV_URL)
PG_SKIP = unreachable_reason(PG_URL)
DAY0 = day_bounds("2026-01-05")[0]
QUERIES = ["usb flash drive", "wireless mouse", "ink cartridge", "router", "laptop sleeve", "mouse"]
SHARED_CALLS = ("store_version", "day_draws", "draw_budgets", "return_budgets", "list_campaigns")


def background(poll_ms: int) -> EngineConfig:
    return EngineConfig(
        pacing=PacingConfig(leases=LeasePolicy(100, 0), campaign_poll_ms=poll_ms, background=True)
    )


def serve(eng: Engine, step: int) -> set[str]:
    """One batch of the day's queries; the campaigns of its promoted slots."""
    n = len(QUERIES)
    out = eng.serve_batch(
        RequestBatch([f"r{step}-{i}" for i in range(n)], ["u"] * n, np.zeros(n, np.int64), QUERIES, DAY0, 4)
    )
    return {eng.campaign_ids()[int(i)] for i in out.campaign_idx[out.promoted]}


def until(cond: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def wrap(store: SqlStore, before: Callable[[str], None]) -> None:
    """Call ``before(name)`` ahead of each of the store's shared-state calls."""
    for name in SHARED_CALLS:
        inner = getattr(store, name)

        def wrapped(*a: Any, _inner: Any = inner, _name: str = name, **k: Any) -> Any:
            before(_name)
            return _inner(*a, **k)

        setattr(store, name, wrapped)


def test_a_stuck_database_does_not_stall_serving_and_stops_the_leased_campaigns(
    tmp_path: Path, shops: list[Shop], products: list[Product], campaigns: list[Campaign]
) -> None:
    """Every shared-state store call blocks (up to 5 s) while the gate is shut: requests are still answered
    in milliseconds (the old serve path polled on its own thread and waited the 5 s), with no promoted slot once
    the spend read is older than 2 polls; when the database answers again the campaigns are served again."""
    store = SqlStore.sqlite(tmp_path / "shared.sqlite")
    eng = seeded_engine(store, shops, products, campaigns, background(100))
    step = iter(range(10_000))
    assert until(lambda: bool(serve(eng, next(step))), 5.0)  # the follower drew the first slices
    gate = threading.Event()
    gate.set()
    wrap(store, lambda _name: gate.wait(5.0))
    gate.clear()
    t_shut = time.monotonic()
    took, late_ads = [], set()
    while time.monotonic() - t_shut < 1.0:
        t = time.perf_counter()
        got = serve(eng, next(step))
        took.append(time.perf_counter() - t)
        if time.monotonic() - t_shut > 0.3:  # 2 polls and a batch: the spend read is stale
            late_ads |= got
        time.sleep(0.005)
    gate.set()
    assert len(took) > 20 and max(took) < 0.25  # never the 5 s of a blocked store call
    assert not late_ads  # no leased campaign admitted on a stale spend read
    assert until(lambda: bool(serve(eng, next(step))), 5.0)  # the database is back: ads are served again
    eng.close()


@pytest.mark.parametrize("db, poll_ms", [("sqlite", 100), ("postgres", 3_600_000)])
def test_a_change_reaches_a_background_engine_within_the_poll_and_serving_reads_only_memory(
    tmp_path: Path,
    shops: list[Shop],
    products: list[Product],
    campaigns: list[Campaign],
    db: str,
    poll_ms: int,
) -> None:
    """Another engine's pause is followed within a second: on SQLite by the 100 ms poll, on PostgreSQL by its
    NOTIFY (the poll an hour away); no shared-state store call was made on the serving thread meanwhile."""
    with contextlib.ExitStack() as stack:
        if db == "sqlite":
            store = SqlStore.sqlite(tmp_path / "shared.sqlite")
        else:
            if PG_SKIP:
                pytest.skip(PG_SKIP)
            assert PG_URL is not None
            store = SqlStore(stack.enter_context(throwaway_schema(PG_URL)))
        pushed_or_polled(store, shops, products, campaigns, poll_ms)


def pushed_or_polled(
    store: SqlStore, shops: list[Shop], products: list[Product], campaigns: list[Campaign], poll_ms: int
) -> None:
    a = seeded_engine(store, shops, products, campaigns, background(poll_ms))
    b = seeded_engine(store, shops, products, campaigns, background(poll_ms))
    serving, on_serving_thread = [False], []

    def note(name: str) -> None:
        if serving[0] and threading.current_thread() is threading.main_thread():
            on_serving_thread.append(name)

    wrap(store, note)

    def served(step: int) -> set[str]:
        serving[0] = True
        try:
            return serve(b, step)
        finally:
            serving[0] = False

    step = iter(range(10_000))
    assert until(lambda: "c1" in served(next(step)), 5.0)
    a.update_campaign(replace(campaigns[0], status=CampaignStatus.PAUSED))
    t = time.monotonic()
    assert until(lambda: "c1" not in served(next(step)), 2.0)
    assert time.monotonic() - t < 1.0
    assert "c2" in set().union(*(served(next(step)) for _ in range(3)))  # the other campaign still serves
    assert on_serving_thread == []
    a.close()
    b.close()


@pytest.mark.parametrize("read_age_s, admitted", [(1.9, True), (2.1, False)])
def test_a_spend_read_older_than_two_polls_admits_no_leased_campaign(
    tmp_path: Path,
    shops: list[Shop],
    products: list[Product],
    campaigns: list[Campaign],
    read_age_s: float,
    admitted: bool,
) -> None:
    store = SqlStore.sqlite(tmp_path / "shared.sqlite")
    eng = seeded_engine(store, shops, products, campaigns, background(1000))
    eng.campaigns.stop_following()
    follower = eng.campaigns.follower
    assert follower is not None
    wall = [100.0]
    eng.campaigns.pacer.wall = lambda: wall[0]
    assert not serve(eng, 0)  # the day's first batch: nothing held, nothing read yet (the follower is asked)
    follower.step()  # reads the spend and draws the slices
    assert serve(eng, 1)
    wall[0] += read_age_s
    assert bool(serve(eng, 2)) is admitted
    follower.step()
    assert serve(eng, 3)  # a fresh read: admitted again
    eng.close()


def served_reasons(eng: Engine, accounts: AccountStore, step: int) -> tuple[set[str], dict[str, int]]:
    """One batch of the day's queries through the platform's serve path (``serve_many``, which counts the
    losses for the operator's auction-loss report): the campaigns of its promoted slots, and every campaign's
    loss counts by reason so far."""
    reqs = [ServeRequest(f"r{step}-{i}", "u", query=q, slots=4, ts_ms=DAY0) for i, q in enumerate(QUERIES)]
    results = serve_many(eng, accounts, reqs)
    shown = {s.campaign_id for r in results for s in r.slots if s.promoted and s.campaign_id}
    by_reason: dict[str, int] = {}
    for cid in ("c1", "c2"):
        for _, _, reason, n in accounts.losses(cid):
            by_reason[reason] = by_reason.get(reason, 0) + n
    return shown, by_reason


def test_a_campaign_kept_out_for_its_lease_is_counted_as_lease_pending_not_budget_exhausted(
    tmp_path: Path, shops: list[Shop], products: list[Product], campaigns: list[Campaign]
) -> None:
    """Before the follower's first read and once that read is older than 2 polls, the leased campaigns are not
    admitted: their live candidates count under ``lease_pending`` in the auction-loss report (apart from
    ``budget_exhausted``: the budgets have room); after a fresh read the same batch counts none."""
    store = SqlStore.sqlite(tmp_path / "shared.sqlite")
    eng = seeded_engine(store, shops, products, campaigns, background(1000))
    accounts = AccountStore.in_memory(eng.clock)
    eng.campaigns.stop_following()
    follower = eng.campaigns.follower
    assert follower is not None
    wall = [100.0]
    eng.campaigns.pacer.wall = lambda: wall[0]
    shown, first = served_reasons(eng, accounts, 0)  # nothing read, no slice held
    assert not shown and first.get("lease_pending", 0) > 0 and "budget_exhausted" not in first
    follower.step()  # a fresh read and the slices
    shown, fresh = served_reasons(eng, accounts, 1)
    assert shown and fresh.get("lease_pending", 0) == first["lease_pending"]  # none counted on a fresh read
    wall[0] += 2.1  # the read is now older than 2 polls (1 s each)
    shown, stale = served_reasons(eng, accounts, 2)
    assert not shown and stale["lease_pending"] > fresh["lease_pending"]
    assert stale.get("budget_exhausted", 0) == 0
    accounts.close()
    eng.close()


def test_shared_serving_writes_the_holdout_log_off_the_serving_thread_and_all_of_it_at_close(
    tmp_path: Path, shops: list[Shop], products: list[Product], campaigns: list[Campaign]
) -> None:
    """With a holdout share, a background engine's batches buffer their would-win entries: no store write on
    the serving thread; the follower's round writes them, and a clean close writes what came after its last
    round (nothing lost)."""
    store = SqlStore.sqlite(tmp_path / "shared.sqlite")
    eng = seeded_engine(store, shops, products, campaigns, replace(background(1000), holdout_share=0.5))
    eng.campaigns.stop_following()
    follower = eng.campaigns.follower
    assert follower is not None
    on_serving_thread: list[int] = []
    inner = store.append_holdout_entries

    def append(entries: Any) -> None:
        if threading.current_thread() is threading.main_thread() and entries:
            on_serving_thread.append(len(entries))
        inner(entries)

    store.append_holdout_entries = append  # type: ignore[method-assign]

    def stored() -> int:
        return sum(len(store.holdout_entries(c.id, 0, 10**15)) for c in campaigns)

    serve(eng, 0)
    follower.step()  # the slices
    for step in range(1, 6):
        serve(eng, step)
    assert on_serving_thread == [] and stored() == 0  # buffered, not written
    t = threading.Thread(target=follower.step)  # the follower's round, on its own thread
    t.start()
    t.join()
    first = stored()
    assert first > 0
    for step in range(6, 11):
        serve(eng, step)
    assert stored() == first
    eng.close()  # on the main thread, after the follower stopped: what is left is written
    assert stored() > first
    got = [e for c in campaigns for e in store.holdout_entries(c.id, 0, 10**15)]
    assert {e.request_id.split("-")[0] for e in got} >= {"r1", "r10"}  # the first and the last batch


def c1_click(eid: str, ts_ms: int, request_id: str, price: int) -> Event:
    """A click of user ``u`` on product p00, charged to campaign c1."""
    return Event(
        eid,
        EventKind.CLICK,
        ts_ms,
        user_id="u",
        product_id="p00",
        request_id=request_id,
        campaign_id="c1",
        position=1,
        price_micros=Micros(price),
    )


class Restarted:
    """A background engine (re)started on a day whose clicks another worker stored, its follower stepped by hand;
    the store's calls named ``watched`` made while a batch is served are noted in ``on_serving_thread``."""

    def __init__(
        self, tmp_path: Path, shops: list[Shop], products: list[Product], campaigns: list[Campaign], *watched: str
    ) -> None:
        self.store = store = SqlStore.sqlite(tmp_path / "shared.sqlite")
        store.upsert_shops(shops)
        store.upsert_products(products)
        # clicks another worker ingested earlier today
        store.append_events([c1_click(f"k{i}", DAY0 + 1_000 + i, f"x{i}", 250_000) for i in range(4)])
        self.eng = seeded_engine(store, shops, products, campaigns, background(1000))
        self.eng.campaigns.stop_following()
        follower = self.eng.campaigns.follower
        assert follower is not None
        self.follower = follower
        self.serving = False
        self.on_serving_thread: list[str] = []
        for name in watched:
            inner = getattr(store, name)

            def wrapped(*a: Any, _inner: Any = inner, _name: str = name, **k: Any) -> Any:
                if self.serving:
                    self.on_serving_thread.append(_name)
                return _inner(*a, **k)

            setattr(store, name, wrapped)

    def served(self, step: int, day: int = 0) -> set[str]:
        """One batch of the queries on ``DAY0 + day``: the campaigns of its promoted slots."""
        n, eng = len(QUERIES), self.eng
        batch = RequestBatch(
            [f"r{step}-{i}" for i in range(n)], ["u"] * n, np.zeros(n, np.int64), QUERIES, DAY0 + day * DAY_MS, 4
        )
        self.serving = True
        try:
            out = eng.serve_batch(batch)
        finally:
            self.serving = False
        return {eng.campaign_ids()[int(i)] for i in out.campaign_idx[out.promoted]}


def test_a_background_engines_new_day_aims_on_the_facts_the_follower_read(
    tmp_path: Path, shops: list[Shop], products: list[Product], campaigns: list[Campaign]
) -> None:
    """A new day's bidders aim on the window facts the follower read (no settlement, contract or settled-day
    read on the serving thread), and a settlement run reaches those facts at the follower's next poll."""
    r = Restarted(tmp_path, shops, products, campaigns, "last_run", "guarantees", "day_figures")
    r.served(0)
    r.follower.step()
    assert r.served(1)
    pacer = r.eng.campaigns.pacer
    r.served(2, day=1)  # the day changes: every bidder is made anew, with its window aim
    assert pacer.day == DAY0 // DAY_MS + 1 and len(pacer.bidders) == len(campaigns)
    assert r.on_serving_thread == []
    before = r.eng.values._facts
    r.eng.settle_day(day_str(DAY0 // DAY_MS))
    r.follower.step()
    after = r.eng.values._facts
    assert before is not None and after is not None and after[1] > before[1]  # settled through a later day
    r.served(3, day=1)
    assert r.on_serving_thread == []
    r.eng.close()


def test_a_restarted_background_worker_reads_todays_clicks_on_the_follower_not_the_serving_thread(
    tmp_path: Path, shops: list[Shop], products: list[Product], campaigns: list[Campaign]
) -> None:
    """A worker (re)started on a day with stored clicks: its first request makes no store read and admits no
    campaign (the day's clicks not read yet); the follower's round reads them and starts the pacer's day with
    their spend, and the next request is served with ads."""
    r = Restarted(tmp_path, shops, products, campaigns, "events_between")
    pacer = r.eng.campaigns.pacer
    assert not r.served(0) and pacer.day < 0  # the day's clicks not read yet: nothing admitted
    r.follower.step()  # reads them, starts the day, reads the shared spend, draws the slices
    assert pacer.day == DAY0 // DAY_MS
    assert int(pacer.spent[pacer.row["c1"]]) == 4 * 250_000
    assert r.served(1)
    assert r.on_serving_thread == []
    r.eng.close()


def test_clicks_ingested_before_a_background_workers_first_day_count_once(
    tmp_path: Path, shops: list[Shop], products: list[Product], campaigns: list[Campaign]
) -> None:
    """Clicks this worker ingests before its pacer's first day started: one the follower's read of the day saw
    and one it did not (ingested between the read and the start) each count once in the day's spend."""
    r = Restarted(tmp_path, shops, products, campaigns)
    book, pacer = r.eng.campaigns, r.eng.campaigns.pacer

    def click(i: int) -> Event:
        return c1_click(f"n{i}", DAY0 + 5_000 + i, f"y{i}", 100_000)

    r.eng.record_events([click(0)])  # stored and fed before the day's read
    assert not r.served(0) and pacer.day < 0
    seed = book.read_seed(DAY0 // DAY_MS)  # the follower's read (it sees n0)
    r.eng.record_events([click(1)])  # stored and fed after it
    with r.eng.serving.state_lock:
        assert book.seed(seed)  # the waiting request's day starts
    assert int(pacer.spent[pacer.row["c1"]]) == 4 * 250_000 + 2 * 100_000
    r.eng.close()
