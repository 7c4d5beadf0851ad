"""Issue 22: creatives — brand-kit versions per shop and each product's generated creatives (with verdicts).

Revision ID: 0004_creatives
Revises: 0003_experiments
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_creatives"
down_revision = "0003_experiments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "brand_kits",
        sa.Column("shop_id", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("document", sa.Text, nullable=False),
    )
    op.create_table(
        "creatives",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("product_id", sa.String(64), nullable=False, index=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("document", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("creatives")
    op.drop_table("brand_kits")
