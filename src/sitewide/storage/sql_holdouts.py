"""The SQL store's ghost-bid holdouts (a part of :class:`SqlStore`): each campaign's holdout share and the log
of would-win requests the incrementality estimate reads (migration ``0010_holdouts``)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from sitewide.domain.incrementality import HoldoutEntry
from sitewide.storage.schema import Tables

PPM = 1_000_000  # shares are stored in parts per million


class SqlHoldouts:
    engine: Engine
    t: Tables

    def put_holdout_share(self, campaign_id: str, share: float) -> None:
        t = self.t.holdout_shares
        with self.engine.begin() as conn:
            conn.execute(delete(t).where(t.c.campaign_id == campaign_id))
            conn.execute(insert(t).values(campaign_id=campaign_id, share_ppm=round(float(share) * PPM)))

    def holdout_shares(self) -> dict[str, float]:
        t = self.t.holdout_shares
        with self.engine.connect() as conn:
            return {str(c): int(p) / PPM for c, p in conn.execute(select(t.c.campaign_id, t.c.share_ppm))}

    def append_holdout_entries(self, entries: Sequence[HoldoutEntry]) -> None:
        if not entries:
            return
        t = self.t.holdout_entries
        rows = [
            {
                "campaign_id": e.campaign_id,
                "request_id": e.request_id,
                "ghost": int(e.ghost),
                "ts_ms": int(e.ts_ms),
                "expected_cost_micros": int(e.expected_cost_micros),
            }
            for e in entries
        ]
        ins = postgresql.insert(t) if self.engine.dialect.name == "postgresql" else sqlite.insert(t)
        with self.engine.begin() as conn:  # a (campaign, request) logged again keeps its first entry
            conn.execute(ins.on_conflict_do_nothing(), rows)

    def holdout_entries(self, campaign_id: str, start_ms: int, end_ms: int) -> list[HoldoutEntry]:
        t = self.t.holdout_entries
        q = (
            select(t.c.request_id, t.c.ghost, t.c.ts_ms, t.c.expected_cost_micros)
            .where(t.c.campaign_id == campaign_id, t.c.ts_ms >= start_ms, t.c.ts_ms < end_ms)
            .order_by(t.c.ts_ms, t.c.request_id)
        )
        with self.engine.connect() as conn:
            return [
                HoldoutEntry(str(r), campaign_id, bool(g), int(ts), int(cost))
                for r, g, ts, cost in conn.execute(q)
            ]

    def prune_holdout_entries(self, before_ms: int) -> int:
        t = self.t.holdout_entries
        with self.engine.begin() as conn:
            return int(conn.execute(delete(t).where(t.c.ts_ms < int(before_ms))).rowcount or 0)
