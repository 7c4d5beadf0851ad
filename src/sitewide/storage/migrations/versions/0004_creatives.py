"""Issue 22: creatives — brand-kit versions per shop and each product's generated creatives (with verdicts).

Revision ID: 0004_creatives
Revises: 0003_experiments
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sitewide.storage.migrations.columns import ident, key, text

revision = "0004_creatives"
down_revision = "0003_experiments"


def upgrade() -> None:
    op.create_table(
        "brand_kits",
        key("shop_id"),
        sa.Column("version", sa.Integer, primary_key=True),
        *text("document"),
    )
    op.create_table(
        "creatives",
        key("id"),
        ident("product_id", index=True),
        sa.Column("position", sa.Integer, nullable=False),
        *text("document"),
    )


def downgrade() -> None:
    op.drop_table("creatives")
    op.drop_table("brand_kits")
