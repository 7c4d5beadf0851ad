"""Issue 14: one source for every report figure. A settled campaign-day records its impression events and its
figures by product (``settlement_products``, append-only like ``settlement_days``: the latest run per
campaign-day is the truth), so reports by day, campaign and product are sums of the same rows.

Days settled before this revision have no impressions and no product rows until a later run recomputes them.

Revision ID: 0008_settled_products
Revises: 0007_account_tables
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sitewide.storage.migrations.columns import bigints, key

revision = "0008_settled_products"
down_revision = "0007_account_tables"


def upgrade() -> None:
    with op.batch_alter_table("settlement_days") as b:
        b.add_column(sa.Column("impressions", sa.BigInteger, nullable=False, server_default="0"))
    op.create_table(
        "settlement_products",
        key("campaign_id"),
        key("day", 10),
        sa.Column("run_seq", sa.BigInteger, primary_key=True),
        key("product_id"),
        *bigints("impressions", "clicks", "spend_micros", "orders", "gross_gmv_micros", "refunded_micros"),
    )
    op.create_index("ix_settlement_products_day", "settlement_products", ["day"])


def downgrade() -> None:
    op.drop_table("settlement_products")
    with op.batch_alter_table("settlement_days") as b:
        b.drop_column("impressions")
