"""Migration 0013: retention of the ghost-bid holdout log (``prune_holdout_entries``: every entry before a time,
all campaigns) is served by an index on ``holdout_entries.ts_ms``, not a scan of the table; the migration goes
down and up again."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, inspect, text

from sitewide.domain.incrementality import HoldoutEntry
from sitewide.storage import migrate
from sitewide.storage.sql import SqlStore

PRUNE = "EXPLAIN QUERY PLAN DELETE FROM holdout_entries WHERE ts_ms < 5"


def _plan(eng: object) -> str:
    with eng.connect() as conn:  # type: ignore[attr-defined]
        return " ".join(str(r[-1]) for r in conn.execute(text(PRUNE)))


def _indexes(eng: object) -> set[str]:
    return {str(i["name"]) for i in inspect(eng).get_indexes("holdout_entries")}


def test_pruning_old_holdout_entries_searches_the_ts_index(tmp_path: Path) -> None:
    eng = create_engine(f"sqlite:///{tmp_path / 'h.sqlite'}")
    migrate.upgrade(eng)
    assert "ix_holdout_entries_ts" in _indexes(eng)
    assert "USING INDEX ix_holdout_entries_ts" in _plan(eng), _plan(eng)
    store = SqlStore(eng)
    store.append_holdout_entries(
        [
            HoldoutEntry(f"r{i}", c, i % 2 == 0, ts, 10)
            for i, (c, ts) in enumerate([("a", 1), ("b", 4), ("a", 9)])
        ]
    )
    assert store.prune_holdout_entries(5) == 2
    assert [e.request_id for e in store.holdout_entries("a", 0, 100)] == ["r2"]


def test_the_index_migration_goes_down_and_up(tmp_path: Path) -> None:
    eng = create_engine(f"sqlite:///{tmp_path / 'd.sqlite'}")
    migrate.upgrade(eng)
    migrate.downgrade(eng, "0012_event_partitions")
    assert "ix_holdout_entries_ts" not in _indexes(eng)
    assert "ix_holdout_entries_campaign_ts" in _indexes(eng)
    assert "USING INDEX ix_holdout_entries_ts" not in _plan(eng)
    migrate.upgrade(eng)
    assert migrate.current_revision(eng) == migrate.HEAD and "ix_holdout_entries_ts" in _indexes(eng)
