"""The one-request allocation (``_allocate_row``, what ``POST /serve`` runs) against the batch allocation it
replaces for ``R == 1`` (``_allocate_batch``, still the path of batches and of VCG's counterfactuals), on random
inputs where ties, padding, duplicates, dead ads, caps and spacing are common."""

from __future__ import annotations

import numpy as np
import pytest

from sitewide.domain.auction import (
    NEG,
    AuctionBatch,
    AuctionConfig,
    Reason,
    _allocate_batch,
    _allocate_row,
    _dedupe_batch,
    _reasons_batch,
    _reasons_row,
    run_auction,
    run_limits,
)
from sitewide.domain.auction_input import prepare

FIELDS = ("slot", "promoted", "win", "runner", "allowed")
RESULT = ("slot", "promoted", "price_cpc_micros", "reason", "shortfall")


def random_batch(rng: np.random.Generator, rows: int, n: int) -> AuctionBatch:
    """Values from a small set (ties are frequent), a few repeated product ids and padded columns."""
    size = (rows, n)
    product = (
        rng.integers(0, max(1, n // 2 + 1), size=size)
        if rng.random() < 0.5
        else np.tile(np.arange(n), (rows, 1))
    )
    product = np.where(rng.random(size) < 0.15, -1, product)
    levels = np.array([0.0, 50.0, 100.0, 100.0, 200.0, 300.0, 1_000.0])
    rel = np.where(
        rng.random(size) < 0.5, levels[rng.integers(0, len(levels), size)], rng.uniform(0, 2_000, size)
    )
    bid = np.where(
        rng.random(size) < 0.5, levels[rng.integers(0, len(levels), size)], rng.uniform(0, 2_000, size)
    )
    return AuctionBatch(
        product=product.astype(np.int64),
        relevance=rel,
        pctr=rng.choice([0.01, 0.05, 0.1, 0.5, 1.0], size=size),
        bid=bid,
        campaign=np.where(rng.random(size) < 0.6, rng.integers(0, 3, size), -1).astype(np.int64),
        eligible=rng.random(size) < 0.9,
        budget_ok=rng.random(size) < 0.9,
    )


def random_config(rng: np.random.Generator) -> AuctionConfig:
    return AuctionConfig(
        alpha=float(rng.choice([0.0, 0.05, 0.5, 1.0, 3.7])),
        reserve_cpc_micros=int(rng.choice([0, 100, 1_000, 10_000])),
        max_ad_share=float(rng.choice([0.0, 0.3, 0.5, 1.0])),
        min_ad_spacing=int(rng.integers(0, 3)),
    )


@pytest.mark.parametrize("seed", range(8))
def test_row_allocation_and_reasons_equal_the_batch_ones(seed: int) -> None:
    """What ``_run_block`` does with a one-row batch, through the row functions and the batch functions."""
    rng = np.random.default_rng(seed)
    promoted = capped = 0
    for _ in range(250):
        n, slots, config = int(rng.integers(0, 40)), int(rng.integers(1, 13)), random_config(rng)
        prep = prepare(random_batch(rng, 1, n), slots, config)
        S, cap, spacing, alpha, _ = run_limits(slots, config)
        dup = _dedupe_batch(prep.product, prep.score)
        args = (np.where(dup, NEG, prep.score), np.where(prep.pad | dup, NEG, prep.rel), prep.live & ~dup)
        old, new = _allocate_batch(*args, S, cap, spacing), _allocate_row(*args, S, cap, spacing)
        for f in FIELDS:
            x, y = getattr(old, f), getattr(new, f)
            assert x.dtype == y.dtype and x.shape == y.shape, f
            np.testing.assert_array_equal(x, y, err_msg=f)
        (r0, s0), (r1, s1) = _reasons_batch(prep, dup, old, alpha), _reasons_row(prep, dup, new, alpha)
        assert r0.dtype == r1.dtype and s0.dtype == s1.dtype
        np.testing.assert_array_equal(r0, r1)
        np.testing.assert_array_equal(s0, s1)
        promoted += int(new.promoted.sum())
        capped += int((r1 == Reason.AD_LOAD_CAP).sum())
    assert promoted > 100 and capped > 10  # the ad path and the ad-load cap are exercised, not only organic fills


@pytest.mark.parametrize("mechanism", ["gsp", "vcg"])
def test_one_request_auction_equals_the_same_row_in_a_batch(mechanism: str) -> None:
    """``run_auction`` of one row (the row path) gives that row's result in a two-row batch (the batch path)."""
    rng = np.random.default_rng(42)
    for _ in range(300):
        n, slots = int(rng.integers(1, 30)), int(rng.integers(1, 11))
        config = AuctionConfig(**{**random_config(rng).__dict__, "mechanism": mechanism})
        two = random_batch(rng, 2, n)
        e = 1.0 / np.log2(np.arange(slots) + 2.0)
        two = AuctionBatch(**{**two.__dict__, "examination": e})
        one = AuctionBatch(**{k: (v[:1] if k != "examination" else v) for k, v in two.__dict__.items()})
        a, b = run_auction(one, slots, config), run_auction(two, slots, config)
        for f in RESULT:
            np.testing.assert_array_equal(getattr(a, f)[0], getattr(b, f)[0], err_msg=f)
