"""Auctions per second: the vectorised batch path against the per-request path, in the same run.

Each request has 200 candidates (about 40 % promoted, some products both organic and promoted, 5 % padding)
and 10 slots; single-threaded. Run ``python bench/auction.py [--quick]``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402

import numpy as np  # noqa: E402

from sitewide.domain.auction import (  # noqa: E402
    AuctionBatch,
    AuctionConfig,
    AuctionResult,
    run_auction,
)
from sitewide.domain.auction_reference import run_auction_reference  # noqa: E402

TARGET = 20_000.0


def make_batch(rng: np.random.Generator, requests: int, candidates: int, slots: int) -> AuctionBatch:
    """Synthetic requests on the engine's scale: relevance and bids in micros per impression."""
    shape = (requests, candidates)
    product = rng.integers(0, 1_000_000, size=shape)
    # about 10 % of the promoted candidates repeat an organic one in the same request (two copies)
    promoted = rng.random(shape) < 0.4
    copy_of = rng.integers(0, candidates, size=shape)
    repeat = promoted & (rng.random(shape) < 0.1)
    product = np.where(repeat, np.take_along_axis(product, copy_of, axis=1), product)
    product[rng.random(shape) < 0.05] = -1
    pctr = np.clip(rng.beta(2, 40, size=shape), 1e-4, 1.0)
    pcvr = np.clip(rng.beta(2, 60, size=shape), 1e-4, 1.0)
    value = rng.lognormal(np.log(80e6), 0.8, size=shape)  # order value, micros
    gmv_per_imp = pctr * pcvr * value
    relevance = gmv_per_imp * rng.lognormal(0.0, 0.5, size=shape)
    roi = rng.uniform(2.0, 8.0, size=shape)
    bid = np.where(promoted, gmv_per_imp / roi, 0.0)
    return AuctionBatch(
        product=product.astype(np.int64),
        relevance=relevance,
        pctr=pctr,
        bid=bid,
        campaign=np.where(promoted, rng.integers(0, 500, size=shape), -1).astype(np.int64),
        eligible=rng.random(shape) < 0.95,
        budget_ok=rng.random(shape) < 0.9,
        examination=1.0 / np.log2(np.arange(slots) + 2.0),
    )


def rows(batch: AuctionBatch, start: int, stop: int) -> AuctionBatch:
    return replace(
        batch,
        product=batch.product[start:stop],
        relevance=batch.relevance[start:stop],
        pctr=batch.pctr[start:stop],
        bid=batch.bid[start:stop],
        campaign=batch.campaign[start:stop],
        eligible=batch.eligible[start:stop],
        budget_ok=batch.budget_ok[start:stop],
    )


def rate_batch(batch: AuctionBatch, slots: int, config: AuctionConfig, repeat: int) -> float:
    """One call over all requests (run_auction blocks them internally); best of ``repeat`` runs."""
    n = batch.product.shape[0]
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        run_auction(batch, slots, config)
        best = min(best, time.perf_counter() - t0)
    return n / best


def rate_per_request(batch: AuctionBatch, slots: int, config: AuctionConfig, n: int, fn: object) -> float:
    t0 = time.perf_counter()
    for r in range(n):
        fn(rows(batch, r, r + 1), slots, config)  # type: ignore[operator]
    return n / (time.perf_counter() - t0)


def same(a: AuctionResult, b: AuctionResult) -> bool:
    return all(
        np.array_equal(getattr(a, f), getattr(b, f))
        for f in ("slot", "promoted", "price_cpc_micros", "reason", "shortfall")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer requests (well under a minute)")
    args = parser.parse_args(argv)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass

    candidates, slots = 200, 10
    n_batch, n_single, repeat = (20_000, 300, 2) if args.quick else (50_000, 2_000, 3)
    rng = np.random.default_rng(20240605)
    batch = make_batch(rng, n_batch, candidates, slots)
    config = AuctionConfig(alpha=1.0, reserve_cpc_micros=10_000, max_ad_share=0.3, min_ad_spacing=1)

    # the two paths must agree before their speed means anything
    check = rows(batch, 0, 200)
    for mech in ("gsp", "vcg"):
        cfg = replace(config, mechanism=mech)
        if not same(run_auction(check, slots, cfg), run_auction_reference(check, slots, cfg)):
            print(f"batch and per-request paths disagree ({mech})", file=sys.stderr)
            return 1
    res = run_auction(check, slots, config)
    print(
        f"requests={n_batch} candidates={candidates} slots={slots} promoted_share={res.promoted.mean():.3f} "
        f"mean_price_cpc={res.price_cpc_micros[res.promoted].mean():.0f} micros"
    )

    batch_rate = rate_batch(batch, slots, config, repeat)
    ref_rate = rate_per_request(batch, slots, config, n_single, run_auction_reference)
    single_call_rate = rate_per_request(batch, slots, config, n_single, run_auction)
    vcg_rate = rate_batch(rows(batch, 0, n_batch // 5), slots, replace(config, mechanism="vcg"), 1)
    print(f"batch path (GSP, one call for {n_batch} requests): {batch_rate:,.0f} auctions/s")
    print(f"batch path (VCG, one call for {n_batch // 5} requests): {vcg_rate:,.0f} auctions/s")
    print(f"run_auction called once per request: {single_call_rate:,.0f} auctions/s")
    print(f"per-request reference path: {ref_rate:,.0f} auctions/s")

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(
        f"metric: batch_auctions_per_s={batch_rate:.0f} baseline={ref_rate:.0f} "
        f"ratio={batch_rate / ref_rate:.1f} target={TARGET:.0f}"
    )
    print(f"metric: vcg_batch_per_s={vcg_rate:.0f}")
    print(f"metric: peak_rss_mb={peak_mb:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
