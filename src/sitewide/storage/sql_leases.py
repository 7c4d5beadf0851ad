"""The SQL store's shared serving state (a part of :class:`SqlStore`): budget leases drawn by several serving
processes, and the version counters they poll (and, on PostgreSQL, listen to) to follow each other's
changes."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Insert, Table, bindparam, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from sitewide.domain.budget_lease import DayDraws, RowChange, apply_changes
from sitewide.ports import ChangeFeed
from sitewide.storage.leases import LeaseRows
from sitewide.storage.schema import Tables
from sitewide.storage.sql_notify import PgListener, notify
from sitewide.storage.sql_rows import autocommit

# the clicks' spend per campaign: one fixed text (psycopg prepares it once), the rows as two arrays, taken in
# campaign order (the caller sorts them: no deadlock with another process's draws or spend)
_PG_ADD_SPEND = text(
    "INSERT INTO budget_draws (campaign_id, day, budget_micros, drawn_micros, spent_micros) "
    "SELECT c, :day, 0, 0, m FROM unnest(CAST(:cid AS text[]), CAST(:m AS bigint[])) WITH ORDINALITY AS s(c, m, n) "
    "ORDER BY n ON CONFLICT (campaign_id, day) DO UPDATE SET spent_micros = budget_draws.spent_micros + "
    "excluded.spent_micros"
)


class SqlLeases(LeaseRows):
    """A batch of lease changes (every draw of one serve batch, every return of a release) is one
    transaction: the missing rows are inserted first, then the rows are read ``FOR UPDATE`` in campaign order
    and written back. On PostgreSQL the row locks serialize concurrent batches (taken in one order: no
    deadlock); on SQLite the first INSERT takes the database's write lock."""

    engine: Engine
    t: Tables

    def _insert_missing(self, conn: Connection, table: Table, rows: list[dict[str, object]]) -> None:
        """INSERT … ON CONFLICT DO NOTHING (a row another process created first stays as it is)."""
        ins = postgresql.insert(table) if self.engine.dialect.name == "postgresql" else sqlite.insert(table)
        conn.execute(ins.values(rows).on_conflict_do_nothing())

    def _new_draws(self, conn: Connection, day: int, budgets: Mapping[str, int]) -> None:
        rows: list[dict[str, object]] = [
            {"campaign_id": cid, "day": day, "budget_micros": b, "drawn_micros": 0, "spent_micros": 0}
            for cid, b in sorted(budgets.items())
        ]
        self._insert_missing(conn, self.t.budget_draws, rows)

    def _change(
        self, day: int, changes: Mapping[str, RowChange], budgets: Mapping[str, int]
    ) -> dict[str, int]:
        if not changes:
            return {}
        t = self.t.budget_draws
        with self.engine.begin() as conn:
            self._new_draws(conn, day, {cid: budgets.get(cid, 0) for cid in changes})
            q = (
                select(t.c.campaign_id, t.c.budget_micros, t.c.drawn_micros, t.c.spent_micros)
                .where(t.c.day == day, t.c.campaign_id.in_(sorted(changes)))
                .order_by(t.c.campaign_id)
                .with_for_update()
            )
            rows = {str(r[0]): DayDraws(int(r[1]), int(r[2]), int(r[3])) for r in conn.execute(q)}
            got, changed = apply_changes(rows, changes)
            if changed:
                conn.execute(
                    update(t)
                    .where(t.c.campaign_id == bindparam("cid"), t.c.day == day)
                    .values(budget_micros=bindparam("budget"), drawn_micros=bindparam("drawn")),
                    [
                        {"cid": cid, "budget": r.budget_micros, "drawn": r.drawn_micros}
                        for cid, r in sorted(changed.items())
                    ],
                )
        return got

    def add_spend(self, day: int, spend: Mapping[str, int]) -> None:
        """Add the ingested clicks' cost per campaign: one ``INSERT … ON CONFLICT DO UPDATE SET spent = spent +
        excluded.spent`` (rows in campaign order: no deadlock with another process's draws or spend), committed
        by the server as it runs (autocommit). Every event batch with clicks touches the same few campaign rows,
        so their row locks must be held for the statement only: in a transaction the lock lasted until this
        process's thread got the GIL back to send COMMIT, and at 140 req/s over two workers the batches queued
        on those rows (``UPDATE``/``INSERT`` waiting on ``transactionid``, holders "idle in transaction"), then
        on the connection pool, and the whole server behind them (issue 24, diagnosed on pg_stat_activity)."""
        if not spend:
            return
        rows = sorted(spend.items())
        with autocommit(self.engine) as conn:
            if self.engine.dialect.name == "postgresql":
                conn.execute(
                    _PG_ADD_SPEND, {"day": day, "cid": [c for c, _ in rows], "m": [int(m) for _, m in rows]}
                )
            else:
                conn.execute(self._sqlite_add_spend(), [{"cid": c, "day": day, "m": int(m)} for c, m in rows])

    def _sqlite_add_spend(self) -> Insert:
        """A one-row statement, the same each call, run once per row: SQLAlchemy compiles it once and caches it (a
        multi-row VALUES of the call's rows was compiled anew per call: ~1/8 of the events handler's CPU)."""
        t = self.t.budget_draws
        ins = sqlite.insert(t).values(
            campaign_id=bindparam("cid"),
            day=bindparam("day"),
            budget_micros=0,
            drawn_micros=0,
            spent_micros=bindparam("m"),
        )
        return ins.on_conflict_do_update(
            index_elements=[t.c.campaign_id, t.c.day],
            set_={"spent_micros": t.c.spent_micros + ins.excluded.spent_micros},
        )

    def day_draws(self, day: int) -> dict[str, DayDraws]:
        t = self.t.budget_draws
        q = select(t.c.campaign_id, t.c.budget_micros, t.c.drawn_micros, t.c.spent_micros).where(
            t.c.day == day
        )
        with autocommit(self.engine) as conn:
            return {str(r[0]): DayDraws(int(r[1]), int(r[2]), int(r[3])) for r in conn.execute(q)}

    # version counters ------------------------------------------------------------------------------
    def bump_version(self, conn: Connection, name: str) -> None:
        """Inside the writer's transaction, so a reader never sees the change without the new version."""
        t = self.t.versions
        self._insert_missing(conn, t, [{"name": name, "version": 0}])
        conn.execute(update(t).where(t.c.name == name).values(version=t.c.version + 1))
        if self.engine.dialect.name == "postgresql":
            notify(conn, name)

    def changes(self, name: str) -> ChangeFeed | None:
        """On PostgreSQL, a LISTEN on ``name``'s changes (:mod:`sitewide.storage.sql_notify`); elsewhere None
        (the poll is the only path)."""
        if self.engine.dialect.name != "postgresql":
            return None
        return PgListener(self.engine, name)

    def store_version(self, name: str) -> int:
        t = self.t.versions
        with autocommit(self.engine) as conn:
            v = conn.execute(select(t.c.version).where(t.c.name == name)).scalar()
        return int(v or 0)
