"""Faults under load (slow): two workers on a private PostgreSQL, one worker SIGKILLed and the database
restarted while clients post events and serve requests, every unacknowledged batch retried. Afterwards every
acknowledged event is stored once, the ledger balances after settling, and no campaign-day is charged
beyond its budget."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from scripts.pg import ThrowawayCluster, _pg_bin  # noqa: E402

from sitewide.domain.time import DAY_MS  # noqa: E402
from sitewide.storage.sql import SqlStore  # noqa: E402
from sitewide.wiring import seeded_engine  # noqa: E402


def children(pid: int) -> list[int]:
    out: list[int] = []
    for t in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (t / "children").read_text().split()]
    return out


@pytest.mark.slow
@pytest.mark.skipif(_pg_bin() is None, reason="no PostgreSQL server binaries (apt-get install postgresql)")
def test_a_killed_worker_and_a_restarted_database_lose_and_double_nothing() -> None:
    import load  # bench/load.py

    with ThrowawayCluster() as cluster_url:
        cluster = ThrowawayCluster.__new__(ThrowawayCluster)  # the same cluster, for its restart()
        cluster.dir, cluster.bin = Path(cluster_url.split("host=")[1]), _pg_bin()
        load.seed(cluster_url)
        traffic = load.Traffic(f"f{uuid.uuid4().hex[:4]}")
        acked: set[str] = set()

        def ack(body: dict[str, object]) -> None:
            acked.update(str(e["id"]) for e in body["events"])  # type: ignore[union-attr]

        with load.server(cluster_url, 2) as (base, pid):

            killed: list[int] = []

            def faults() -> None:
                time.sleep(6)
                killed.append(children(pid)[-1])
                os.kill(killed[0], signal.SIGKILL)  # one worker dies mid-load
                time.sleep(6)
                cluster.restart()  # the database goes away and comes back
                killed.append(0)  # the restart came back

            f = threading.Thread(target=faults)
            f.start()
            _, retries = asyncio.run(load.open_loop(base, [traffic.serve, traffic.events], 5.0, 24.0, ack))
            f.join()
            workers = children(pid)
        store = SqlStore.from_url(cluster_url)
        stored = {e.id for e in store.events_between(0, 1 << 50) if e.id.startswith(traffic.tag)}
        assert acked and stored == acked  # nothing lost, nothing stored that was not acknowledged
        # the faults happened: the killed worker was replaced, the database restarted. Retries are not required:
        # /serve no longer touches the database (sitewide.engine.follower), so a restart need not fail a request
        assert killed[1:] == [0] and killed[0] not in workers, (killed, workers, retries)
        shops, prods, camps = load.catalogue()
        eng = seeded_engine(store, shops, prods, camps)
        t0 = load.T0 - load.T0 % DAY_MS
        eng.settle(t0, t0 + 2 * DAY_MS)
        assert sum(store.balances().values()) == 0
        budgets = {c.id: c.daily_budget_micros for c in camps}
        for (cid, _), fig in store.day_figures("0000-01-01", "9999-12-31").items():
            assert fig.spend_micros <= budgets[cid]
