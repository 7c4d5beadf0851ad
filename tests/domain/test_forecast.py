"""Forecast math: the operating point on a curve, the band, and the calibration of level and spread."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sitewide.domain.forecast import (
    SIZE_EDGES,
    Band,
    CampaignDraft,
    CurvePoint,
    ForecastCalibration,
    ForecastPair,
    band,
    fit_calibration,
    operating_point,
)
from sitewide.domain.types import ValidationError


def _curve() -> list[CurvePoint]:
    # concave: GMV = 10·sqrt(spend); average ROI = 10/sqrt(spend)
    return [
        CurvePoint(m, s, 10 * s**0.5, s**0.5) for m, s in zip([0.5, 1, 2, 4], [1, 4, 16, 64], strict=True)
    ]


def test_operating_point_meets_the_target_roi_or_the_budget() -> None:
    p = operating_point(_curve(), target_roi=3.0, budget=1e9)  # ROI 5 at spend 4, 2.5 at 16: 3 on the way
    assert p.gmv >= 3.0 * p.spend - 1e-6
    assert p.spend == pytest.approx(10.0, abs=0.05)  # 20 + (s − 4)·20/12 = 3s
    q = operating_point(_curve(), target_roi=2.5, budget=5.0)  # the budget binds first
    assert q.spend == pytest.approx(5.0) and q.gmv == pytest.approx(20 + (5 - 4) / 12 * 20)
    assert operating_point(_curve(), target_roi=100.0, budget=1e9).spend < 0.01 + 1e-9
    more = operating_point(_curve(), target_roi=1.0, budget=1e9)
    assert more.spend == pytest.approx(64.0)  # every point meets ROI 1: the curve's end


def test_band_widens_with_sigma_and_covers_poisson_days() -> None:
    b0, b1 = band(50.0, 100.0, 0.0, 0.8), band(50.0, 100.0, 0.5, 0.8)
    lo0, hi0 = b0.gmv_low, b0.gmv_high
    assert b1.gmv_low < lo0 < 5_000 < hi0 < b1.gmv_high
    assert (b0.orders_low, b0.orders_high) == (lo0 / 100.0, hi0 / 100.0)
    draws = np.random.default_rng(1).poisson(50.0, 5_000) * 100.0
    inside = float(((draws >= lo0) & (draws <= hi0)).mean())
    assert 0.78 <= inside <= 0.9
    assert band(0.0, 100.0, 0.5) == Band(0.0, 0.0, 0.0, 0.0)


def test_calibration_learns_the_level_and_hits_the_coverage() -> None:
    rng = np.random.default_rng(3)
    pairs = []
    for shop in range(30):
        bias = 2.0 if shop < 15 else 0.5  # two kinds of shop: the forecast is 2× low or 2× high
        for _ in range(4):
            lam = rng.uniform(10, 40)
            obs = rng.poisson(bias * lam * np.exp(0.3 * rng.standard_normal())) * 100.0
            pairs.append(ForecastPair(f"s{shop}", "cat", lam * 100.0, lam, obs))
    cal = fit_calibration(pairs, level=0.8)
    assert cal.pairs == 120
    k_hi = np.mean([cal.shops[f"s{i}"] for i in range(15)])
    k_lo = np.mean([cal.shops[f"s{i}"] for i in range(15, 30)])
    assert 1.5 < k_hi < 2.5 and 0.35 < k_lo < 0.9  # shrunk toward the category (two days of prior)
    assert 0.1 < cal.sigma < 0.6
    assert cal.in_sample_coverage is not None and 0.78 <= cal.in_sample_coverage <= 0.86
    assert cal.factor("s0", "cat")[1] == "shop"
    assert cal.factor("new", "cat")[1] == "category"
    assert cal.factor(None, "other")[1] == "market"
    assert fit_calibration([]).factor("s", "c") == (1.0, "prior")


def test_draft_validation() -> None:
    with pytest.raises(ValidationError):
        CampaignDraft((), 2.0, 1_000_000)
    with pytest.raises(ValidationError):
        CampaignDraft(("p",), 0.0, 1_000_000)
    with pytest.raises(ValidationError):
        CampaignDraft(("p",), 2.0, 0)


def _market_days(rng: np.random.Generator, days: range, n: int, off: float = 0.0) -> list[ForecastPair]:
    """Campaign-days whose true expected orders spread from ~0.05 to ~50; the forecast misses each by a
    log-normal error (so a forecast that came out big is big partly by its error); a share ``off`` of days
    sells nothing. Observed: Poisson orders, each worth 100 on average (Gamma, sd 50)."""
    out = []
    for d in days:
        lam = np.exp(rng.normal(0.7, 1.0, n))
        forecast = lam * np.exp(0.5 * rng.standard_normal(n))
        sold = rng.poisson(lam) * (rng.random(n) >= off)
        value = 100.0 * rng.gamma(4.0 * np.maximum(sold, 1), 0.25) * (sold > 0)  # orders worth 100 ± 50
        out += [
            ForecastPair(f"s{j}", "cat", 100.0 * f, float(f), float(v), int(k), d)
            for j, (f, k, v) in enumerate(zip(forecast.tolist(), sold.tolist(), value.tolist(), strict=True))
        ]
    return out


def _coverage_by_size(cal: ForecastCalibration, days: list[ForecastPair]) -> list[float]:
    by: dict[int, list[bool]] = {}
    for p in days:
        c = cal.calibrated(CurvePoint(1.0, 0.0, p.forecast_gmv, p.forecast_orders), None, p.category)
        j = int(np.searchsorted(SIZE_EDGES, c.orders, side="right"))
        by.setdefault(j, []).append(c.band.gmv_low <= p.observed_gmv <= c.band.gmv_high)
    return [float(np.mean(v)) for _, v in sorted(by.items()) if len(v) >= 100]


def test_the_band_covers_every_forecast_size_out_of_sample() -> None:
    rng = np.random.default_rng(11)
    cal = fit_calibration(_market_days(rng, range(6), 150), level=0.8)
    assert len(cal.size_sigma) == len(cal.size_level) == len(SIZE_EDGES) + 1
    assert 0.7 < cal.slope < 0.95  # big forecasts run high: the level grows slower than the forecast
    fresh = _market_days(rng, range(6, 7), 3_000)
    served = _coverage_by_size(cal, fresh)
    assert len(served) == len(SIZE_EDGES) + 1 and all(0.74 <= v <= 0.86 for v in served), served
    # the level proportional to the forecast, one σ for every size (the band before this fit) misses some size
    # by more
    pooled = _coverage_by_size(replace(cal, size_sigma=(), size_level=(), slope=1.0), fresh)
    assert max(abs(v - 0.8) for v in pooled) > max(abs(v - 0.8) for v in served) + 0.05, (pooled, served)


def test_days_that_sell_nothing_are_learned_and_the_band_reaches_zero() -> None:
    rng = np.random.default_rng(5)
    cal = fit_calibration(_market_days(rng, range(6), 150, off=0.2), level=0.8)
    assert 0.1 < cal.off_share < 0.3
    big = cal.calibrated(CurvePoint(1.0, 0.0, 2_000.0, 20.0), None, "cat")
    assert big.band.gmv_low == 0.0 < big.band.gmv_high  # a day off is inside: the band reaches 0
    assert fit_calibration(_market_days(rng, range(6), 150), level=0.8).off_share < 0.05


def test_the_value_per_order_and_its_spread_come_from_settled_orders() -> None:
    rng = np.random.default_rng(2)
    pairs = []
    for d in range(4):
        for j in range(100):
            lam = rng.uniform(0.2, 3.0)
            k = int(rng.poisson(lam))
            value = float(sum(rng.choice([50.0, 250.0]) for _ in range(k)))  # orders worth 150 on average
            pairs.append(ForecastPair(f"s{j}", "cat", 100.0 * lam, lam, value, k, d))
    cal = fit_calibration(pairs, level=0.8)
    assert cal.aov_factor == pytest.approx(1.5, rel=0.1)
    assert cal.order_values and min(cal.order_values) < 0.5 < 1.5 < max(cal.order_values)
    one = cal.calibrated(CurvePoint(1.0, 0.0, 150.0, 1.5), "s0", "cat")
    assert one.orders == pytest.approx(one.gmv / (100.0 * cal.aov_factor))
