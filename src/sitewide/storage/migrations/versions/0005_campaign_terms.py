"""Issue 14: effective-dated campaign terms. Every version of a campaign's money terms (target ROI, daily
budget, status, products) with the time it took effect; settlement figures record the terms of their day.

Existing campaigns get version 1 in force from their creation, with their current terms (the only terms a
database from before this revision knows); existing figures get their campaign's current target."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sitewide.storage.migrations.columns import bigints, ident, key, text
from sitewide.storage.migrations.steps import revisions

revision, down_revision = revisions(__file__)


def upgrade() -> None:
    op.create_table(
        "campaign_terms",
        key("campaign_id"),
        sa.Column("version", sa.Integer, primary_key=True),
        *bigints("effective_ms"),
        ident("target_roi", 32),
        *bigints("daily_budget_micros"),
        ident("status", 16),
        *text("product_ids"),
    )
    op.execute(
        "INSERT INTO campaign_terms (campaign_id, version, effective_ms, target_roi, daily_budget_micros, "
        "status, product_ids) SELECT id, 1, created_ms, target_roi, daily_budget_micros, status, product_ids "
        "FROM campaigns"
    )
    with op.batch_alter_table("settlement_days") as b:
        b.add_column(sa.Column("target_roi", sa.String(32), nullable=False, server_default="0"))
        b.add_column(sa.Column("terms_versions", sa.String(200), nullable=False, server_default="[1]"))
    op.execute(
        "UPDATE settlement_days SET target_roi = (SELECT c.target_roi FROM campaigns c "
        "WHERE c.id = settlement_days.campaign_id) "
        "WHERE EXISTS (SELECT 1 FROM campaigns c WHERE c.id = settlement_days.campaign_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("settlement_days") as b:
        b.drop_column("terms_versions")
        b.drop_column("target_roi")
    op.drop_table("campaign_terms")
