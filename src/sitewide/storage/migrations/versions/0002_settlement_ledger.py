"""Issue 7: events get an ingestion sequence (dirty tracking for incremental settlement) and an order_id
index; settlement runs, per campaign-day figures, guarantee judgements and contracts (all append-only)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sitewide.storage.migrations.columns import bigints, event_columns, ident, key, text
from sitewide.storage.migrations.steps import revisions

revision, down_revision = revisions(__file__)

SEQ = sa.BigInteger().with_variant(sa.Integer, "sqlite")
EVENT_COLS = (
    "id, kind, ts_ms, user_id, product_id, request_id, campaign_id, position, price_micros, "
    "order_value_micros, click_id, impression_id, order_id"
)


def upgrade() -> None:
    op.create_table(
        "events_v2",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(128), nullable=False),
        *event_columns(),
        sa.UniqueConstraint("id", name="uq_events_id"),
    )
    op.execute(f"INSERT INTO events_v2 ({EVENT_COLS}) SELECT {EVENT_COLS} FROM events ORDER BY ts_ms, id")
    op.drop_table("events")
    op.rename_table("events_v2", "events")
    op.create_index("ix_events_ts_ms", "events", ["ts_ms"])
    op.create_index("ix_events_order_id", "events", ["order_id"])

    op.create_table(
        "settlement_runs",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        ident("period", index=True),
        *bigints("start_ms", "end_ms", "as_of_ms", "event_watermark", "ts_ms"),
    )
    op.create_table(
        "settlement_days",
        key("campaign_id"),
        key("day", 10),
        sa.Column("run_seq", sa.BigInteger, primary_key=True),
        ident("merchant_id"),
        *bigints("budget_micros", "clicks", "invalid_clicks"),
        *text("invalid_by_rule"),
        *bigints(
            "billable_clicks",
            "raw_spend_micros",
            "spend_micros",
            "orders",
            "gross_gmv_micros",
            "refunded_micros",
        ),
    )
    op.create_index("ix_settlement_days_day", "settlement_days", ["day"])
    op.create_table(
        "guarantee_evaluations",
        key("campaign_id"),
        key("window_key", 32),
        sa.Column("run_seq", sa.BigInteger, primary_key=True),
        ident("merchant_id"),
        ident("first_day", 10, index=True),
        sa.Column("days", sa.Integer, nullable=False),
        sa.Column("contract_version", sa.Integer, nullable=False),
        *text("contract"),
        ident("target_roi", 32),
        *bigints("spend_micros", "gmv_micros", "orders"),
        sa.Column("triggered", sa.Boolean, nullable=False),
        *bigints("due_micros"),
        *text("reason"),
    )
    op.create_table(
        "guarantee_contracts",
        key("campaign_id"),
        sa.Column("version", sa.Integer, primary_key=True),
        *text("document"),
    )


def downgrade() -> None:
    for t in ("guarantee_contracts", "guarantee_evaluations", "settlement_days", "settlement_runs"):
        op.drop_table(t)
    op.create_table("events_v1", sa.Column("id", sa.String(128), primary_key=True), *event_columns())
    op.execute(f"INSERT INTO events_v1 ({EVENT_COLS}) SELECT {EVENT_COLS} FROM events")
    op.drop_table("events")
    op.rename_table("events_v1", "events")
    op.create_index("ix_events_ts_ms", "events", ["ts_ms"])
