"""The SQL store's shared serving state (a part of :class:`SqlStore`): budget leases drawn by several serving
processes, and the version counters they poll to follow each other's changes."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy import Table, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from sitewide.domain.budget_lease import DayDraws, give_back, grant
from sitewide.domain.types import Conflict
from sitewide.storage.schema import Tables


class SqlLeases:
    """Each change is one compare-and-set UPDATE (``… WHERE drawn_micros = <the value read>``): on PostgreSQL
    a concurrent writer makes it match no row and the loser re-reads; SQLite has one writer at a time."""

    engine: Engine
    t: Tables

    def _insert_missing(self, conn: Connection, table: Table, row: dict[str, object]) -> None:
        """INSERT … ON CONFLICT DO NOTHING (a row another process created first stays as it is)."""
        ins = postgresql.insert(table) if self.engine.dialect.name == "postgresql" else sqlite.insert(table)
        conn.execute(ins.values(**row).on_conflict_do_nothing())

    def _new_draws(self, conn: Connection, campaign_id: str, day: int, budget: int) -> None:
        row = {"campaign_id": campaign_id, "day": day, "budget_micros": budget, "drawn_micros": 0}
        self._insert_missing(conn, self.t.budget_draws, row | {"spent_micros": 0})

    def _draws_row(self, conn: Connection, campaign_id: str, day: int, budget: int) -> DayDraws:
        t = self.t.budget_draws
        q = select(t.c.budget_micros, t.c.drawn_micros, t.c.spent_micros).where(
            t.c.campaign_id == campaign_id, t.c.day == day
        )
        r = conn.execute(q).first()
        if r is None:
            self._new_draws(conn, campaign_id, day, budget)
            r = conn.execute(q).first()
        assert r is not None
        return DayDraws(int(r[0]), int(r[1]), int(r[2]))

    def _swap(
        self, campaign_id: str, day: int, budget: int, change: Callable[[DayDraws], tuple[int, DayDraws]]
    ) -> int:
        t = self.t.budget_draws
        for _ in range(50):
            with self.engine.begin() as conn:
                old = self._draws_row(conn, campaign_id, day, budget)
                got, new = change(old)
                res = conn.execute(
                    update(t)
                    .where(
                        t.c.campaign_id == campaign_id, t.c.day == day, t.c.drawn_micros == old.drawn_micros
                    )
                    .values(budget_micros=new.budget_micros, drawn_micros=new.drawn_micros)
                )
                if res.rowcount == 1:
                    return int(got)
        raise Conflict(f"budget of {campaign_id} on day {day}: too many concurrent draws, try again")

    def draw_budget(self, campaign_id: str, day: int, budget_micros: int, want_micros: int) -> int:
        return self._swap(campaign_id, day, budget_micros, lambda r: grant(r, want_micros, budget_micros))

    def return_budget(self, campaign_id: str, day: int, unused_micros: int) -> None:
        self._swap(campaign_id, day, 0, lambda r: (0, give_back(r, unused_micros)))

    def add_spend(self, day: int, spend: Mapping[str, int]) -> None:
        """Add the ingested clicks' cost per campaign (one atomic increment each, in one transaction)."""
        t = self.t.budget_draws
        with self.engine.begin() as conn:
            for cid, micros in sorted(spend.items()):  # a fixed order: no deadlock between two processes
                self._new_draws(conn, cid, day, 0)
                conn.execute(
                    update(t)
                    .where(t.c.campaign_id == cid, t.c.day == day)
                    .values(spent_micros=t.c.spent_micros + int(micros))
                )

    def day_draws(self, day: int) -> dict[str, DayDraws]:
        t = self.t.budget_draws
        q = select(t.c.campaign_id, t.c.budget_micros, t.c.drawn_micros, t.c.spent_micros).where(
            t.c.day == day
        )
        with self.engine.connect() as conn:
            return {str(r[0]): DayDraws(int(r[1]), int(r[2]), int(r[3])) for r in conn.execute(q)}

    # version counters ------------------------------------------------------------------------------
    def bump_version(self, conn: Connection, name: str) -> None:
        """Inside the writer's transaction, so a reader never sees the change without the new version."""
        t = self.t.versions
        self._insert_missing(conn, t, {"name": name, "version": 0})
        conn.execute(update(t).where(t.c.name == name).values(version=t.c.version + 1))

    def store_version(self, name: str) -> int:
        t = self.t.versions
        with self.engine.connect() as conn:
            v = conn.execute(select(t.c.version).where(t.c.name == name)).scalar()
        return int(v or 0)
