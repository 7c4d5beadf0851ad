"""Issue 14: structured ledger rows. Each leg carries merchant_id, campaign_id, day (the UTC day the money is
for) and window_key as columns, so statements and reports select by them instead of parsing memos or account
name prefixes (a prefix let merchant "tA" see "tA:eu"'s legs).

Legs booked before this revision are backfilled once from what they have: the merchant from the exact
account name ``merchant:<id>:cash|ad_credit`` of the transaction's merchant leg, campaign/day/window from the
memo text settlement wrote (the last time a memo is read as data)."""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

from sitewide.storage.migrations.steps import revisions

revision, down_revision = revisions(__file__)

ACCOUNT = re.compile(r"^merchant:(.+):(cash|ad_credit)$")
CAMPAIGN = re.compile(r"campaign (\S+) ")
DAY = re.compile(r" day (\d{4}-\d{2}-\d{2})")
WINDOW = re.compile(r" window ((\d{4}-\d{2}-\d{2})\+(\d+)d)")


def upgrade() -> None:
    with op.batch_alter_table("ledger_entries") as b:
        b.add_column(sa.Column("merchant_id", sa.String(64)))
        b.add_column(sa.Column("campaign_id", sa.String(64)))
        b.add_column(sa.Column("day", sa.String(10)))
        b.add_column(sa.Column("window_key", sa.String(32)))
    op.create_index("ix_ledger_entries_merchant_id", "ledger_entries", ["merchant_id"])
    op.create_index("ix_ledger_entries_campaign_id", "ledger_entries", ["campaign_id"])
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT seq, txn_id, account, memo FROM ledger_entries ORDER BY seq")).all()
    merchant_of: dict[tuple[str, str], str] = {}  # (txn, memo) → merchant of the pair's merchant leg
    for _, txn, account, memo in rows:
        m = ACCOUNT.match(account)
        if m:
            merchant_of[(txn, memo)] = m.group(1)
    from datetime import UTC, datetime, timedelta

    for seq, txn, _, memo in rows:
        c, d, w = CAMPAIGN.search(memo), DAY.search(memo), WINDOW.search(memo)
        day = d.group(1) if d else None
        if w:
            first = datetime.strptime(w.group(2), "%Y-%m-%d").replace(tzinfo=UTC)
            day = (first + timedelta(days=int(w.group(3)) - 1)).strftime("%Y-%m-%d")
        vals = {
            "m": merchant_of.get((txn, memo)),
            "c": c.group(1) if c else None,
            "d": day,
            "w": w.group(1) if w else None,
            "s": seq,
        }
        if any(v is not None for k, v in vals.items() if k != "s"):
            conn.execute(
                sa.text(
                    "UPDATE ledger_entries SET merchant_id = :m, campaign_id = :c, day = :d, window_key = :w "
                    "WHERE seq = :s"
                ),
                vals,
            )


def downgrade() -> None:
    op.drop_index("ix_ledger_entries_campaign_id", "ledger_entries")
    op.drop_index("ix_ledger_entries_merchant_id", "ledger_entries")
    with op.batch_alter_table("ledger_entries") as b:
        for col in ("window_key", "day", "campaign_id", "merchant_id"):
            b.drop_column(col)
