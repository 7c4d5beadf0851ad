"""Baseline: the schema SqlStore created before migrations (catalogue, campaigns, events, ledger).

Revision ID: 0001_baseline
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shops",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("merchant_id", sa.String(64), nullable=False, index=True),
        sa.Column("name", sa.Text, nullable=False),
    )
    op.create_table(
        "products",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("shop_id", sa.String(64), nullable=False, index=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("category", sa.Text, nullable=False),
        sa.Column("brand", sa.Text, nullable=False),
        sa.Column("price_micros", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "campaigns",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("merchant_id", sa.String(64), nullable=False, index=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("product_ids", sa.Text, nullable=False),
        sa.Column("target_roi", sa.String(32), nullable=False),
        sa.Column("daily_budget_micros", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ts_ms", sa.BigInteger, nullable=False, index=True),
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
    )
    op.create_table(
        "served",
        sa.Column("campaign_id", sa.String(64), primary_key=True),
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("impressions", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "transactions",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(160), nullable=False, unique=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("period", sa.String(64), nullable=False),
        sa.Column("ts_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("txn_id", sa.String(160), nullable=False, index=True),
        sa.Column("account", sa.String(160), nullable=False, index=True),
        sa.Column("amount_micros", sa.BigInteger, nullable=False),
        sa.Column("memo", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for t in ("ledger_entries", "transactions", "served", "events", "campaigns", "products", "shops"):
        op.drop_table(t)
