"""Auction-loss counts are one upsert per call: repeated and concurrent adds to one key sum (SQLite and
PostgreSQL), where an UPDATE-then-INSERT per key lost a race to a unique violation under load. The pool's history
(products that left the eligibility pool and came back) round-trips on both."""

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


def test_pool_changes_round_trip_newest_first(accounts: AccountStore) -> None:
    from sitewide.domain.eligibility import EligibilityDecision
    from sitewide.domain.eligibility_rules import RuleResult

    fail = RuleResult(
        "rating", 1, False, "rating_below_minimum", "rating 3.1 < 3.5", {"rating": 3.1, "min": 3.5}
    )
    ok = RuleResult("rating", 1, True, "pass", "rating 4.2", {"rating": 4.2})
    left = accounts.add_pool_changes([EligibilityDecision("p1", False, (ok, fail), "pool-v1")])
    assert [(c.product_id, c.eligible, c.failures) for c in left] == [("p1", False, (fail,))]
    accounts.add_pool_changes([EligibilityDecision("p2", False, (fail,), "pool-v1")])
    accounts.add_pool_changes([EligibilityDecision("p1", True, (ok,), "pool-v1")])
    assert accounts.add_pool_changes([]) == []
    got = accounts.pool_changes(["p1"])
    assert [(c.eligible, c.failures, c.policy_version) for c in got] == [
        (True, (), "pool-v1"),
        (False, (fail,), "pool-v1"),
    ]
    assert got[1].failures[0].numbers == {"rating": 3.1, "min": 3.5}
    assert [c.product_id for c in accounts.pool_changes()] == ["p1", "p2", "p1"]
    assert len(accounts.pool_changes(limit=1)) == 1
