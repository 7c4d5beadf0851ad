"""Forecast math: the operating point on a curve, the band, and the calibration of level and spread."""

from __future__ import annotations

import numpy as np
import pytest

from sitewide.domain.forecast import (
    Band,
    CampaignDraft,
    CurvePoint,
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


def _days(rng: np.random.Generator, cat: str, noise: float, n: int, shops: int = 10) -> list[ForecastPair]:
    out = []
    for j in range(n):
        lam = rng.uniform(20, 60)
        obs = rng.poisson(lam * np.exp(noise * rng.standard_normal())) * 100.0
        out.append(ForecastPair(f"{cat}{j % shops}", cat, lam * 100.0, lam, obs))
    return out


def test_per_category_each_category_gets_its_own_band_spread_shrunk_toward_the_market() -> None:
    rng = np.random.default_rng(7)
    fit = _days(rng, "quiet", 0.05, 150) + _days(rng, "noisy", 0.8, 150) + _days(rng, "thin", 0.8, 4, 2)
    assert fit_calibration(fit, level=0.8).category_sigma == {}  # off by default: the market's σ for all
    cal = fit_calibration(fit, level=0.8, per_category=True)
    quiet, noisy, thin = (cal.sigma_for(c) for c in ("quiet", "noisy", "thin"))
    assert quiet < cal.sigma < noisy
    assert abs(thin - cal.sigma) < 0.25 * abs(noisy - cal.sigma)  # 4 days: mostly the market's σ
    assert cal.sigma_for("unseen") == cal.sigma_for(None) == cal.sigma
    # out of sample: fresh days of each category, judged under its own σ and under the market's
    for cat, noise in (("quiet", 0.05), ("noisy", 0.8)):
        new = _days(rng, cat, noise, 300)

        def coverage(sigma: float, days: list[ForecastPair] = new) -> float:
            inside = []
            for p in days:
                k = cal.factor(p.shop_id, p.category)[0]
                b = band(p.forecast_orders * k, p.forecast_gmv / p.forecast_orders, sigma, 0.8)
                inside.append(b.gmv_low <= p.observed_gmv <= b.gmv_high)
            return float(np.mean(inside))

        own, market = coverage(cal.sigma_for(cat)), coverage(cal.sigma)
        assert abs(own - 0.8) < 0.07
        assert abs(own - 0.8) < abs(market - 0.8) - 0.05  # the market's band misses this category by more
