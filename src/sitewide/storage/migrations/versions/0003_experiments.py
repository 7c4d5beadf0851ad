"""Issue 20: merchant experiments, one JSON document per experiment (arms, salt, guardrails, status, winner).

Revision ID: 0003_experiments
Revises: 0002_settlement_ledger
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_experiments"
down_revision = "0002_settlement_ledger"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("merchant_id", sa.String(64), nullable=False, index=True),
        sa.Column("campaign_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("document", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("experiments")
