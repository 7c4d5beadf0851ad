"""Issue 22: creatives — brand-kit versions per shop and each product's generated creatives (with verdicts)."""

from __future__ import annotations

import sqlalchemy as sa

from sitewide.storage.migrations.columns import ident, key, text
from sitewide.storage.migrations.steps import new_tables, revisions

revision, down_revision = revisions(__file__)
upgrade, downgrade = new_tables(
    brand_kits=lambda: [
        key("shop_id"),
        sa.Column("version", sa.Integer, primary_key=True),
        *text("document"),
    ],
    creatives=lambda: [
        key("id"),
        ident("product_id", index=True),
        sa.Column("position", sa.Integer, nullable=False),
        *text("document"),
    ],
)
