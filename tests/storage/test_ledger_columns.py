"""Structured ledger rows: legs carry merchant/campaign/day/window as columns; old legs are backfilled."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text

from sitewide.ports import LedgerQuery
from sitewide.storage import migrate
from sitewide.storage.sql import SqlStore


def test_legs_booked_before_the_columns_are_backfilled_from_their_account_and_memo(tmp_path: Path) -> None:
    eng = create_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
    migrate.upgrade(eng, "0005_campaign_terms")
    memo_c = "charge campaign c1 day 2026-01-02: 3 billable of 3 clicks (0 invalid), spend 9"
    memo_g = "compensation campaign c1 window 2026-01-01+3d (contract v1): ROI low; due 4"
    legs = [
        ("platform:revenue", 9, memo_c),
        ("merchant:tA:eu:cash", -9, memo_c),
        ("merchant:tA:eu:ad_credit", 4, memo_g),
        ("platform:compensation", -4, memo_g),
    ]
    with eng.begin() as c:
        c.execute(
            text("INSERT INTO transactions (id, kind, period, ts_ms) VALUES ('t1', 'settlement', 'p', 1)")
        )
        for account, amount, memo in legs:
            c.execute(
                text(
                    "INSERT INTO ledger_entries (txn_id, account, amount_micros, memo) VALUES ('t1', :a, :m, :o)"
                ),
                {"a": account, "m": amount, "o": memo},
            )
    store = SqlStore(eng)
    got = [
        (ln.entry.merchant_id, ln.entry.campaign_id, ln.entry.day, ln.entry.window)
        for ln in store.ledger_entries()
    ]
    assert got == [
        ("tA:eu", "c1", "2026-01-02", None),
        ("tA:eu", "c1", "2026-01-02", None),
        ("tA:eu", "c1", "2026-01-03", "2026-01-01+3d"),
        ("tA:eu", "c1", "2026-01-03", "2026-01-01+3d"),
    ]
    assert [ln.entry.account for ln in store.ledger_entries(LedgerQuery(merchant_id="tA"))] == []
    assert len(store.ledger_entries(LedgerQuery("tA:eu", accounts=("merchant:tA:eu:cash",)))) == 1
