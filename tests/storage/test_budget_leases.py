"""Two serving engines on one database: the daily budget holds across them (budget leases), and a campaign
change made through one reaches the other (version poll). SQLite and PostgreSQL."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scripts.pg import ENV_URL, throwaway_schema, unreachable_reason
from sqlalchemy import event as sa_event

from sitewide.domain.budget_lease import DayDraws, Draw, LeasePolicy, give_back, grant, overspend_bound
from sitewide.domain.money import Micros
from sitewide.domain.terms import EventRejected
from sitewide.domain.time import DAY_MS, HOUR_MS, ManualClock, day_bounds
from sitewide.domain.types import Campaign, CampaignStatus, Event, EventKind, Product, Shop, ValidationError
from sitewide.engine import Engine
from sitewide.engine.config import EngineConfig
from sitewide.engine.pacing import PacingConfig
from sitewide.ports import RequestBatch
from sitewide.storage.sql import SqlStore
from sitewide.wiring import seeded_engine

PG_URL = os.environ.get(ENV_URL)
PG_SKIP = unreachable_reason(PG_URL)
DAY0 = day_bounds("2026-01-05")[0]
SHARED = EngineConfig(pacing=PacingConfig(leases=LeasePolicy(100, 0), campaign_poll_ms=0))
BATCHES = 80  # per engine, spread over the day
QUERIES = ["usb flash drive", "wireless mouse", "ink cartridge", "router", "laptop sleeve", "mouse"]


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    if request.param == "sqlite":
        yield SqlStore.sqlite(tmp_path / "shared.sqlite")
        return
    if PG_SKIP:
        pytest.skip(PG_SKIP)
    assert PG_URL is not None
    with throwaway_schema(PG_URL) as eng:
        yield SqlStore(eng)


@pytest.fixture()
def tight(campaigns: list[Campaign]) -> list[Campaign]:
    """c1 with a budget its clicks exhaust within the drive (c2's high target keeps it small)."""
    return [replace(campaigns[0], daily_budget_micros=Micros(1_500_000)), campaigns[1]]


def drive(
    engines: list[Engine],
    batches: int,
    step_s: float = 0.0,
    log: dict[tuple[int, int, str], int] | None = None,
    between: Callable[[int], None] | None = None,
) -> tuple[dict[str, int], int, int]:
    """Serve from each engine in turn and click every promoted slot (the worst case), the click posted to
    the next engine (a load balancer need not send it back); ``step_s``: the wall time (for the campaign
    poll) that passes per step; ``log``: filled with the spend of (engine, step, campaign); ``between``: called
    with the step before its batches (background followers stepped by hand). Returns the spend
    per campaign, the most promoted slots in one batch and the highest price per click."""
    spend: dict[str, int] = {}
    most_slots = top_cpc = 0
    wall = [0.0]
    if step_s:
        for eng in engines:
            eng.campaigns.wall = eng.campaigns.pacer.wall = lambda: wall[0]
    for step in range(batches):
        ts = DAY0 + step * (DAY_MS // (batches + 1))
        wall[0] = step * step_s
        if between is not None:
            between(step)
        for k, eng in enumerate(engines):
            n = len(QUERIES)
            out = eng.serve_batch(
                RequestBatch(
                    [f"r{step}-{k}-{i}" for i in range(n)],
                    [f"u{i}" for i in range(n)],
                    np.zeros(n, np.int64),
                    QUERIES,
                    ts,
                    4,
                )
            )
            clicks = []
            for r, s in zip(*np.nonzero(out.promoted), strict=True):
                cid = eng.campaign_ids()[int(out.campaign_idx[r, s])]
                price = int(out.price_cpc_micros[r, s])
                pid = eng.catalogue_ids()[int(out.product_idx[r, s])]
                clicks.append(
                    Event(
                        f"k{step}-{k}-{r}-{s}",
                        EventKind.CLICK,
                        ts + 1,
                        user_id=f"u{r}",
                        product_id=pid,
                        campaign_id=cid,
                        price_micros=Micros(price),
                    )
                )
                spend[cid] = spend.get(cid, 0) + price
                top_cpc = max(top_cpc, price)
                if log is not None:
                    log[(k, step, cid)] = log.get((k, step, cid), 0) + price
            most_slots = max(most_slots, len(clicks))
            if clicks:
                engines[(k + 1) % len(engines)].record_events(clicks)
    return spend, most_slots, top_cpc


def test_the_daily_budget_holds_across_two_engines(
    store: SqlStore, shops: list[Shop], products: list[Product], tight: list[Campaign]
) -> None:
    campaigns = tight
    a = seeded_engine(store, shops, products, campaigns, SHARED)
    b = seeded_engine(store, shops, products, campaigns, SHARED)
    spend, most_slots, top_cpc = drive([a, b], BATCHES)
    bound = overspend_bound(most_slots, top_cpc, processes=2)
    day = DAY0 // DAY_MS
    for c in campaigns:
        assert spend.get(c.id, 0) <= c.daily_budget_micros + bound, c.id
        assert draws_of(store, c.id, day).drawn_micros <= c.daily_budget_micros
    assert spend["c1"] >= 0.9 * campaigns[0].daily_budget_micros  # it did serve up to the budget
    held = {c.id: draws_of(store, c.id, day).drawn_micros for c in campaigns}
    a.campaigns.release()
    b.campaigns.release()  # what the engines did not use goes back
    for c in campaigns:
        after = draws_of(store, c.id, day)
        assert after.spent_micros == spend.get(c.id, 0)  # every ingested click, counted once
        assert after.drawn_micros <= held[c.id]


def test_the_overspend_bound_holds_at_the_default_one_second_poll(
    store: SqlStore, shops: list[Shop], products: list[Product], tight: list[Campaign]
) -> None:
    """The default poll (1 s) with each engine serving a batch every 1/8 s: between two reads of the shared
    spend an engine admits up to 8 batches' slots against clicks it has not seen (posted to the other one).
    The overspend stays within the stated bound (8 batches per process at the most slots and the highest
    price) and, closer, within what each engine actually admitted in its costliest 8 consecutive batches."""
    cfg = EngineConfig(pacing=PacingConfig(leases=LeasePolicy(100, 0), campaign_poll_ms=1000))
    a = seeded_engine(store, shops, products, tight, cfg)
    b = seeded_engine(store, shops, products, tight, cfg)
    log: dict[tuple[int, int, str], int] = {}
    spend, most_slots, top_cpc = drive([a, b], BATCHES, step_s=0.125, log=log)
    bound = overspend_bound(most_slots, top_cpc, processes=2, batches_per_poll=8)
    for c in tight:
        over = spend.get(c.id, 0) - c.daily_budget_micros
        windows = [
            max(sum(log.get((k, s, c.id), 0) for s in range(j, j + 8)) for j in range(BATCHES))
            for k in range(2)
        ]
        assert over <= min(bound, sum(windows)), c.id
    assert spend["c1"] >= 0.9 * tight[0].daily_budget_micros  # it did serve up to the budget


def test_the_overspend_bound_holds_with_the_draws_and_reads_in_the_background(
    store: SqlStore, shops: list[Shop], products: list[Product], tight: list[Campaign]
) -> None:
    """Shared serving's default: the serve path never draws nor reads the shared spend; each engine's follower
    (stepped by hand here, between batches) tops up the slices and reads the spend once a second (a batch every
    1/8 s). The serve path admits on what is held, and on nothing once the spend read is older than 2 s. The
    overspend stays within the stated bound for the 2 s a read may be relied on (16 batches per process)."""
    cfg = EngineConfig(pacing=PacingConfig(leases=LeasePolicy(100, 0), campaign_poll_ms=1000, background=True))
    a = seeded_engine(store, shops, products, tight, cfg)
    b = seeded_engine(store, shops, products, tight, cfg)
    followers = []
    for eng in (a, b):
        eng.campaigns.stop_following()  # its thread: stepped by hand below instead
        followers.append(eng.campaigns.follower)
    draws = {"n": 0}
    inner = store.draw_budgets

    def counted(day: int, batch: list[Draw]) -> dict[str, int]:
        draws["n"] += 1
        assert threading.current_thread() is threading.main_thread()
        return inner(day, batch)

    store.draw_budgets = counted  # type: ignore[method-assign]

    def between(step: int) -> None:
        for f in followers:
            assert f is not None
            f.step(poll=step % 8 == 0)

    log: dict[tuple[int, int, str], int] = {}
    serving_draws = []
    real_serve = [a.serve_batch, b.serve_batch]
    for k, eng in enumerate((a, b)):

        def serve(batch: RequestBatch, _k: int = k) -> object:
            before = draws["n"]
            out = real_serve[_k](batch)
            serving_draws.append(draws["n"] - before)
            return out

        eng.serve_batch = serve  # type: ignore[method-assign,assignment]
    spend, most_slots, top_cpc = drive([a, b], BATCHES, step_s=0.125, log=log, between=between)
    assert draws["n"] >= 2 and serving_draws and not any(serving_draws)  # every draw: a follower's step
    bound = overspend_bound(most_slots, top_cpc, processes=2, batches_per_poll=16)
    for c in tight:
        over = spend.get(c.id, 0) - c.daily_budget_micros
        windows = [  # what each engine admitted in its costliest 16 consecutive batches
            max(sum(log.get((k, s, c.id), 0) for s in range(j, j + 16)) for j in range(BATCHES))
            for k in range(2)
        ]
        assert over <= min(bound, sum(windows)), c.id
        assert draws_of(store, c.id, DAY0 // DAY_MS).drawn_micros <= c.daily_budget_micros
    assert spend["c1"] >= 0.9 * tight[0].daily_budget_micros  # it did serve up to the budget
    a.close()
    b.close()


def test_a_clean_close_returns_the_unused_leases(
    store: SqlStore, shops: list[Shop], products: list[Product], campaigns: list[Campaign]
) -> None:
    a = seeded_engine(store, shops, products, campaigns, SHARED)
    b = seeded_engine(store, shops, products, campaigns, SHARED)
    drive([a, b], 6)
    day = DAY0 // DAY_MS
    used = {c.id: int(a.campaigns.pacer.used[i] + b.campaigns.pacer.used[i]) for i, c in enumerate(campaigns)}
    before = {c.id: draws_of(store, c.id, day).drawn_micros for c in campaigns}
    assert all(before[c] > used[c] for c in before)  # each engine holds more than it used
    a.close()
    b.close()
    for c in campaigns:  # what is left drawn is what the admitted slots were expected to cost
        assert draws_of(store, c.id, day).drawn_micros == used[c.id]
    a.close()  # twice: nothing more goes back
    assert draws_of(store, "c1", day).drawn_micros == used["c1"]


def test_the_app_returns_its_leases_when_it_shuts_down(
    tmp_path: Path, shops: list[Shop], products: list[Product], campaigns: list[Campaign]
) -> None:
    from fastapi.testclient import TestClient

    from sitewide.service.app import create_app
    from sitewide.settings import Settings

    url = f"sqlite:///{tmp_path / 'app.sqlite'}"
    seeded_engine(SqlStore.from_url(url), shops, products, campaigns)
    key = "sw_0123456789abcdef_lifespansecretlifespan"
    settings = Settings(
        database_url=url, data_dir=tmp_path, load_catalogue=False, shared_serving=True, operator_key=key
    )
    app = create_app(settings, announce=None)
    day = DAY0 // DAY_MS
    with TestClient(app) as client:
        body = {"request_id": "r1", "user_id": "u1", "query": "usb flash drive", "slots": 4, "ts_ms": DAY0}
        assert client.post("/serve", json=body, headers={"Authorization": f"Bearer {key}"}).status_code == 200
        deadline = time.monotonic() + 10  # the follower thread draws the day's first slices (not the request)
        while not SqlStore.from_url(url).day_draws(day) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert client.post("/serve", json=body, headers={"Authorization": f"Bearer {key}"}).status_code == 200
        pacer = app.state.engine.campaigns.pacer
        used = {c.id: int(pacer.used[i]) for i, c in enumerate(pacer.campaigns)}
        held = {c: r.drawn_micros for c, r in SqlStore.from_url(url).day_draws(day).items()}
        assert held and all(held[c] > used[c] for c in held)
    after = SqlStore.from_url(url).day_draws(day)
    assert {c: r.drawn_micros for c, r in after.items()} == {c: used[c] for c in held}


def test_a_campaign_change_is_pushed_on_postgres_and_polled_elsewhere(
    store: SqlStore, shops: list[Shop], products: list[Product], campaigns: list[Campaign]
) -> None:
    """With an hour between polls, only a push can bring another engine's pause: PostgreSQL's NOTIFY does,
    within a few seconds; SQLite has no push and keeps serving until its next poll."""
    hourly = EngineConfig(pacing=PacingConfig(leases=LeasePolicy(100, 0), campaign_poll_ms=3_600_000))
    a = seeded_engine(store, shops, products, campaigns, hourly)
    b = seeded_engine(store, shops, products, campaigns, hourly)
    n = len(QUERIES)

    def served(step: int) -> set[str]:
        out = b.serve_batch(
            RequestBatch(
                [f"r{step}-{i}" for i in range(n)], ["u"] * n, np.zeros(n, np.int64), QUERIES, DAY0, 4
            )
        )
        return {b.campaign_ids()[int(i)] for i in out.campaign_idx[out.promoted]}

    assert "c1" in served(0)
    a.update_campaign(replace(campaigns[0], status=CampaignStatus.PAUSED))
    pushed = store.engine.dialect.name == "postgresql"
    deadline = time.monotonic() + (10.0 if pushed else 2.0)
    step = 1
    while "c1" in served(step) and time.monotonic() < deadline:
        step += 1
        time.sleep(0.05)
    assert ("c1" not in served(step)) is pushed
    a.close()
    b.close()


def test_an_event_is_judged_by_the_terms_another_engine_just_changed(
    store: SqlStore, shops: list[Shop], products: list[Product], campaigns: list[Campaign]
) -> None:
    """The events check keeps the campaigns' terms it read under the store's campaigns version: a pause made
    through another engine is in force for this engine's next batch, though its own campaign poll (an hour)
    has not come and it has already checked clicks of that campaign."""
    hourly = EngineConfig(pacing=PacingConfig(leases=LeasePolicy(100, 0), campaign_poll_ms=3_600_000))
    a = seeded_engine(store, shops, products, campaigns, hourly, clock=ManualClock(DAY0 + HOUR_MS))
    b = seeded_engine(store, shops, products, campaigns, hourly)
    c1 = campaigns[0]

    def click(eid: str, ts: int) -> list[Event]:
        return [Event(eid, EventKind.CLICK, ts, user_id="u", product_id=c1.product_ids[0], campaign_id=c1.id)]

    assert b.record_events(click("k1", DAY0 + 60_000)).inserted == 1  # the terms of c1 read and kept
    a.update_campaign(replace(c1, status=CampaignStatus.PAUSED))  # in force from DAY0 + 1 h
    with pytest.raises(EventRejected, match="campaign_live"):
        b.record_events(click("k2", DAY0 + 2 * HOUR_MS))
    assert b.record_events(click("k3", DAY0 + 30 * 60_000)).inserted == 1  # before the pause: live then
    a.close()
    b.close()


def draws_of(store: SqlStore, campaign_id: str, day: int) -> DayDraws:
    return store.day_draws(day)[campaign_id]


def test_without_leases_two_engines_overspend(
    store: SqlStore, shops: list[Shop], products: list[Product], tight: list[Campaign]
) -> None:
    """The same drive without leases: each engine admits against the whole budget and sees only the clicks
    posted to it (what the leases and the shared spend prevent)."""
    a = seeded_engine(store, shops, products, tight)
    b = seeded_engine(store, shops, products, tight)
    spend, _, _ = drive([a, b], BATCHES)
    assert spend["c1"] > 1.2 * tight[0].daily_budget_micros


def test_a_campaign_change_reaches_the_other_engine(
    store: SqlStore, shops: list[Shop], products: list[Product], campaigns: list[Campaign]
) -> None:
    a = seeded_engine(store, shops, products, campaigns, SHARED)
    b = seeded_engine(store, shops, products, campaigns, SHARED)
    c1 = campaigns[0]
    a.update_campaign(replace(c1, status=CampaignStatus.PAUSED))
    n = len(QUERIES)
    out = b.serve_batch(
        RequestBatch([f"r{i}" for i in range(n)], ["u"] * n, np.zeros(n, np.int64), QUERIES, DAY0, 4)
    )
    served = {b.campaign_ids()[int(i)] for i in out.campaign_idx[out.promoted]}
    assert c1.id not in served and served  # b follows a's pause; the other campaign still serves
    new = Campaign("c9", "m1", "new", ("p06",), c1.target_roi, Micros(5_000_000))
    a.add_campaign(new)  # an event naming it, sent to b before b polled, is accepted
    b.record_events([Event("n1", EventKind.CLICK, DAY0 + 5, user_id="u", product_id="p06", campaign_id="c9")])
    assert "c9" in b.campaign_ids()


def test_one_serve_batch_draws_every_campaign_in_one_transaction(
    store: SqlStore, shops: list[Shop], products: list[Product], campaigns: list[Campaign]
) -> None:
    """The first batch of the day wants a slice for every campaign: one store call, one transaction (not one
    per campaign: that made 2-worker PostgreSQL serving crawl)."""
    eng = seeded_engine(store, shops, products, campaigns, SHARED)
    calls: list[list[str]] = []
    inside, begins = [False], [0]
    inner = store.draw_budgets

    @sa_event.listens_for(store.engine, "begin")
    def _begin(_conn: object) -> None:
        begins[0] += inside[0]

    def counted(day: int, draws: list[Draw]) -> dict[str, int]:
        calls.append([d.campaign_id for d in draws])
        inside[0] = True
        try:
            return inner(day, draws)
        finally:
            inside[0] = False

    store.draw_budgets = counted  # type: ignore[method-assign]
    n = len(QUERIES)
    eng.serve_batch(
        RequestBatch([f"r{i}" for i in range(n)], ["u"] * n, np.zeros(n, np.int64), QUERIES, DAY0, 4)
    )
    assert calls == [["c1", "c2"]] and begins == [1]
    drawn = store.day_draws(DAY0 // DAY_MS)
    assert {c: r.drawn_micros for c, r in drawn.items()} == {
        c.id: c.daily_budget_micros // 10 for c in campaigns
    }


def test_concurrent_batches_of_draws_never_grant_past_the_budget(store: SqlStore) -> None:
    """Four threads (four processes' worth of connections) draw and return on the same rows at once: what
    was granted, net of returns, is what the rows say was drawn, and never more than the budget."""
    budget, day = 10_000_000, 7
    granted = [0] * 4

    def work(k: int) -> None:
        for step in range(15):
            got = store.draw_budgets(day, [Draw(f"c{i}", budget, 700_000) for i in range(3)])
            granted[k] += sum(got.values())
            if step % 3 == 0:
                store.return_budgets(day, {"c0": 100_000, "c2": 100_000})
                granted[k] -= 200_000

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = store.day_draws(day)
    assert sum(r.drawn_micros for r in rows.values()) == sum(granted)
    assert all(r.drawn_micros <= budget for r in rows.values())
    assert rows["c1"].drawn_micros == budget  # 60 draws of 0.7M: the budget ran out


def test_grants_never_pass_the_budget_and_returns_come_back() -> None:
    row = DayDraws(10_000_000)
    got, row = grant(row, 4_000_000, 10_000_000)
    assert got == 4_000_000
    got, row = grant(row, 8_000_000, 10_000_000)
    assert got == 6_000_000 and row.left_micros == 0
    got, row = grant(row, 1, 10_000_000)
    assert got == 0
    row = give_back(row, 3_000_000)
    assert row.left_micros == 3_000_000
    got, row = grant(row, 5_000_000, 6_000_000)  # the budget was lowered: only what fits under it
    assert got == 0 and row.budget_micros == 6_000_000
    assert give_back(row, -2_000_000).drawn_micros == row.drawn_micros + 2_000_000  # an overdraft
    with pytest.raises(ValidationError):
        LeasePolicy(slice_permille=0)
    assert LeasePolicy(100, 1_000_000).slice_micros(50_000_000) == 5_000_000


def test_shared_serving_settings_turn_leases_and_polling_on() -> None:
    from sitewide.settings import Settings
    from sitewide.wiring import pacing_for

    alone, shared = pacing_for(Settings()), pacing_for(Settings(shared_serving=True, campaign_poll_ms=250))
    assert alone.leases is None and alone.campaign_poll_ms is None
    assert shared.leases is not None and shared.campaign_poll_ms == 250
