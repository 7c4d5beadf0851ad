"""Issue 21: an index on ``holdout_entries.ts_ms`` alone. The entries are read per campaign and time range (the
``(campaign_id, ts_ms)`` index of ``0010_holdouts``), but retention (``prune_holdout_entries``: every entry older
than a time, all campaigns) filters on ``ts_ms`` only, which that index cannot serve: without this one each
prune reads the whole table."""

from __future__ import annotations

from alembic import op

from sitewide.storage.migrations.steps import revisions

revision, down_revision = revisions(__file__)


def upgrade() -> None:
    op.create_index("ix_holdout_entries_ts", "holdout_entries", ["ts_ms"])


def downgrade() -> None:
    op.drop_index("ix_holdout_entries_ts", "holdout_entries")
