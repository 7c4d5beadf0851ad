"""Day partitions of the events table on PostgreSQL (migration ``0012_event_partitions``; SQLite keeps one table).

``events`` is ``PARTITION BY RANGE (ts_ms)``: one partition per UTC day, ``events_dYYYYMMDD`` holding
``[d × DAY_MS, (d + 1) × DAY_MS)``, and ``events_default`` for any timestamp without its day's partition (a late
batch, clock skew, a day nobody prepared). Settlement creates the partitions ahead of the traffic
(:func:`ensure_day_partitions` from ``SqlStore.prepare_event_days``), so that the default partition stays empty in
steady state; a day that does have rows there gets its partition on the next run, its rows moved into it.

Idempotency by id: PostgreSQL requires every unique constraint of a partitioned table to contain the partition
key, so ``events`` can only be unique on ``(seq, ts_ms)``; a unique ``(id, ts_ms)`` would let the same id with
another timestamp in twice. Ids are therefore claimed in ``event_ids (id PRIMARY KEY)``, in the same statement
and transaction as the insert into ``events``: only the ids claimed there are inserted, so an id is stored once
whichever day its timestamp falls on, and a retry (or a different body under a stored id) finds it claimed.

Retention (:func:`drop_days_before`, from ``SqlStore.drop_events_before``): the partitions of the days before the
horizon are detached and dropped, their ids deleted from ``event_ids`` first (so ``event_ids`` holds the retained
days' ids only: the idempotency window equals the retention), rows of those days in the default partition deleted,
and the default partition gets ``CHECK (ts_ms >= horizon)`` (named ``events_horizon_<ms>``): an event before the
horizon has no partition to go to, so the check refuses it (the whole batch) — a retry of a forgotten id cannot
come back in as a new event.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection

from sitewide.domain.time import DAY_MS

DEFAULT = "events_default"
PREFIX = "events_d"
HORIZON = "events_horizon_"  # the default partition's CHECK (ts_ms >= <ms>): retention's horizon
_LOCK = 727412  # one partition maintainer at a time (pg_advisory_xact_lock)


def partition_name(day: int) -> str:
    """``events_dYYYYMMDD`` for the UTC day index ``day`` (days since 1970-01-01)."""
    return PREFIX + datetime.fromtimestamp(day * DAY_MS / 1000, UTC).strftime("%Y%m%d")


def partition_day(name: str) -> int | None:
    """The UTC day index a partition's name stands for (None for the default partition or another table)."""
    if not name.startswith(PREFIX) or len(name) != len(PREFIX) + 8 or not name[len(PREFIX) :].isdigit():
        return None
    d = datetime.strptime(name[len(PREFIX) :], "%Y%m%d").replace(tzinfo=UTC)
    return int(d.timestamp() * 1000) // DAY_MS


def is_partitioned(conn: Connection) -> bool:
    """Whether ``events`` (as the search path finds it) is a partitioned table."""
    kind = conn.execute(text("SELECT relkind FROM pg_class WHERE oid = to_regclass('events')")).scalar()
    return kind == "p"


def day_partitions(conn: Connection) -> set[int]:
    """The days that have a partition of their own."""
    rows = conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass('events')"
        )
    )
    return {d for (name,) in rows if (d := partition_day(str(name))) is not None}


def default_days(conn: Connection) -> set[int]:
    """The days of the rows that fell into the default partition (normally none: it is read whole)."""
    rows = conn.execute(text(f"SELECT DISTINCT ts_ms / {DAY_MS} FROM {DEFAULT}"))
    return {int(r[0]) for r in rows}


def ensure_day_partitions(conn: Connection, days: Iterable[int]) -> list[int]:
    """Create the partitions of ``days`` that do not exist yet, and of every day with rows in the default
    partition (moved into it in the same transaction). Returns the days created. Under an advisory lock, so that
    two settlers (or a settler and a migration) never race on the same day."""
    conn.execute(text(f"SELECT pg_advisory_xact_lock({_LOCK})"))
    h = horizon(conn)
    want = {d for d in set(days) | default_days(conn) if h is None or d * DAY_MS >= h} - day_partitions(conn)
    for d in sorted(want):
        name, lo, hi = partition_name(d), d * DAY_MS, (d + 1) * DAY_MS
        # a plain table first, the day's rows moved out of the default partition into it, then attached:
        # attaching checks the default holds no row of the new range (CREATE … PARTITION OF would fail on one)
        conn.execute(text(f'CREATE TABLE "{name}" (LIKE events INCLUDING DEFAULTS)'))
        conn.execute(
            text(
                f"WITH moved AS (DELETE FROM {DEFAULT} WHERE ts_ms >= {lo} AND ts_ms < {hi} RETURNING *) "
                f'INSERT INTO "{name}" SELECT * FROM moved'
            )
        )
        conn.execute(text(f'ALTER TABLE events ATTACH PARTITION "{name}" FOR VALUES FROM ({lo}) TO ({hi})'))
    return sorted(want)


def horizon(conn: Connection) -> int | None:
    """Retention's horizon (ms): events before it are refused (None: nothing was ever dropped)."""
    names = conn.execute(
        text(
            "SELECT conname FROM pg_constraint WHERE conrelid = to_regclass(:t) AND conname LIKE :p ESCAPE '!'"
        ),
        {"t": DEFAULT, "p": HORIZON.replace("_", "!_") + "%"},
    )
    return max((int(str(n)[len(HORIZON) :]) for (n,) in names), default=None)


def drop_days_before(conn: Connection, before_ms: int) -> list[int]:
    """Retention: drop the day partitions wholly before ``before_ms`` (a day boundary) and the default
    partition's rows before it, their ids forgotten, and refuse any event before it from now on (the default
    partition's CHECK). Returns the days whose events went. A horizon at or before the current one changes
    nothing. Under the partition maintainers' advisory lock."""
    conn.execute(text(f"SELECT pg_advisory_xact_lock({_LOCK})"))
    old = horizon(conn)
    if old is not None and before_ms <= old:
        return []
    gone = {d for d in day_partitions(conn) if (d + 1) * DAY_MS <= before_ms}
    for d in sorted(gone):
        name = partition_name(d)
        conn.execute(text(f'DELETE FROM event_ids e USING "{name}" p WHERE e.id = p.id'))
        conn.execute(text(f'ALTER TABLE events DETACH PARTITION "{name}"'))
        conn.execute(text(f'DROP TABLE "{name}"'))
    rows = conn.execute(
        text(
            f"WITH gone AS (DELETE FROM {DEFAULT} WHERE ts_ms < {before_ms} RETURNING id, ts_ms), "
            "ids AS (DELETE FROM event_ids e USING gone WHERE e.id = gone.id) "
            f"SELECT DISTINCT ts_ms / {DAY_MS} FROM gone"
        )
    )
    gone |= {int(r[0]) for r in rows}
    if old is not None:
        conn.execute(text(f'ALTER TABLE {DEFAULT} DROP CONSTRAINT "{HORIZON}{old}"'))
    conn.execute(text(f'ALTER TABLE {DEFAULT} ADD CONSTRAINT "{HORIZON}{before_ms}" CHECK (ts_ms >= {before_ms})'))
    return sorted(gone)
