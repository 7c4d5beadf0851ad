"""Events and settlement throughput, SQLite vs PostgreSQL in the same run.

1. API ingestion: ``POST /events`` batches of 1,000 (with 5% repeated ids) through the FastAPI app in-process
   (TestClient: HTTP parsing, validation, auth and the store's set-based insert), events per second.
2. Settlement: the store is filled to N events (1,000,000 full, 50,000 ``--quick``; the rest through
   ``Engine.record_events``), then one ``Engine.settle`` over the whole range is timed, and a second (which
   books nothing) shows the cost of an idempotent re-run.
   On PostgreSQL the events table is partitioned by day (migration 0012); the bench's days get their partitions
   first (``prepare_event_days``, what settlement does ahead of the traffic), so rows go straight to them.
3. Settling an empty day: the day after the settled range (no events on it, none new since the last run);
   ``settle_empty_day_s`` is the slower backend's time (only dirty days are recomputed, so it does not grow
   with the attribution window behind it).

PostgreSQL: ``SITEWIDE_TEST_POSTGRES_URL`` if set, else a throwaway cluster from the OS packages.
Baseline of each PostgreSQL figure = the SQLite figure of the same run. Run ``python bench/events.py [--quick]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # developer tooling in scripts/

from scripts.pg import ENV_URL, ThrowawayCluster, drop_schema, isolated_engine, unreachable_reason

from bench_catalogue import DAYS, KEY, N_CAMPAIGNS, N_PRODUCTS, T0, catalogue  # noqa: E402  (bench/bench_catalogue.py)
from sitewide.domain.money import Micros
from sitewide.domain.time import DAY_MS
from sitewide.domain.types import Event, EventKind
from sitewide.service.app import create_app
from sitewide.settings import Settings
from sitewide.storage.sql import SqlStore
from sitewide.wiring import seeded_engine


def gen_events(n: int, seed: int, prefix: str) -> list[Event]:
    """Impressions 50%, clicks 35%, orders 12% (half naming their click), refunds 3%."""
    rng = np.random.default_rng(seed)
    kinds = rng.random(n)
    ts = np.sort(T0 + rng.integers(0, DAYS * DAY_MS, size=n))
    users = rng.integers(0, max(1000, n // 20), size=n)
    prods = rng.integers(0, N_PRODUCTS, size=n)
    prices = rng.integers(50_000, 800_000, size=n)
    values = rng.integers(1_000_000, 40_000_000, size=n)
    out: list[Event] = []
    last_click: str | None = None
    last_order: str | None = None
    for i in range(n):
        k, p, u, t = float(kinds[i]), int(prods[i]), f"u{int(users[i])}", int(ts[i])
        eid = f"{prefix}{i}"
        if k < 0.5:
            out.append(
                Event(
                    eid,
                    EventKind.IMPRESSION,
                    t,
                    user_id=u,
                    product_id=f"p{p}",
                    campaign_id=f"c{p % N_CAMPAIGNS}",
                    price_micros=Micros(int(prices[i])),
                )
            )
        elif k < 0.85:
            out.append(
                Event(
                    eid,
                    EventKind.CLICK,
                    t,
                    user_id=u,
                    product_id=f"p{p}",
                    campaign_id=f"c{p % N_CAMPAIGNS}",
                    price_micros=Micros(int(prices[i])),
                )
            )
            last_click = eid
        elif k < 0.97:
            out.append(
                Event(
                    eid,
                    EventKind.ORDER,
                    t,
                    user_id=u,
                    product_id=f"p{p}",
                    click_id=last_click if k < 0.91 else None,
                    order_value_micros=Micros(int(values[i])),
                )
            )
            last_order = eid
        elif last_order is not None:
            out.append(
                Event(
                    eid,
                    EventKind.REFUND,
                    t,
                    order_id=last_order,
                    order_value_micros=Micros(int(values[i]) // 4),
                )
            )
    return out


def as_json(e: Event) -> dict[str, object]:
    d: dict[str, object] = {"id": e.id, "kind": e.kind.value, "ts_ms": e.ts_ms}
    for k in ("user_id", "product_id", "campaign_id", "click_id", "order_id"):
        v = getattr(e, k)
        if v:
            d[k] = v
    for k in ("price_micros", "order_value_micros"):
        v = int(getattr(e, k))
        if v:
            d[k] = v
    return d


def run_backend(store: SqlStore, n_api: int, n_total: int) -> dict[str, float]:
    shops, prods, camps = catalogue()
    eng = seeded_engine(store, shops, prods, camps)
    # the settler makes the days' storage ahead of their traffic, as in production (PostgreSQL: one partition
    # per day; without them every row would land in the default partition and the first settle move them)
    store.prepare_event_days(T0, T0 + (DAYS + 2) * DAY_MS)
    app = create_app(Settings(load_catalogue=False), engine=eng, operator_key=KEY, announce=None)
    client = TestClient(app, headers={"Authorization": f"Bearer {KEY}"})
    api_events = gen_events(n_api, 1, "a")
    body_batches = []
    for i in range(0, len(api_events), 950):
        chunk = [as_json(e) for e in api_events[i : i + 950]]
        body_batches.append(chunk + chunk[:50])  # 5% repeats in the same call
    t = time.perf_counter()
    for b in body_batches:
        r = client.post("/events", json={"events": b})
        assert r.status_code == 200, r.text
    api_s = time.perf_counter() - t
    rest = gen_events(n_total - n_api, 2, "b")
    for i in range(0, len(rest), 1000):
        eng.record_events(rest[i : i + 1000])
    t = time.perf_counter()
    rep = eng.settle(T0, T0 + (DAYS + 1) * DAY_MS)
    settle_s = time.perf_counter() - t
    t = time.perf_counter()
    again = eng.settle(T0, T0 + (DAYS + 1) * DAY_MS)
    resettle_s = time.perf_counter() - t
    assert again.already_settled and not rep.already_settled
    t = time.perf_counter()  # the next day: no events on it and none new since the last run
    empty = eng.settle(T0 + (DAYS + 1) * DAY_MS, T0 + (DAYS + 2) * DAY_MS)
    empty_s = time.perf_counter() - t
    assert not empty.transactions and not any(c.spend_micros for c in empty.campaigns)
    bal = store.balances()
    assert sum(bal.values()) == 0
    return {
        "api_events_per_s": n_api / api_s,
        "settle_s": settle_s,
        "resettle_s": resettle_s,
        "settle_empty_day_s": empty_s,
        "charged_micros": -sum(v for k, v in bal.items() if k.endswith(":cash")),
    }


@contextlib.contextmanager
def postgres() -> Iterator[str | None]:
    url = os.environ.get(ENV_URL)
    if url and unreachable_reason(url) is None:
        yield url
        return
    try:
        with ThrowawayCluster() as u:
            yield u
    except Exception as exc:  # no server binaries or cannot start: report and run SQLite only
        print(f"postgres: not available ({exc}); SQLite only", file=sys.stderr)
        yield None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n_total = 50_000 if args.quick else 1_000_000
    n_api = 10_000 if args.quick else 100_000
    label = "50k" if args.quick else "1m"
    with tempfile.TemporaryDirectory() as d:
        sq = run_backend(SqlStore.sqlite(Path(d) / "bench.sqlite"), n_api, n_total)
    print(f"sqlite: {sq}", file=sys.stderr)
    with postgres() as url:
        pg = None
        if url is not None:
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            try:
                pg = run_backend(SqlStore(isolated_engine(url, schema)), n_api, n_total)
            finally:
                drop_schema(url, schema)
            print(f"postgres: {pg}", file=sys.stderr)
            assert pg["charged_micros"] == sq["charged_micros"], "same events, same ledger"
    print(f"metric: api_ingest_events_per_s_sqlite={sq['api_events_per_s']:.0f} target=5000")
    print(
        f"metric: settle_{label}_events_s_sqlite={sq['settle_s']:.2f} target={120 if label == '1m' else 15}"
    )
    print(f"metric: resettle_{label}_events_s_sqlite={sq['resettle_s']:.2f}")
    print(f"metric: settle_empty_day_s_sqlite={sq['settle_empty_day_s']:.3f} target=0.5")
    if pg is not None:
        a, b = pg["api_events_per_s"], sq["api_events_per_s"]
        print(
            f"metric: api_ingest_events_per_s_postgres={a:.0f} baseline={b:.0f} ratio={a / b:.2f} target=5000"
        )
        a, b = pg["settle_s"], sq["settle_s"]
        print(
            f"metric: settle_{label}_events_s_postgres={a:.2f} baseline={b:.2f} ratio={a / b:.2f} "
            f"target={120 if label == '1m' else 15}"
        )
        print(f"metric: resettle_{label}_events_s_postgres={pg['resettle_s']:.2f}")
        print(f"metric: settle_empty_day_s_postgres={pg['settle_empty_day_s']:.3f} target=0.5")
    worst = max(x["settle_empty_day_s"] for x in (sq, pg) if x is not None)
    print(f"metric: settle_empty_day_s={worst:.3f} target=0.5")
    print(f"metric: peak_rss_mb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")


if __name__ == "__main__":
    main()
