"""bench/market.py's value-calibration judge: the band realised ÷ expected GMV falls in for a campaign."""

import numpy as np
from bench.market import realised_band


def _draws(orders: np.ndarray, price: np.ndarray, mu: float, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    k = rng.poisson(orders, size=(n, len(orders)))
    gmv = ((k + rng.poisson(mu * k)) * price).sum(axis=1)
    return gmv / ((orders * price).sum() * (1.0 + mu))


def test_truth_lands_in_the_band_nine_times_in_ten() -> None:
    rng = np.random.default_rng(7)
    price = np.exp(rng.normal(17.0, 1.2, size=200)).astype(np.int64)  # heavy-tailed prices, micros
    orders = rng.dirichlet(np.full(200, 0.3)) * 40.0  # 40 expected orders over a skewed product mix
    lo, hi = realised_band(orders, price, 0.15, seed=1)
    inside = ((lo <= (x := _draws(orders, price, 0.15, 20_000, seed=2))) & (x <= hi)).mean()
    assert 0.88 <= inside <= 0.92
    assert lo < 1.0 < hi


def test_band_narrows_with_orders_and_is_empty_without_them() -> None:
    price = np.full(10, 50_000_000)
    small = realised_band(np.full(10, 3.0), price, 0.15, seed=0)
    large = realised_band(np.full(10, 300.0), price, 0.15, seed=0)
    assert (large[1] - large[0]) < 0.2 * (small[1] - small[0])
    assert all(np.isnan(realised_band(np.zeros(10), price, 0.15, seed=0)))
