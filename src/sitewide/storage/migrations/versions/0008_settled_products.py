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

revision = "0008_settled_products"
down_revision = "0007_account_tables"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("settlement_days") as b:
        b.add_column(sa.Column("impressions", sa.BigInteger, nullable=False, server_default="0"))
    op.create_table(
        "settlement_products",
        sa.Column("campaign_id", sa.String(64), primary_key=True),
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("run_seq", sa.BigInteger, primary_key=True),
        sa.Column("product_id", sa.String(64), primary_key=True),
        sa.Column("impressions", sa.BigInteger, nullable=False),
        sa.Column("clicks", sa.BigInteger, nullable=False),
        sa.Column("spend_micros", sa.BigInteger, nullable=False),
        sa.Column("orders", sa.BigInteger, nullable=False),
        sa.Column("gross_gmv_micros", sa.BigInteger, nullable=False),
        sa.Column("refunded_micros", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_settlement_products_day", "settlement_products", ["day"])


def downgrade() -> None:
    op.drop_table("settlement_products")
    with op.batch_alter_table("settlement_days") as b:
        b.drop_column("impressions")
