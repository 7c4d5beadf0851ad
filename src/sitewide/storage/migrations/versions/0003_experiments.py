"""Issue 20: merchant experiments, one JSON document per experiment (arms, salt, guardrails, status, winner).

Revision ID: 0003_experiments
Revises: 0002_settlement_ledger
"""

from __future__ import annotations

from alembic import op

from sitewide.storage.migrations.columns import ident, key, text

revision = "0003_experiments"
down_revision = "0002_settlement_ledger"


def upgrade() -> None:
    op.create_table(
        "experiments",
        key("id"),
        ident("merchant_id", index=True),
        ident("campaign_id"),
        ident("status", 16),
        *text("document"),
    )


def downgrade() -> None:
    op.drop_table("experiments")
