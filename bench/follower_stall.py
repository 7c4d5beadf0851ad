"""What a slow database costs the serving thread in shared serving: the follower thread against serving on it.

    .venv/bin/python bench/follower_stall.py [--delay-ms 50] [--batches 300]

One process's engine over a SQLite store (500 generated products, 12 campaigns, a holdout share of 0.2, four
clicks per campaign already stored for the day, as another worker would have left them). After the engine is
built every store call sleeps ``--delay-ms`` first (a slow or far database). The serving thread then serves
``--batches`` batches of 6 requests (4 slots, 5 ms apart): the first request of a (re)started process, the day's
traffic, then the first batch of the next day and more of it. Two arms, in this run:

* ``follower`` — ``PacingConfig(background=True)``, what ``sitewide serve --workers N`` runs: polls, spend
  reads, lease draws, the holdout log, the window aims' facts and the day's first click read on the follower
  thread;
* ``baseline`` — the same shared serving with ``background=False``: all of that on the serving thread.

Timed: each ``serve_batch`` call's wall time on the serving thread (retrieval, auction, accounting and whatever
store calls it makes). Printed: the first batch, the first batch of the next day, p50/p99/max over all
batches, and promoted slots per request (the follower arm admits a campaign only once its slice has arrived and
its spend read is fresh, so it shows ads too, just not in its first batches).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from sitewide.catalogue import packaged_catalogue
from sitewide.domain.budget_lease import LeasePolicy
from sitewide.domain.money import Micros
from sitewide.domain.time import DAY_MS, day_bounds
from sitewide.domain.types import Campaign, Event, EventKind
from sitewide.engine.config import EngineConfig
from sitewide.engine.pacing import PacingConfig
from sitewide.ports import RequestBatch
from sitewide.simulator.big_catalogue import big_catalogue
from sitewide.storage.sql import SqlStore
from sitewide.wiring import seeded_engine

DAY0 = day_bounds("2026-01-05")[0]
QUERIES = ["usb flash drive", "wireless mouse", "ink cartridge", "router", "laptop sleeve", "phone case"]


def slow(store: SqlStore, delay_s: float) -> None:
    """Every public method of ``store`` sleeps ``delay_s`` before it runs (on whichever thread calls it)."""
    for name in dir(store):
        if name.startswith("_"):
            continue
        inner = getattr(store, name)
        if not callable(inner):
            continue

        def wrapped(*a: Any, _inner: Any = inner, **k: Any) -> Any:
            time.sleep(delay_s)
            return _inner(*a, **k)

        setattr(store, name, wrapped)


def arm(background: bool, delay_s: float, batches: int, folder: Path) -> dict[str, float]:
    shops, products = big_catalogue(packaged_catalogue()[1], 500, seed=3)
    by_shop: dict[str, list[str]] = {}
    for p in products:
        by_shop.setdefault(p.shop_id, []).append(p.id)
    merchant = {s.id: s.merchant_id for s in shops}
    camps = [
        Campaign(f"c{i}", merchant[sid], sid, tuple(pids[:20]), Decimal(str(2 + i % 4)), Micros(200_000_000))
        for i, (sid, pids) in enumerate(sorted(by_shop.items(), key=lambda kv: -len(kv[1]))[:12])
    ]
    store = SqlStore.sqlite(folder / f"{'follower' if background else 'baseline'}.sqlite")
    store.upsert_shops(shops)
    store.upsert_products(products)
    store.append_events(
        [
            Event(
                f"k{c.id}-{j}",
                EventKind.CLICK,
                DAY0 + 1_000 + j,
                user_id="u",
                product_id=c.product_ids[0],
                request_id=f"x{c.id}-{j}",
                campaign_id=c.id,
                position=1,
                price_micros=Micros(100_000),
            )
            for c in camps
            for j in range(4)
        ]
    )
    pacing = PacingConfig(leases=LeasePolicy(), campaign_poll_ms=200, background=background)
    cfg = EngineConfig(scorer="priors", pacing=pacing, holdout_share=0.2)
    eng = seeded_engine(store, shops, products, camps, cfg)
    slow(store, delay_s)
    took: list[float] = []
    promoted = requests = 0
    n = len(QUERIES)
    assert threading.current_thread() is threading.main_thread()
    for b in range(batches):
        day = 1 if b >= batches // 2 else 0  # the second half: the next day
        ts = DAY0 + day * DAY_MS + 60_000 + b * 10  # the next day starts at its first batch
        batch = RequestBatch([f"r{b}-{i}" for i in range(n)], ["u"] * n, np.zeros(n, np.int64), QUERIES, ts, 4)
        t = time.perf_counter()
        out = eng.serve_batch(batch)
        took.append(time.perf_counter() - t)
        promoted += int(out.promoted.sum())
        requests += n
        time.sleep(0.005)
    eng.close()
    ms = np.array(took) * 1000
    return {
        "first_batch_ms": float(ms[0]),
        "new_day_batch_ms": float(ms[batches // 2]),
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "max_ms": float(ms.max()),
        "promoted_per_request": promoted / requests,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--delay-ms", type=float, default=50.0)
    ap.add_argument("--batches", type=int, default=300)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fol = arm(True, args.delay_ms / 1000, args.batches, Path(tmp))
        base = arm(False, args.delay_ms / 1000, args.batches, Path(tmp))
    print(
        f"conditions: SQLite, every store call +{args.delay_ms:g} ms, {args.batches} batches of {len(QUERIES)} "
        "requests x 4 slots 5 ms apart (half on the next day), 12 campaigns, holdout share 0.2; timed: serve_batch "
        "on the serving thread"
    )
    for k, v in fol.items():
        b = base[k]
        print(f"metric: serve_{k}={v:.3f} baseline={b:.3f} ratio={v / b if b else float('nan'):.3f}")


if __name__ == "__main__":
    main()
