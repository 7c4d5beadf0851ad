"""Baseline: the schema SqlStore created before migrations (catalogue, campaigns, events, ledger)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sitewide.storage.migrations.columns import bigints, event_columns, ident, key, text
from sitewide.storage.migrations.steps import revisions

revision, down_revision = revisions(__file__)


def upgrade() -> None:
    op.create_table("shops", key("id"), ident("merchant_id", index=True), *text("name"))
    op.create_table(
        "products",
        key("id"),
        ident("shop_id", index=True),
        *text("title", "category", "brand"),
        *bigints("price_micros"),
    )
    op.create_table(
        "campaigns",
        key("id"),
        ident("merchant_id", index=True),
        *text("name", "product_ids"),
        ident("target_roi", 32),
        *bigints("daily_budget_micros"),
        ident("status", 16),
        *bigints("created_ms"),
    )
    op.create_table(
        "events",
        key("id", 128),
        *event_columns(ts_index=True),
    )
    op.create_table("served", key("campaign_id"), key("day", 10), *bigints("impressions"))
    op.create_table(
        "transactions",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(160), nullable=False, unique=True),
        ident("kind", 32),
        ident("period"),
        *bigints("ts_ms"),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        ident("txn_id", 160, index=True),
        ident("account", 160, index=True),
        *bigints("amount_micros"),
        *text("memo"),
    )


def downgrade() -> None:
    for t in ("ledger_entries", "transactions", "served", "events", "campaigns", "products", "shops"):
        op.drop_table(t)
