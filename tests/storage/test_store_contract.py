"""One contract, run against every Store adapter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sitewide.domain.money import Micros
from sitewide.domain.types import Conflict, Event, EventKind, LedgerEntry, Transaction
from sitewide.ports import Store
from sitewide.storage.memory import MemoryStore
from sitewide.storage.sql import SqlStore


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
    else:
        yield SqlStore.sqlite(tmp_path / "sub" / "s.sqlite")


def click(i: str, ts: int = 1_000, price: int = 50_000) -> Event:
    return Event(
        i, EventKind.CLICK, ts, user_id="u", product_id="p00", campaign_id="c1", price_micros=Micros(price)
    )


def test_repeated_event_id_is_counted_once(store: Store) -> None:
    r1 = store.append_events([click("e1"), click("e2"), click("e1")])
    r2 = store.append_events([click("e2"), click("e3")])
    assert (r1.inserted, r1.duplicates) == (2, 1)
    assert (r2.inserted, r2.duplicates) == (1, 1)
    assert r2.inserted_ids == ("e3",)
    assert len(store.events_between(0, 10**13)) == 3


def test_same_id_different_body_is_a_conflict_and_stores_nothing(store: Store) -> None:
    store.append_events([click("e1")])
    with pytest.raises(Conflict):
        store.append_events([click("e9"), click("e1", price=60_000)])
    assert [e.id for e in store.events_between(0, 10**13)] == ["e1"]


def test_money_is_stored_and_returned_as_int(store: Store) -> None:
    store.append_events([click("e1", price=123_456_789_012)])
    (e,) = store.events_between(0, 10**13)
    assert type(e.price_micros) is int and e.price_micros == 123_456_789_012
    t = Transaction(
        "t1",
        "settlement",
        "d",
        1,
        (LedgerEntry("t1", "a", Micros(7), ""), LedgerEntry("t1", "b", Micros(-7), "")),
    )
    store.append_transactions([t])
    assert all(type(v) is int for v in store.balances().values())


def test_unbalanced_transaction_is_refused_whole(store: Store) -> None:
    good = Transaction(
        "t1", "k", "d", 1, (LedgerEntry("t1", "a", Micros(5), ""), LedgerEntry("t1", "b", Micros(-5), ""))
    )
    bad = Transaction("t2", "k", "d", 1, (LedgerEntry("t2", "a", Micros(5), ""),))
    with pytest.raises(Conflict):
        store.append_transactions([good, bad])
    assert store.list_transactions() == []
    assert store.balances() == {}


def test_transaction_ids_are_idempotent(store: Store) -> None:
    t = Transaction(
        "t1", "k", "d", 1, (LedgerEntry("t1", "a", Micros(5), ""), LedgerEntry("t1", "b", Micros(-5), ""))
    )
    assert store.append_transactions([t]) is True
    assert store.append_transactions([t]) is False
    assert store.balances() == {"a": 5, "b": -5}
    assert [x.id for x in store.list_transactions(kind="k", period="d")] == ["t1"]


def test_sqlite_file_is_created_on_first_use_and_persists(tmp_path: Path) -> None:
    path = tmp_path / "data" / "x.sqlite"
    s = SqlStore.sqlite(path)
    s.append_events([click("e1")])
    assert path.exists()
    assert len(SqlStore.sqlite(path).events_between(0, 10**13)) == 1
