"""Auction-loss counts are one upsert per call: repeated and concurrent adds to one key sum (SQLite and
PostgreSQL), where an UPDATE-then-INSERT per key lost a race to a unique violation under load."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from scripts.pg import ENV_URL, throwaway_schema, unreachable_reason
from sqlalchemy import create_engine

from sitewide.storage.accounts import AccountStore

PG_URL = os.environ.get(ENV_URL)
PG_SKIP = unreachable_reason(PG_URL)


class Clock:
    def now_ms(self) -> int:
        return 1_767_225_600_000


@pytest.fixture(params=["sqlite", "postgres"])
def accounts(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AccountStore]:
    if request.param == "sqlite":
        yield AccountStore(create_engine(f"sqlite:///{tmp_path / 'a.sqlite'}"), Clock())
        return
    if PG_SKIP:
        pytest.skip(PG_SKIP)
    assert PG_URL is not None
    with throwaway_schema(PG_URL) as eng:
        yield AccountStore(eng, Clock())


def test_concurrent_loss_counts_sum(accounts: AccountStore) -> None:
    counts = {("c1", "p1", "below_reserve"): 2, ("c1", "p2", "outbid"): 1}
    errors: list[BaseException] = []

    def add() -> None:
        try:
            for _ in range(5):
                accounts.add_losses("2026-01-01", counts, [])
        except BaseException as exc:  # noqa: BLE001 - the test reports any failure of a writer
            errors.append(exc)

    threads = [threading.Thread(target=add) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    got = {(p, r): n for _, p, r, n in accounts.losses("c1")}
    assert got == {("p1", "below_reserve"): 40, ("p2", "outbid"): 20}
