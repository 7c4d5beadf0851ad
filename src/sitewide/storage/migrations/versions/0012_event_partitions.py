"""Issue 24: on PostgreSQL the events table is partitioned by UTC day (``storage/sql_partitions.py`` says how and
why ``event_ids`` keeps events idempotent by id). SQLite keeps its one table: this migration changes nothing there.

Upgrade: the flat table is renamed aside; ``events`` is created ``PARTITION BY RANGE (ts_ms)`` with the same
columns (its ``seq`` still drawn from the same sequence, so the settlement watermark carries on), a default
partition, primary key ``(seq, ts_ms)`` and indexes on ``order_id`` and ``id`` (none on ``ts_ms``: each day's
partition is its range); every id goes into
``event_ids``, every row into ``events``, then each day present (and today … today + 2) gets its partition.
Downgrade: the reverse, into one flat table with ``seq`` as primary key and ``id`` unique.
"""

from __future__ import annotations

import time

from alembic import op
from sqlalchemy import text

from sitewide.domain.time import DAY_MS
from sitewide.storage.migrations.steps import revisions
from sitewide.storage.sql_partitions import DEFAULT, ensure_day_partitions

revision, down_revision = revisions(__file__)

_SEQ = "SELECT pg_get_serial_sequence('{table}', 'seq')"


def _sequence(table: str) -> str:
    return str(op.get_bind().execute(text(_SEQ.format(table=table))).scalar())


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    seq = _sequence("events")
    op.execute(f"ALTER SEQUENCE {seq} OWNED BY NONE")  # the sequence outlives the flat table
    op.execute("ALTER TABLE events RENAME TO events_flat")
    for old in ("events_v2_pkey", "uq_events_id", "ix_events_ts_ms", "ix_events_order_id"):
        op.execute(f"ALTER INDEX IF EXISTS {old} RENAME TO {old}_flat")
    op.execute(
        "CREATE TABLE events (LIKE events_flat INCLUDING DEFAULTS, PRIMARY KEY (seq, ts_ms)) "
        "PARTITION BY RANGE (ts_ms)"
    )
    op.execute(f"ALTER SEQUENCE {seq} OWNED BY events.seq")
    op.execute(f"CREATE TABLE {DEFAULT} PARTITION OF events DEFAULT")
    # no index on ts_ms: a day's partition is its range (every time-range read is of whole days, pruned to
    # their partitions and read through; an index on ts_ms cost a third more server CPU per ingested event)
    op.execute("CREATE INDEX ix_events_order_id ON events (order_id)")
    op.execute("CREATE INDEX ix_events_id ON events (id)")  # get_events, refunds, the check of a repeated id
    op.execute("CREATE TABLE event_ids (id VARCHAR(128) PRIMARY KEY)")
    op.execute("INSERT INTO event_ids (id) SELECT id FROM events_flat")
    op.execute("INSERT INTO events SELECT * FROM events_flat")
    op.execute("DROP TABLE events_flat")
    today = int(time.time() * 1000) // DAY_MS
    ensure_day_partitions(conn, range(today, today + 3))


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    seq = _sequence("events")
    op.execute(f"ALTER SEQUENCE {seq} OWNED BY NONE")
    op.execute("ALTER TABLE events RENAME TO events_parted")
    for name in ("ix_events_order_id", "ix_events_id"):
        op.execute(f"ALTER INDEX IF EXISTS {name} RENAME TO {name}_parted")
    op.execute("CREATE TABLE events (LIKE events_parted INCLUDING DEFAULTS)")
    op.execute("ALTER TABLE events ADD CONSTRAINT events_v2_pkey PRIMARY KEY (seq)")
    op.execute("ALTER TABLE events ADD CONSTRAINT uq_events_id UNIQUE (id)")
    op.execute(f"ALTER SEQUENCE {seq} OWNED BY events.seq")
    op.execute("INSERT INTO events SELECT * FROM events_parted ORDER BY seq")
    op.execute("DROP TABLE events_parted")  # its partitions with it
    op.execute("DROP TABLE event_ids")
    op.execute("CREATE INDEX ix_events_ts_ms ON events (ts_ms)")
    op.execute("CREATE INDEX ix_events_order_id ON events (order_id)")
