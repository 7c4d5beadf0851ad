"""Issue 21: ghost-bid holdouts survive a restart. ``holdout_shares``: each campaign's share of would-win auctions
withheld, in parts per million. ``holdout_entries``: the log of would-win requests per campaign (``ghost`` 1 =
withheld, 0 = exposed) with the expected ad revenue at stake, which the incrementality estimate reads."""

from __future__ import annotations

from alembic import op

from sitewide.storage.migrations.columns import bigints, key
from sitewide.storage.migrations.steps import revisions

revision, down_revision = revisions(__file__)


def upgrade() -> None:
    op.create_table("holdout_shares", key("campaign_id"), *bigints("share_ppm"))
    op.create_table(
        "holdout_entries",
        key("campaign_id"),
        key("request_id", 128),
        *bigints("ghost", "ts_ms", "expected_cost_micros"),
    )
    op.create_index("ix_holdout_entries_campaign_ts", "holdout_entries", ["campaign_id", "ts_ms"])


def downgrade() -> None:
    op.drop_index("ix_holdout_entries_campaign_ts", "holdout_entries")
    op.drop_table("holdout_entries")
    op.drop_table("holdout_shares")
