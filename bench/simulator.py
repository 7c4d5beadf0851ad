"""Simulator throughput: the simulator's own per-impression work (arrivals, intents, examination, clicks,
purchases — engine excluded) vectorised with numpy vs the same model as a per-impression Python loop, both
measured here; then the end-to-end rate with the real engine serving in batches, and (full mode) the
30-day, 10,000-user, 200-merchant market.

    .venv/bin/python bench/simulator.py [--quick]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # single-threaded numpy: the rate is per core
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import math  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from sitewide.domain.types import IntArray  # noqa: E402
from sitewide.simulator.behaviour import respond  # noqa: E402
from sitewide.simulator.config import SimConfig  # noqa: E402
from sitewide.simulator.runner import run_simulation  # noqa: E402
from sitewide.simulator.world import SEARCH, World, build_world  # noqa: E402
from sitewide.wiring import world_engine_factory  # noqa: E402

TARGET = 1_000_000


def sim_work_rate(users: int, ticks: int, seed: int) -> tuple[float, int]:
    """Impressions per second for arrivals → intents → examination/clicks/purchases over ``ticks`` ticks,
    with random slates standing in for the engine's answer (generated outside the timed region)."""
    cfg = SimConfig(users=users, merchants=50, seed=seed, sessions_per_user_day=96.0)  # ≈ 1 request/user/tick
    w = build_world(cfg)
    rng = np.random.default_rng(seed)
    rate = w.users.activity / cfg.ticks_per_day
    # pre-draw slates per tick (the engine's part)
    slates = [rng.integers(0, len(w.products), size=(int(users * 1.1), cfg.slots)) for _ in range(ticks)]
    imps = 0
    t0 = time.perf_counter()
    for t in range(ticks):
        n = rng.poisson(rate)
        u = np.repeat(np.arange(users, dtype=np.int64), n)
        r = len(u)
        kind = np.where(rng.random(r) < cfg.search_share, SEARCH, 1).astype(np.int64)
        intent, _ = w.sample_intent(u, rng)
        s = slates[t]
        prod = s[:r] if r <= len(s) else np.resize(s, (r, cfg.slots))
        res = respond(w, u, kind, intent, prod, rng)
        imps += int(res.shown.sum())
    dt = time.perf_counter() - t0
    return imps / dt, imps


def respond_loop(
    world: World,
    users: IntArray,
    kind: IntArray,
    intent: IntArray,
    products: IntArray,
    rng: np.random.Generator,
) -> tuple[int, int]:
    """``sitewide.simulator.behaviour.respond`` one impression at a time in plain Python (the naive baseline).
    Returns (clicks, purchases)."""
    u_ = world.users
    p_ = world.products
    exam = world.exam.tolist()
    a_s, a_f, b = world.a_search, world.a_feed, world.b_cvr
    bot_p = world.config.bot_click_prob
    clicks = buys = 0
    for i in range(products.shape[0]):
        uu = int(users[i])
        bot = bool(u_.is_bot[uu])
        beta = float(u_.price_sensitivity[uu])
        a = a_s if int(kind[i]) == SEARCH else a_f
        it = int(intent[i]) if int(kind[i]) == SEARCH else -1
        for k in range(products.shape[1]):
            j = int(products[i, k])
            if j < 0:
                continue
            c = int(p_.category[j])
            aff = float(u_.affinity[uu, c])
            x = a + aff + float(p_.quality[j]) - beta * float(p_.z_price[j]) + (1.5 if c == it else 0.0)
            pc = bot_p if bot else 1.0 / (1.0 + math.exp(-x))
            if rng.random() < pc * exam[k]:
                clicks += 1
                if not bot:
                    y = (
                        b
                        + 0.5 * aff
                        + 0.5 * float(p_.quality[j])
                        + 0.3 * float(world.shop_quality_of_product[j])
                        - 0.5 * beta * float(p_.z_price[j])
                    )
                    if rng.random() < 1.0 / (1.0 + math.exp(-y)):
                        buys += 1
    return clicks, buys


def naive_rate(users: int, impressions: int, seed: int) -> float:
    cfg = SimConfig(users=users, merchants=50, seed=seed)
    w = build_world(cfg)
    rng = np.random.default_rng(seed)
    r = impressions // cfg.slots
    u = rng.integers(0, users, r)
    kind = np.where(rng.random(r) < cfg.search_share, SEARCH, 1).astype(np.int64)
    intent, _ = w.sample_intent(u, rng)
    prod = rng.integers(0, len(w.products), (r, cfg.slots))
    t0 = time.perf_counter()
    respond_loop(w, u, kind, intent, prod, rng)
    return r * cfg.slots / (time.perf_counter() - t0)


def end_to_end(cfg: SimConfig) -> tuple[float, float, int]:
    t0 = time.perf_counter()
    res = run_simulation(cfg, world_engine_factory(), progress=False)
    dt = time.perf_counter() - t0
    imps = int(res.summary()["impressions"])
    return imps / dt, dt, imps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    q = args.quick
    users, ticks = (20_000, 10) if q else (50_000, 40)
    rate, imps = sim_work_rate(users, ticks, seed=1)
    print(f"simulator work (numpy, 1 thread): {imps:,} impressions, {rate:,.0f} impressions/s")
    base = naive_rate(2_000, 20_000 if q else 100_000, seed=1)
    print(f"naive per-impression Python loop: {base:,.0f} impressions/s")
    e2e_cfg = SimConfig(days=1, users=2_000 if q else 10_000, merchants=50 if q else 200, seed=2)
    e2e = None
    try:
        e2e, dt, n = end_to_end(e2e_cfg)
        print(f"end to end with the engine (serve_batch): {n:,} impressions in {dt:.1f} s = {e2e:,.0f}/s")
    except Exception as exc:  # the engine is optional for this benchmark
        print(f"end to end with the engine: unavailable ({type(exc).__name__}: {exc})")
    market_s = None
    if not q:
        try:
            _, market_s, n = end_to_end(SimConfig.benchmark(seed=3))
            print(f"30-day market, 10,000 users, 200 merchants: {n:,} impressions in {market_s:.1f} s")
        except Exception as exc:
            print(f"30-day market: unavailable ({type(exc).__name__}: {exc})")
    print(
        f"metric: sim_impressions_per_s={rate:.0f} baseline={base:.0f} ratio={rate / base:.1f} target={TARGET}"
    )
    if e2e is not None:
        print(f"metric: e2e_impressions_per_s={e2e:.0f}")
    if market_s is not None:
        print(f"metric: market_30d_10k_users_s={market_s:.1f} target=300")
    print(f"metric: peak_rss_mb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}")


if __name__ == "__main__":
    main()
