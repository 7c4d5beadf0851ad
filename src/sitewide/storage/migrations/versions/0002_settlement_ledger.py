"""Issue 7: events get an ingestion sequence (dirty tracking for incremental settlement) and an order_id
index; settlement runs, per campaign-day figures, guarantee judgements and contracts (all append-only).

Revision ID: 0002_settlement_ledger
Revises: 0001_baseline
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_settlement_ledger"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer, "sqlite")
EVENT_COLS = (
    "id, kind, ts_ms, user_id, product_id, request_id, campaign_id, position, price_micros, "
    "order_value_micros, click_id, impression_id, order_id"
)


def _event_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ts_ms", sa.BigInteger, nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("product_id", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("campaign_id", sa.String(64)),
        sa.Column("position", sa.Integer),
        sa.Column("price_micros", sa.BigInteger, nullable=False),
        sa.Column("order_value_micros", sa.BigInteger, nullable=False),
        sa.Column("click_id", sa.String(128)),
        sa.Column("impression_id", sa.String(128)),
        sa.Column("order_id", sa.String(128)),
    ]


def upgrade() -> None:
    op.create_table(
        "events_v2",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(128), nullable=False),
        *_event_columns(),
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
        sa.Column("period", sa.String(64), nullable=False, index=True),
        sa.Column("start_ms", sa.BigInteger, nullable=False),
        sa.Column("end_ms", sa.BigInteger, nullable=False),
        sa.Column("as_of_ms", sa.BigInteger, nullable=False),
        sa.Column("event_watermark", sa.BigInteger, nullable=False),
        sa.Column("ts_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "settlement_days",
        sa.Column("campaign_id", sa.String(64), primary_key=True),
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("run_seq", sa.BigInteger, primary_key=True),
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("budget_micros", sa.BigInteger, nullable=False),
        sa.Column("clicks", sa.BigInteger, nullable=False),
        sa.Column("invalid_clicks", sa.BigInteger, nullable=False),
        sa.Column("invalid_by_rule", sa.Text, nullable=False),
        sa.Column("billable_clicks", sa.BigInteger, nullable=False),
        sa.Column("raw_spend_micros", sa.BigInteger, nullable=False),
        sa.Column("spend_micros", sa.BigInteger, nullable=False),
        sa.Column("orders", sa.BigInteger, nullable=False),
        sa.Column("gross_gmv_micros", sa.BigInteger, nullable=False),
        sa.Column("refunded_micros", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_settlement_days_day", "settlement_days", ["day"])
    op.create_table(
        "guarantee_evaluations",
        sa.Column("campaign_id", sa.String(64), primary_key=True),
        sa.Column("window_key", sa.String(32), primary_key=True),
        sa.Column("run_seq", sa.BigInteger, primary_key=True),
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("first_day", sa.String(10), nullable=False, index=True),
        sa.Column("days", sa.Integer, nullable=False),
        sa.Column("contract_version", sa.Integer, nullable=False),
        sa.Column("contract", sa.Text, nullable=False),
        sa.Column("target_roi", sa.String(32), nullable=False),
        sa.Column("spend_micros", sa.BigInteger, nullable=False),
        sa.Column("gmv_micros", sa.BigInteger, nullable=False),
        sa.Column("orders", sa.BigInteger, nullable=False),
        sa.Column("triggered", sa.Boolean, nullable=False),
        sa.Column("due_micros", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_table(
        "guarantee_contracts",
        sa.Column("campaign_id", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("document", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for t in ("guarantee_contracts", "guarantee_evaluations", "settlement_days", "settlement_runs"):
        op.drop_table(t)
    op.create_table("events_v1", sa.Column("id", sa.String(128), primary_key=True), *_event_columns())
    op.execute(f"INSERT INTO events_v1 ({EVENT_COLS}) SELECT {EVENT_COLS} FROM events")
    op.drop_table("events")
    op.rename_table("events_v1", "events")
    op.create_index("ix_events_ts_ms", "events", ["ts_ms"])
