"""Day partitions of the events table (PostgreSQL, migration 0012): rows land in (or are moved into) their day's
partition, settlement makes the days ahead, and the migration keeps every row and the ingestion sequence both
ways. Idempotency by id across days (so across partitions) is in the store contract
(``test_an_id_is_stored_once_whatever_day_its_retry_names``), run on every store."""

from __future__ import annotations

import os
from collections.abc import Iterator
from decimal import Decimal

import pytest
from scripts.pg import ENV_URL, throwaway_schema, unreachable_reason
from sqlalchemy import text
from sqlalchemy.engine import Engine

from sitewide.domain.money import Micros
from sitewide.domain.time import DAY_MS, ManualClock, day_bounds, day_str
from sitewide.domain.types import Campaign, Conflict, Event, EventKind, Product, Shop, ValidationError
from sitewide.engine import Engine as SitewideEngine
from sitewide.engine.settlement import EVENT_RETENTION_DAYS, event_horizon_ms
from sitewide.storage import migrate
from sitewide.storage.sql import SqlStore
from sitewide.storage.sql_partitions import DEFAULT, day_partitions, partition_name
from sitewide.wiring import seeded_engine

PG_URL = os.environ.get(ENV_URL)
PG_SKIP = unreachable_reason(PG_URL)
D1 = 20_458  # 2026-01-05
D2 = D1 + 1


def click(i: str, day: int, hour: int = 10, price: int = 50_000) -> Event:
    return Event(
        i,
        EventKind.CLICK,
        day * DAY_MS + hour * 3_600_000,
        user_id="u",
        product_id="p00",
        campaign_id="c1",
        price_micros=Micros(price),
    )


@pytest.fixture
def pg() -> Iterator[Engine]:
    if PG_SKIP:
        pytest.skip(PG_SKIP)
    assert PG_URL is not None
    with throwaway_schema(PG_URL) as eng:
        yield eng


def one_campaign_engine(store: SqlStore, now_ms: int) -> SitewideEngine:
    """An engine over ``store`` with one shop, one product and one campaign, its clock at ``now_ms``."""
    return seeded_engine(
        store,
        [Shop("s0", "m0", "shop")],
        [Product("p00", "s0", "widget", "cat", Micros(9_000_000))],
        [Campaign("c1", "m0", "c1", ("p00",), Decimal("3"), Micros(100_000_000))],
        clock=ManualClock(now_ms),
    )


def where(eng: Engine) -> dict[str, str]:
    """Each stored event's id → the partition (table) that holds it."""
    with eng.connect() as c:
        return {r[0]: r[1] for r in c.execute(text("SELECT id, tableoid::regclass::text FROM events"))}


def test_rows_go_to_their_day_and_late_ones_are_moved_out_of_the_default(pg: Engine) -> None:
    store = SqlStore(pg)
    with pg.connect() as c:  # the migration made today's and the next two days' (wall clock)
        made_by_the_migration = day_partitions(c)
    store.append_events([click("a", D1), click("b", D2)])  # no partition for these days yet
    assert set(where(pg).values()) == {DEFAULT}
    created = store.prepare_event_days(D2 * DAY_MS, (D2 + 3) * DAY_MS)  # D2 … D2+2, and D1 found in default
    assert created == [D1, D2, D2 + 1, D2 + 2]
    assert where(pg) == {"a": partition_name(D1), "b": partition_name(D2)}
    store.append_events([click("c", D2 + 1)])
    assert where(pg)["c"] == partition_name(D2 + 1)
    assert store.prepare_event_days(D2 * DAY_MS, (D2 + 3) * DAY_MS) == []  # idempotent
    with pg.connect() as c:  # one table per day, named for it
        assert day_partitions(c) - made_by_the_migration == {D1, D2, D2 + 1, D2 + 2}
        assert c.execute(text(f"SELECT count(*) FROM {DEFAULT}")).scalar() == 0
    assert [e.id for e in store.events_between(D1 * DAY_MS, (D2 + 2) * DAY_MS)] == ["a", "b", "c"]
    assert [s[0] for s in store.event_stamps_after(0, store.event_watermark())] == [
        click(i, d).ts_ms for i, d in (("a", D1), ("b", D2), ("c", D2 + 1))
    ]


