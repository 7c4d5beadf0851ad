"""Issue 16: the account tables (merchants, API keys and their audit log, quality signals, appeals, auction
losses) come under the migrations; before this revision ``AccountStore`` and ``OperatorKeys`` made them with
``create_all`` and ALTERed the key table's later columns in by hand.

A database that already has them (made by ``create_all``) keeps them and their rows: a table that exists is
left as it is, except that the key table gets ``source`` and ``label`` when it predates them."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sitewide.storage.migrations.columns import bigints, ident, key, text
from sitewide.storage.migrations.steps import revisions

revision, down_revision = revisions(__file__)


def _key_columns_added() -> list[sa.Column[object]]:
    """The key table's columns that came after its first release."""
    return [
        # how the key came to be: "issued" (API/CLI), "config" (SITEWIDE_OPERATOR_KEY), "bootstrap"
        sa.Column("source", sa.String(16), nullable=False, server_default="issued"),
        sa.Column("label", sa.Text, nullable=False, server_default=""),
    ]


def _tables() -> dict[str, list[sa.Column[object]]]:
    """Fresh column objects each call (a Column belongs to one table)."""
    return {
        "acct_merchants": [key("id"), *text("name"), *bigints("created_ms")],
        "acct_api_keys": [
            key("prefix", 32),
            ident("sha256"),
            ident("role", 16),
            sa.Column("merchant_id", sa.String(64), index=True),
            *bigints("created_ms"),
            sa.Column("revoked", sa.Boolean, nullable=False),
            *_key_columns_added(),
        ],
        "acct_key_audit": [
            sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
            *bigints("ts_ms"),
            ident("actor"),  # key prefix of the caller, or "startup"
            ident("action", 16),  # create, revoke, rotate, configure
            ident("key_prefix", 32),
            *text("detail"),
        ],
        "acct_product_signals": [key("product_id"), *text("body")],  # JSON of ProductSignals
        "acct_shop_metrics": [key("shop_id"), *text("body")],  # JSON of ShopMetrics
        "acct_appeals": [
            key("id"),
            ident("kind", 16),
            ident("object_id"),
            ident("merchant_id", index=True),
            *text("message"),
            ident("status", 16),
            *text("resolution"),
            *bigints("created_ms"),
            sa.Column("resolved_ms", sa.BigInteger),
        ],
        "acct_auction_losses": [
            key("day", 10),
            key("campaign_id"),
            key("product_id"),
            key("reason", 32),
            *bigints("count"),
        ],
        "acct_auction_samples": [
            sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
            *bigints("ts_ms"),
            ident("request_id", 128),
            ident("campaign_id", index=True),
            ident("product_id"),
            ident("reason", 32),
            sa.Column(
                "rank", sa.Integer, nullable=False
            ),  # position in the retrieval list, 1-based; 0 = not known
        ],
    }


def upgrade() -> None:
    insp = sa.inspect(op.get_bind())
    for name, cols in _tables().items():
        if not insp.has_table(name):
            op.create_table(name, *cols)
        elif name == "acct_api_keys":
            have = {c["name"] for c in insp.get_columns(name)}
            with op.batch_alter_table(name) as b:
                for col in _key_columns_added():
                    if col.name not in have:
                        b.add_column(col)


def downgrade() -> None:
    for name in reversed(list(_tables())):
        op.drop_table(name)
