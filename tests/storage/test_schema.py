"""The migrations are the one definition of the schema: the account tables are under them (revision 0007), old
databases whose account tables ``create_all`` made keep their rows, and account timestamps follow the Clock."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from sitewide.domain.time import ManualClock
from sitewide.storage import migrate
from sitewide.storage.accounts import AccountStore, hash_key
from sitewide.storage.operator_keys import OperatorKeys
from sitewide.storage.schema import ACCOUNT_TABLES, STORE_TABLES
from sitewide.storage.sql import SqlStore


def test_a_fresh_database_gets_every_table_from_the_migrations_alone(tmp_path: Path) -> None:
    eng = create_engine(f"sqlite:///{tmp_path / 'fresh.sqlite'}")
    migrate.upgrade(eng)
    have = set(inspect(eng).get_table_names())
    assert set(STORE_TABLES.values()) | set(ACCOUNT_TABLES.values()) <= have
    assert migrate.current_revision(eng) == migrate.HEAD == "0013_holdout_ts_index"
    key_cols = {c["name"] for c in inspect(eng).get_columns("acct_api_keys")}
    assert {"prefix", "sha256", "role", "merchant_id", "created_ms", "revoked", "source", "label"} == key_cols


def test_account_tables_made_by_create_all_before_0007_keep_their_rows(tmp_path: Path) -> None:
    eng = create_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
    migrate.upgrade(eng, "0006_ledger_columns")
    key = "sw_0123456789ab_secretsecretsecret"
    with eng.begin() as c:  # the first release's account tables: no source/label on the key table
        c.execute(
            text(
                "CREATE TABLE acct_merchants (id VARCHAR(64) PRIMARY KEY, name TEXT NOT NULL, "
                "created_ms BIGINT NOT NULL)"
            )
        )
        c.execute(
            text(
                "CREATE TABLE acct_api_keys (prefix VARCHAR(32) PRIMARY KEY, sha256 VARCHAR(64) NOT NULL, "
                "role VARCHAR(16) NOT NULL, merchant_id VARCHAR(64), created_ms BIGINT NOT NULL, "
                "revoked BOOLEAN NOT NULL)"
            )
        )
        c.execute(text("INSERT INTO acct_merchants VALUES ('m1', 'One', 5)"))
        c.execute(
            text("INSERT INTO acct_api_keys VALUES ('0123456789ab', :h, 'merchant', 'm1', 5, 0)"),
            {"h": hash_key(key)},
        )
    accounts = AccountStore(eng, ManualClock(1_000))
    assert migrate.current_revision(eng) == migrate.HEAD
    assert [m.id for m in accounts.list_merchants()] == ["m1"]
    who = accounts.authenticate(key)
    assert who is not None and who.merchant_id == "m1"
    with eng.connect() as c:
        assert c.execute(text("SELECT source, label FROM acct_api_keys")).one() == ("issued", "")
    migrate.downgrade(eng, "0006_ledger_columns")  # the revision is reversible
    assert not inspect(eng).has_table("acct_api_keys")


def test_account_times_come_from_the_clock_not_the_wall(tmp_path: Path) -> None:
    clock = ManualClock(1_700_000_000_000)
    store = SqlStore.sqlite(tmp_path / "s.sqlite")
    accounts = AccountStore(store.engine, clock)
    assert accounts.create_merchant("m1", "One").created_ms == clock.now
    accounts.ensure_merchants(["m2"])
    assert {m.id: m.created_ms for m in accounts.list_merchants()} == {"m1": clock.now, "m2": clock.now}
    a = accounts.create_appeal("product", "p1", "m1", "please")
    clock.now += 60_000
    done = accounts.resolve_appeal(a.id, "accepted", "ok")
    assert (a.created_ms, done.resolved_ms) == (clock.now - 60_000, clock.now)
    keys = OperatorKeys(accounts)
    keys.configure(accounts.issue_key("operator", source="config"))
    clock.now += 1
    keys.create("tester", "second")
    assert {k.created_ms for k in keys.keys()} == {clock.now - 1, clock.now}
    assert {e.ts_ms for e in keys.audit()} == {clock.now - 1, clock.now}


@pytest.mark.parametrize("revision", ["0001_baseline", "0006_ledger_columns"])
def test_accounts_start_on_a_database_at_any_earlier_revision(tmp_path: Path, revision: str) -> None:
    eng = create_engine(f"sqlite:///{tmp_path / 'r.sqlite'}")
    migrate.upgrade(eng, revision)
    accounts = AccountStore(eng, ManualClock(7))
    accounts.create_merchant("m1", "One")
    assert migrate.current_revision(eng) == migrate.HEAD
    assert SqlStore(eng).list_campaigns() == []
