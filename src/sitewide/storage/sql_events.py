"""The SQL store's events (a part of :class:`SqlStore`)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DataError, IntegrityError

from sitewide.domain.time import DAY_MS, check_day_boundary
from sitewide.domain.types import (
    Conflict,
    Event,
    ValidationError,
)
from sitewide.ports import EventReceipt
from sitewide.storage.event_batches import first_of_each_id
from sitewide.storage.schema import Tables
from sitewide.storage.sql_partitions import HORIZON, drop_days_before, ensure_day_partitions
from sitewide.storage.sql_rows import autocommit, from_row, to_row

# PostgreSQL: the whole batch as one array per column, one short statement. A multi-row VALUES list (what
# SQLAlchemy's insertmanyvalues sends) is a new ~13,000-placeholder text per batch that psycopg re-parses
# every time (2/3 of the time of an ingest call, profiled); this text is fixed, so psycopg caches and the
# server prepares it, and the rows travel as 13 arrays. ORDER BY n keeps the ingestion seq in batch order.
# The arrays go in psycopg's binary format (its ``%(name)b`` placeholders, so the statements are the driver's
# own text): the text format quotes every element in Python, 1.16 vs 0.47 ms of CPU for a batch of 100 events.
_PG_COLS = (
    ("id", "text"),
    ("kind", "text"),
    ("ts_ms", "bigint"),
    ("user_id", "text"),
    ("product_id", "text"),
    ("request_id", "text"),
    ("campaign_id", "text"),
    ("position", "integer"),
    ("price_micros", "bigint"),
    ("order_value_micros", "bigint"),
    ("click_id", "text"),
    ("impression_id", "text"),
    ("order_id", "text"),
)
# The events table is partitioned by day (sql_partitions): its unique keys must contain ts_ms, so the ids are
# claimed in event_ids first, in the same transaction, and only the events whose id was claimed go into events
# (two statements: one with the claim as a CTE joined back to the batch cost twice the server time, measured).
_PG_CLAIM = (
    "INSERT INTO event_ids (id) SELECT unnest(CAST(%(id)b AS text[])) ON CONFLICT (id) DO NOTHING RETURNING id"
)
_PG_NAMES = ", ".join(c for c, _ in _PG_COLS)
# the batch as rows: one array per column, unnested side by side, with n its position in the batch
_PG_BATCH = (
    "unnest("
    + ", ".join(f"CAST(%({c})b AS {t}[])" for c, t in _PG_COLS)
    + f") WITH ORDINALITY AS b({_PG_NAMES}, n)"
)
_PG_INSERT = f"INSERT INTO events ({_PG_NAMES}) SELECT {_PG_NAMES} FROM {_PG_BATCH} ORDER BY n"
# The usual batch (no id stored before) in one statement, in autocommit: the claim and the insert as CTEs over the
# batch, and a check that every id was claimed, which divides by zero when one was not, so that the statement (and
# everything it wrote) fails as a whole and the batch takes the transaction above (repeats, conflicts). One round
# trip a batch instead of four (BEGIN, claim, insert, COMMIT): each was the thread's own CPU and a wait for the GIL
# to come back, which under load is most of an event batch's tail (issue 24).
_PG_WHOLE = (
    f"WITH b AS MATERIALIZED (SELECT * FROM {_PG_BATCH}), "
    "c AS (INSERT INTO event_ids (id) SELECT id FROM b ON CONFLICT (id) DO NOTHING RETURNING id), "
    f"i AS (INSERT INTO events ({_PG_NAMES}) SELECT {_PG_NAMES} FROM b ORDER BY n) "
    "SELECT 1 / CAST((SELECT count(*) FROM c) = (SELECT count(*) FROM b) AS integer)"
)
_SOME_ID_STORED = "22012"  # division_by_zero: _PG_WHOLE's check


def _pg_columns(events: Sequence[Event]) -> dict[str, list[object]]:
    return {
        "id": [e.id for e in events],
        "kind": [e.kind.value for e in events],
        "ts_ms": [e.ts_ms for e in events],
        "user_id": [e.user_id for e in events],
        "product_id": [e.product_id for e in events],
        "request_id": [e.request_id for e in events],
        "campaign_id": [e.campaign_id for e in events],
        "position": [e.position for e in events],
        "price_micros": [int(e.price_micros) for e in events],
        "order_value_micros": [int(e.order_value_micros) for e in events],
        "click_id": [e.click_id for e in events],
        "impression_id": [e.impression_id for e in events],
        "order_id": [e.order_id for e in events],
    }


class SqlEvents:
    """Events are idempotent by id; aggregates are computed by the database (GROUP BY), not row by row."""

    engine: Engine
    t: Tables

    # events ----------------------------------------------------------------------------------------
    def append_events(self, items: Sequence[Event]) -> EventReceipt:
        """Set-based: ``INSERT … ON CONFLICT (id) DO NOTHING RETURNING id``, then one read of the bodies of
        the ids that were already there; a different body raises Conflict and rolls the whole batch back."""
        batch, dups = first_of_each_id(items)
        if not batch:
            return EventReceipt(inserted=0, duplicates=dups)
        try:
            return self._append(batch, dups)
        except IntegrityError as exc:  # retention's horizon (a CHECK on PostgreSQL, a trigger on SQLite)
            found = re.search(HORIZON + r"(\d+)", str(exc.orig))
            if found is None:
                raise
            h = int(found.group(1))
            e = next((e for e in batch.values() if e.ts_ms < h), None)
            raise ValidationError(
                f"event {e.id if e else '?'}: ts_ms {e.ts_ms if e else '?'} is before the retention horizon {h} "
                "(that day's events are dropped and their ids forgotten): nothing in the batch was stored"
            ) from exc

    def _append(self, batch: dict[str, Event], dups: int) -> EventReceipt:
        if self.engine.dialect.name == "postgresql" and len(batch) <= 5000:
            try:
                with autocommit(self.engine) as conn:
                    conn.exec_driver_sql(_PG_WHOLE, _pg_columns(list(batch.values())))
                return EventReceipt(inserted=len(batch), duplicates=dups, inserted_ids=tuple(batch))
            except DataError as exc:
                if getattr(exc.orig, "sqlstate", None) != _SOME_ID_STORED:
                    raise
        with self.engine.begin() as conn:
            inserted = self._insert_new(conn, list(batch.values()))
            repeats = [eid for eid in batch if eid not in inserted]
            for i in range(0, len(repeats), 500):
                for r in conn.execute(
                    select(self.t.events).where(self.t.events.c.id.in_(repeats[i : i + 500]))
                ):
                    if from_row(Event, r).body() != batch[r.id].body():
                        raise Conflict(f"event {r.id} was already recorded with a different body")
        fresh_ids = tuple(eid for eid in batch if eid in inserted)
        return EventReceipt(inserted=len(fresh_ids), duplicates=dups + len(repeats), inserted_ids=fresh_ids)

    def _insert_new(self, conn: Connection, events: list[Event]) -> set[str]:
        """Insert the events whose id is not stored yet; the ids inserted."""
        inserted: set[str] = set()
        if self.engine.dialect.name == "postgresql":
            for i in range(0, len(events), 5000):
                chunk = events[i : i + 5000]
                claimed = {r[0] for r in conn.exec_driver_sql(_PG_CLAIM, {"id": [e.id for e in chunk]})}
                fresh = [e for e in chunk if e.id in claimed]
                if fresh:
                    conn.exec_driver_sql(_PG_INSERT, _pg_columns(fresh))
                inserted |= claimed
            return inserted
        ins = sqlite.insert(self.t.events).on_conflict_do_nothing(index_elements=["id"])
        stmt = ins.returning(self.t.events.c.id)
        rows = [to_row(e) for e in events]
        for i in range(0, len(rows), 1000):
            inserted.update(r[0] for r in conn.execute(stmt, rows[i : i + 1000]))
        return inserted

    def prepare_event_days(self, start_ms: int, end_ms: int) -> list[int]:
        """Settlement's housekeeping: on PostgreSQL, the day partitions covering ``[start_ms, end_ms)`` (made
        ahead of the traffic) and one for any day whose rows fell into the default partition; the days created.
        SQLite has one events table: nothing to do."""
        if self.engine.dialect.name != "postgresql" or end_ms <= start_ms:
            return []
        days = range(start_ms // DAY_MS, (end_ms - 1) // DAY_MS + 1)
        with self.engine.begin() as conn:
            return ensure_day_partitions(conn, days)

    def drop_events_before(self, before_ms: int) -> list[int]:
        """Retention: the events of the UTC days before ``before_ms`` (a day boundary) go, their ids are
        forgotten, and from now on an event before it is refused (ValidationError, nothing stored) — so a
        retry after its id is forgotten cannot count twice. A horizon at or before the current one changes
        nothing. PostgreSQL drops the day partitions (``sql_partitions.drop_days_before``); SQLite deletes the
        rows and refuses later ones by a trigger. Returns the days whose events went."""
        check_day_boundary(before_ms, "retention horizon")
        with self.engine.begin() as conn:
            if self.engine.dialect.name == "postgresql":
                return drop_days_before(conn, before_ms)
            old = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'events_horizon'")).scalar()
            found = re.search(HORIZON + r"(\d+)", str(old or ""))
            if found is not None and before_ms <= int(found.group(1)):
                return []
            days = conn.execute(
                text(f"SELECT DISTINCT ts_ms / {DAY_MS} FROM events WHERE ts_ms < :h ORDER BY 1"), {"h": before_ms}
            )
            gone = [int(r[0]) for r in days]
            conn.execute(text("DELETE FROM events WHERE ts_ms < :h"), {"h": before_ms})
            conn.execute(text("DROP TRIGGER IF EXISTS events_horizon"))
            conn.execute(
                text(
                    f"CREATE TRIGGER events_horizon BEFORE INSERT ON events WHEN NEW.ts_ms < {before_ms} "
                    f"BEGIN SELECT RAISE(ABORT, '{HORIZON}{before_ms}'); END"
                )
            )
            return gone

    def events_between(self, start_ms: int, end_ms: int, kinds: Sequence[str] | None = None) -> list[Event]:
        q = select(self.t.events).where(self.t.events.c.ts_ms >= start_ms, self.t.events.c.ts_ms < end_ms)
        if kinds is not None:
            q = q.where(self.t.events.c.kind.in_(list(kinds)))
        q = q.order_by(self.t.events.c.ts_ms, self.t.events.c.id)
        with self.engine.connect() as conn:
            return [from_row(Event, r) for r in conn.execute(q)]

    def get_events(self, ids: Sequence[str]) -> dict[str, Event]:
        out: dict[str, Event] = {}
        idl = list(ids)
        with autocommit(self.engine) as conn:  # events never change: each chunk's own snapshot is as good
            for i in range(0, len(idl), 500):
                for r in conn.execute(select(self.t.events).where(self.t.events.c.id.in_(idl[i : i + 500]))):
                    out[r.id] = from_row(Event, r)
        return out
