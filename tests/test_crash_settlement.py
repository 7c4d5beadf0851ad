"""A settlement process killed with SIGKILL at random points leaves the ledger either before or after the
run, never between; restarted, it completes to the same ledger as an uninterrupted run. SQLite and
PostgreSQL (skipped with the reason when no server is reachable)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from scripts.pg import ENV_URL, drop_schema, isolated_engine, unreachable_reason

from sitewide.domain.money import Micros
from sitewide.domain.time import DAY_MS
from sitewide.domain.types import Campaign, Event, EventKind, Product, Shop
from sitewide.engine import Engine
from sitewide.ports import Store
from sitewide.storage.memory import MemoryStore
from sitewide.storage.sql import SqlStore
from sitewide.wiring import make_engine, seeded_engine

T0 = 1_767_225_600_000  # 2026-01-01
DAYS = 8
PG_URL = os.environ.get(ENV_URL)
SHOPS = [Shop("s1", "m1", "One"), Shop("s2", "m2", "Two")]
PRODUCTS = [Product(f"p{i}", f"s{1 + i % 2}", f"item {i}", "cat", Micros(9_000_000)) for i in range(8)]
CAMPAIGNS = [
    Campaign(f"c{j}", f"m{1 + j % 2}", f"c{j}", (f"p{j}", f"p{j + 4}"), Decimal("4"), Micros(40_000_000))
    for j in range(4)
]

CHILD = r"""
import sys
from sqlalchemy import create_engine
from sitewide.wiring import make_engine
from sitewide.storage.sql import SqlStore
url, schema, start, end = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
args = {"connect_args": {"options": f"-csearch_path={schema}"}} if schema else {}
store = SqlStore.sqlite(url) if not schema else SqlStore(create_engine(url, **args))
eng = make_engine(store)
print("ready", flush=True)
sys.stdin.readline()
eng.settle(start, end)
print("done", flush=True)
"""


def events(n: int, seed: int = 3) -> list[Event]:
    rng = np.random.default_rng(seed)
    out: list[Event] = []
    for i in range(n):
        p = int(rng.integers(8))
        ts = T0 + int(rng.integers(0, DAYS * DAY_MS))
        u = f"u{int(rng.integers(n // 5))}"
        out.append(
            Event(
                f"k{i}",
                EventKind.CLICK,
                ts,
                user_id=u,
                product_id=f"p{p}",
                campaign_id=f"c{p % 4}",
                price_micros=Micros(int(rng.integers(100_000, 900_000))),
            )
        )
        if rng.random() < 0.2:
            out.append(
                Event(
                    f"o{i}",
                    EventKind.ORDER,
                    ts + int(rng.integers(1, DAY_MS)),
                    user_id=u,
                    product_id=f"p{p}",
                    order_value_micros=Micros(int(rng.integers(500_000, 9_000_000))),
                )
            )
    return out


def load(store: Store, evs: list[Event]) -> Engine:
    eng = seeded_engine(store, SHOPS, PRODUCTS, CAMPAIGNS)
    for i in range(0, len(evs), 1000):
        eng.record_events(evs[i : i + 1000])
    eng.settle(T0, T0 + 2 * DAY_MS)  # a ledger that is not empty before the killed run
    return eng


def state(store: Store) -> tuple[dict[str, int], int, int]:
    figs = store.day_figures("0", "9")
    bal = {k: v for k, v in store.balances().items() if v}
    last = store.last_run()
    charged = -sum(v for k, v in bal.items() if k.endswith(":cash"))
    assert charged == sum(f.spend_micros for f in figs.values())  # figures and ledger move together
    assert sum(bal.values()) == 0
    return bal, len(store.list_transactions()), last.seq if last else 0


def kill_loop(open_store, child_args: list[str], iterations: int, reset) -> None:  # type: ignore[no-untyped-def]
    evs = events(2_000)
    end = T0 + DAYS * DAY_MS
    ref = load(MemoryStore(), evs)
    before_bal = {k: v for k, v in ref.store.balances().items() if v}
    ref.settle(T0, end)
    after_bal = {k: v for k, v in ref.store.balances().items() if v}
    assert after_bal != before_bal
    rng = np.random.default_rng(11)
    seen: set[str] = set()
    duration = 0.0
    for it in range(iterations):
        reset()
        store = open_store()
        before = state(store)
        assert before[0] == before_bal
        p = subprocess.Popen(
            [sys.executable, "-c", CHILD, *child_args, str(T0), str(end)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert p.stdout is not None and p.stdin is not None
        assert p.stdout.readline().strip() == "ready"
        t = time.perf_counter()
        p.stdin.write("go\n")
        p.stdin.flush()
        if it == 0:  # first: measure an uninterrupted run
            assert p.stdout.readline().strip() == "done"
            duration = time.perf_counter() - t
        else:
            time.sleep(float(rng.uniform(0, duration * 1.1)))
            p.send_signal(signal.SIGKILL)
        p.wait(timeout=60)
        now = state(open_store())
        assert now in (before, (after_bal, before[1] + 1, before[2] + 1)), f"iteration {it}: between"
        seen.add("after" if now != before else "before")
        make_engine(open_store()).settle(T0, end)  # restart: completes the run
        assert state(open_store())[0] == after_bal
    if iterations >= 6:
        assert seen == {"before", "after"}


def crash_sqlite(tmp_path: Path, iterations: int) -> None:
    template = tmp_path / "template.sqlite"
    load(SqlStore.sqlite(template), events(2_000))
    live = tmp_path / "live.sqlite"

    def reset() -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{live}{suffix}").unlink(missing_ok=True)
        src = SqlStore.sqlite(template)  # checkpoint so the template file is self-contained
        with src.engine.begin() as c:
            c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        src.engine.dispose()
        shutil.copy(template, live)

    kill_loop(lambda: SqlStore.sqlite(live), [str(live), ""], iterations, reset)


def crash_postgres(iterations: int) -> None:
    reason = unreachable_reason(PG_URL)
    if reason:
        pytest.skip(reason)
    assert PG_URL is not None
    schema = f"crash_{uuid.uuid4().hex[:10]}"
    evs = events(2_000)

    def reset() -> None:
        eng = isolated_engine(PG_URL, schema)
        load(SqlStore(eng), evs)
        eng.dispose()

    def open_store() -> SqlStore:
        from sqlalchemy import create_engine

        return SqlStore(create_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"}))

    try:
        kill_loop(open_store, [PG_URL, schema], iterations, reset)
    finally:
        drop_schema(PG_URL, schema)


def test_sigkill_during_settlement_leaves_sqlite_before_or_after(tmp_path: Path) -> None:
    crash_sqlite(tmp_path, 2)


def test_sigkill_during_settlement_leaves_postgres_before_or_after() -> None:
    crash_postgres(2)


@pytest.mark.slow
def test_sigkill_loop_sqlite(tmp_path: Path) -> None:
    crash_sqlite(tmp_path, 25)


@pytest.mark.slow
def test_sigkill_loop_postgres() -> None:
    crash_postgres(25)
