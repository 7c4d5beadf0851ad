"""Issue 14: one source for every report figure. A settled campaign-day records its impression events and its
figures by product (``settlement_products``, append-only like ``settlement_days``: the latest run per
campaign-day is the truth), so reports by day, campaign and product are sums of the same rows.

Days settled before this revision have no impressions and no product rows until a later run recomputes them."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sitewide.storage.migrations.columns import bigints, key
from sitewide.storage.migrations.steps import revisions

revision, down_revision = revisions(__file__)


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
