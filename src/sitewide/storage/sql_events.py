"""The SQL store's events (a part of :class:`SqlStore`)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import (
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from sitewide.domain.types import (
    Conflict,
    Event,
)
from sitewide.ports import EventReceipt
from sitewide.storage.schema import Tables
from sitewide.storage.sql_rows import from_row, to_row


class SqlEvents:
    """Events are idempotent by id; aggregates are computed by the database (GROUP BY), not row by row."""

    engine: Engine
    t: Tables

    # events ----------------------------------------------------------------------------------------
    def append_events(self, items: Sequence[Event]) -> EventReceipt:
        """Set-based: ``INSERT … ON CONFLICT (id) DO NOTHING RETURNING id``, then one read of the bodies of
        the ids that were already there; a different body raises Conflict and rolls the whole batch back."""
        batch: dict[str, Event] = {}
        dups = 0
        for e in items:
            prior = batch.get(e.id)
            if prior is not None:
                if prior.body() != e.body():
                    raise Conflict(f"event {e.id} appears twice in the batch with different bodies")
                dups += 1
                continue
            batch[e.id] = e
        if not batch:
            return EventReceipt(inserted=0, duplicates=dups)
        ins = (
            postgresql.insert(self.t.events)
            if self.engine.dialect.name == "postgresql"
            else sqlite.insert(self.t.events)
        )
        stmt = ins.on_conflict_do_nothing(index_elements=["id"]).returning(self.t.events.c.id)
        with self.engine.begin() as conn:
            inserted: set[str] = set()
            rows = [to_row(e) for e in batch.values()]
            for i in range(0, len(rows), 1000):
                inserted.update(r[0] for r in conn.execute(stmt, rows[i : i + 1000]))
            repeats = [eid for eid in batch if eid not in inserted]
            for i in range(0, len(repeats), 500):
                for r in conn.execute(
                    select(self.t.events).where(self.t.events.c.id.in_(repeats[i : i + 500]))
                ):
                    if from_row(Event, r).body() != batch[r.id].body():
                        raise Conflict(f"event {r.id} was already recorded with a different body")
        fresh_ids = tuple(eid for eid in batch if eid in inserted)
        return EventReceipt(inserted=len(fresh_ids), duplicates=dups + len(repeats), inserted_ids=fresh_ids)

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
        with self.engine.connect() as conn:
            for i in range(0, len(idl), 500):
                for r in conn.execute(select(self.t.events).where(self.t.events.c.id.in_(idl[i : i + 500]))):
                    out[r.id] = from_row(Event, r)
        return out
