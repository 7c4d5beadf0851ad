"""Issue 16: the account tables (merchants, API keys and their audit log, quality signals, appeals, auction
losses) come under the migrations; before this revision ``AccountStore`` and ``OperatorKeys`` made them with
``create_all`` and ALTERed the key table's later columns in by hand.

A database that already has them (made by ``create_all``) keeps them and their rows: a table that exists is
left as it is, except that the key table gets ``source`` and ``label`` when it predates them.

Revision ID: 0007_account_tables
Revises: 0006_ledger_columns
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_account_tables"
down_revision = "0006_ledger_columns"
branch_labels = None
depends_on = None


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
        "acct_merchants": [
            sa.Column("id", sa.String(64), primary_key=True),
            sa.Column("name", sa.Text, nullable=False),
            sa.Column("created_ms", sa.BigInteger, nullable=False),
        ],
        "acct_api_keys": [
            sa.Column("prefix", sa.String(32), primary_key=True),
            sa.Column("sha256", sa.String(64), nullable=False),
            sa.Column("role", sa.String(16), nullable=False),
            sa.Column("merchant_id", sa.String(64), index=True),
            sa.Column("created_ms", sa.BigInteger, nullable=False),
            sa.Column("revoked", sa.Boolean, nullable=False),
            *_key_columns_added(),
        ],
        "acct_key_audit": [
            sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("ts_ms", sa.BigInteger, nullable=False),
            sa.Column("actor", sa.String(64), nullable=False),  # key prefix of the caller, or "startup"
            sa.Column("action", sa.String(16), nullable=False),  # create, revoke, rotate, configure
            sa.Column("key_prefix", sa.String(32), nullable=False),
            sa.Column("detail", sa.Text, nullable=False),
        ],
        "acct_product_signals": [
            sa.Column("product_id", sa.String(64), primary_key=True),
            sa.Column("body", sa.Text, nullable=False),  # JSON of ProductSignals
        ],
        "acct_shop_metrics": [
            sa.Column("shop_id", sa.String(64), primary_key=True),
            sa.Column("body", sa.Text, nullable=False),  # JSON of ShopMetrics
        ],
        "acct_appeals": [
            sa.Column("id", sa.String(64), primary_key=True),
            sa.Column("kind", sa.String(16), nullable=False),
            sa.Column("object_id", sa.String(64), nullable=False),
            sa.Column("merchant_id", sa.String(64), nullable=False, index=True),
            sa.Column("message", sa.Text, nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("resolution", sa.Text, nullable=False),
            sa.Column("created_ms", sa.BigInteger, nullable=False),
            sa.Column("resolved_ms", sa.BigInteger),
        ],
        "acct_auction_losses": [
            sa.Column("day", sa.String(10), primary_key=True),
            sa.Column("campaign_id", sa.String(64), primary_key=True),
            sa.Column("product_id", sa.String(64), primary_key=True),
            sa.Column("reason", sa.String(32), primary_key=True),
            sa.Column("count", sa.BigInteger, nullable=False),
        ],
        "acct_auction_samples": [
            sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("ts_ms", sa.BigInteger, nullable=False),
            sa.Column("request_id", sa.String(128), nullable=False),
            sa.Column("campaign_id", sa.String(64), nullable=False, index=True),
            sa.Column("product_id", sa.String(64), nullable=False),
            sa.Column("reason", sa.String(32), nullable=False),
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