def test_settlement_makes_the_partitions_of_today_and_the_next_two_days(pg: Engine) -> None:
    now = day_bounds(day_str(D2))[0] + 5 * 3_600_000
    store = SqlStore(pg)
    engine = one_campaign_engine(store, now)
    store.append_events([click("k1", D1)])
    engine.settle_day(day_str(D1))
    with pg.connect() as c:
        assert {D1, D2, D2 + 1, D2 + 2} <= day_partitions(c)
    assert where(pg) == {"k1": partition_name(D1)}


def test_the_migration_keeps_every_row_and_the_sequence_both_ways(pg: Engine) -> None:
    migrate.upgrade(pg, "0011_pool_changes")
    with pg.begin() as c:
        for i, d in enumerate((D1, D1, D2)):
            c.execute(
                text(
                    "INSERT INTO events (id, kind, ts_ms, user_id, product_id, request_id, price_micros, "
                    "order_value_micros) VALUES (:i, 'click', :t, 'u', 'p00', '', 1, 0)"
                ),
                {"i": f"m{i}", "t": d * DAY_MS + i},
            )
    with pg.connect() as c:
        before = sorted(c.execute(text("SELECT seq, id, ts_ms FROM events")).all())
    store = SqlStore(pg)  # upgrades to the head
    assert migrate.current_revision(pg) == migrate.HEAD
    with pg.connect() as c:
        assert sorted(c.execute(text("SELECT seq, id, ts_ms FROM events")).all()) == before
    assert where(pg) == {"m0": partition_name(D1), "m1": partition_name(D1), "m2": partition_name(D2)}
    with pytest.raises(Conflict):  # m1's id is claimed (another body): a conflict, not a second row
        store.append_events([click("m1", D2)])
    store.append_events([click("n1", D2)])
    assert store.event_watermark() == before[-1][0] + 1  # the sequence carried on
    migrate.downgrade(pg, "0011_pool_changes")
    with pg.connect() as c:
        after = sorted(c.execute(text("SELECT seq, id FROM events")).all())
        assert [r[1] for r in after] == ["m0", "m1", "m2", "n1"]
        assert c.execute(text("SELECT to_regclass('event_ids')")).scalar() is None
    with pytest.raises(Exception, match="uq_events_id"):  # one flat table again, unique on id
        with pg.begin() as c:
            c.execute(
                text(
                    "INSERT INTO events (id, kind, ts_ms, user_id, product_id, request_id, "
                    "price_micros, order_value_micros) VALUES ('m0', 'click', 5, 'u', 'p', '', 1, 0)"
                )
            )


def test_settlement_drops_the_days_past_retention_and_the_engine_refuses_their_events(pg: Engine) -> None:
    """A run settling day D drops the partitions of the days before D + 1 − EVENT_RETENTION_DAYS (their ids
    leave event_ids), and the engine then refuses an event of a dropped day (ValidationError: HTTP 422)."""
    late = D1 + EVENT_RETENTION_DAYS  # D1 is the first day past retention when `late` is settled
    now = (late + 1) * DAY_MS + 3_600_000
    store = SqlStore(pg)
    engine = one_campaign_engine(store, now)
    store.append_events([click("gone", D1), click("kept", D2), click("today", late)])
    store.prepare_event_days(D1 * DAY_MS, (D2 + 1) * DAY_MS)
    engine.settle_day(day_str(late))
    with pg.connect() as c:
        assert D1 not in day_partitions(c) and D2 in day_partitions(c)
        assert sorted(r[0] for r in c.execute(text("SELECT id FROM event_ids"))) == ["kept", "today"]
    assert event_horizon_ms((late + 1) * DAY_MS) == D2 * DAY_MS
    with pytest.raises(ValidationError, match="retention horizon"):
        engine.record_events([click("gone", D1)])
    assert engine.record_events([click("kept", D2)]).duplicates == 1


def test_the_batch_statements_stay_prepared_between_the_serving_reads(pg: Engine) -> None:
    """Issue 24: a ROLLBACK makes psycopg drop every prepared statement of its connection; the reads of the
    events and serving paths (the campaigns' version every batch, the day's draws and the key every poll) end
    without one, so the batch's fixed-text statement (its claim and insert) gets prepared on the (here only) pooled connection."""
    store = SqlStore(pg)
    for n in range(8):
        store.store_version("campaigns")
        store.append_events([click(f"b{n}-{i}", D1, price=10_000 + i) for i in range(3)])
        store.day_draws(D1)
        store.get_events([f"b{n}-0"])
    with pg.connect() as c:
        held = [str(r[0]) for r in c.execute(text("SELECT statement FROM pg_prepared_statements"))]
    assert any("INSERT INTO event_ids" in s and "INSERT INTO events" in s for s in held), held
