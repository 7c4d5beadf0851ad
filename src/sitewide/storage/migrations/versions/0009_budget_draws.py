"""Issue 24: several serving processes on one database. ``budget_draws``: per campaign-day, how much of the
daily budget the processes have drawn as leases (net of returns) and what the clicks ingested so far cost
(see ``sitewide.domain.budget_lease``).
``store_versions``: a counter per kind of shared state (``campaigns``), bumped in the transaction that changes
it, which every process polls to reload what another process changed.

Revision ID: 0009_budget_draws
Revises: 0008_settled_products
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sitewide.storage.migrations.columns import bigints, key

revision = "0009_budget_draws"
down_revision = "0008_settled_products"


def upgrade() -> None:
    op.create_table(
        "budget_draws",
        key("campaign_id"),
        sa.Column("day", sa.BigInteger, primary_key=True, autoincrement=False),
        *bigints("budget_micros", "drawn_micros", "spent_micros"),
    )
    op.create_table("store_versions", key("name"), *bigints("version"))


def downgrade() -> None:
    op.drop_table("store_versions")
    op.drop_table("budget_draws")
