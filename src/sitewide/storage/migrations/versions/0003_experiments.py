"""Issue 20: merchant experiments, one JSON document per experiment (arms, salt, guardrails, status, winner)."""

from __future__ import annotations

from sitewide.storage.migrations.columns import ident, key, text
from sitewide.storage.migrations.steps import new_tables, revisions

revision, down_revision = revisions(__file__)
upgrade, downgrade = new_tables(
    experiments=lambda: [
        key("id"),
        ident("merchant_id", index=True),
        ident("campaign_id"),
        ident("status", 16),
        *text("document"),
    ],
)
