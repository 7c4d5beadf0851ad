"""Issue 24: several serving processes on one database. ``budget_draws``: per campaign-day, how much of the
daily budget the processes have drawn as leases (net of returns) and what the clicks ingested so far cost
(see ``sitewide.domain.budget_lease``).
``store_versions``: a counter per kind of shared state (``campaigns``), bumped in the transaction that changes
it, which every process polls to reload what another process changed."""

from __future__ import annotations

import sqlalchemy as sa

from sitewide.storage.migrations.columns import bigints, key
from sitewide.storage.migrations.steps import new_tables, revisions

revision, down_revision = revisions(__file__)
upgrade, downgrade = new_tables(
    budget_draws=lambda: [
        key("campaign_id"),
        sa.Column("day", sa.BigInteger, primary_key=True, autoincrement=False),
        *bigints("budget_micros", "drawn_micros", "spent_micros"),
    ],
    store_versions=lambda: [key("name"), *bigints("version")],
)
