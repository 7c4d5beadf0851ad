"""Issue 19: the eligibility pool's history. ``acct_pool_changes``: one row each time a product left the
promotion pool or came back when the pool was recomputed (new quality signals or shop metrics): when, its state
after (``eligible`` 1 = back in the pool), the policy version and, for a product that left, the rules it failed
(a JSON list of rule results). The product page and the campaign list's alerts read it."""

from __future__ import annotations

import sqlalchemy as sa

from sitewide.storage.migrations.columns import bigints, ident, text
from sitewide.storage.migrations.steps import new_tables, revisions

revision, down_revision = revisions(__file__)

upgrade, downgrade = new_tables(
    acct_pool_changes=lambda: [
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        *bigints("ts_ms", "eligible"),
        ident("product_id", index=True),
        ident("policy_version", 32),
        *text("failures"),
    ]
)
