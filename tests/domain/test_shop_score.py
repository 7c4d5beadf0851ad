"""Shop experience score: formula, breakdown, shrinkage, missing data and the delivery multiplier."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitewide.domain.shop_score import (
    ShopMetrics,
    ShopScoreConfig,
    compute_shop_score,
    delivery_multiplier,
    delivery_multipliers,
)
from sitewide.domain.types import ValidationError

CFG = ShopScoreConfig()

share = st.none() | st.floats(0.0, 1.0)
days = st.none() | st.floats(0.0, 60.0)
hours = st.none() | st.floats(0.0, 200.0)
rating = st.none() | st.floats(0.0, 5.0)
counts = st.integers(0, 100_000)

metrics_st = st.builds(
    ShopMetrics,
    shop_id=st.just("s"),
    on_time_share=share,
    delivery_days=days,
    response_hours=hours,
    dispute_rate=share,
    avg_rating=rating,
    review_count=counts,
    return_rate=share,
    order_count=st.none() | counts,
)


def typical(**kw: Any) -> ShopMetrics:
    base: dict[str, Any] = dict(
        shop_id="s",
        on_time_share=0.95,
        delivery_days=3.0,
        response_hours=4.0,
        dispute_rate=0.005,
        avg_rating=4.2,
        review_count=100,
        return_rate=0.10,
    )
    base.update(kw)
    return ShopMetrics(**base)


def test_typical_shop_scores_by_the_documented_formula() -> None:
    s = compute_shop_score(typical())
    # sub-scores: on-time 75, delivery 87.5, response 95.65, disputes 90, rating 80, returns 75
    expected = 0.20 * 75 + 0.10 * 87.5 + 0.10 * (100 * 44 / 46) + 0.15 * 90 + 0.30 * 80 + 0.15 * 75
    assert s.score == pytest.approx(expected)
    assert s.factor("reviews.rating").sub_score == pytest.approx(80.0)
    assert s.factor("logistics.delivery_days").sub_score == pytest.approx(87.5)
    assert 1.0 < s.multiplier < 1.05


def test_poor_shop_falls_below_the_floor_and_gets_the_minimum_multiplier() -> None:
    s = compute_shop_score(
        typical(
            on_time_share=0.80,
            delivery_days=8.0,
            response_hours=24.0,
            dispute_rate=0.03,
            avg_rating=3.5,
            return_rate=0.25,
        )
    )
    assert s.score < CFG.floor_score
    assert s.multiplier == CFG.min_multiplier


def test_shop_without_any_data_gets_the_prior_rating_score_and_notes_every_missing_factor() -> None:
    s = compute_shop_score(ShopMetrics(shop_id="new"))
    assert s.score == pytest.approx(100 * (CFG.rating_prior - 1) / 4)
    missing = [f for f in s.factors if f.used is None]
    assert len(missing) == 5
    assert all("missing" in f.note and f.weight == 0 and f.contribution == 0 for f in missing)
    assert s.factor("reviews.rating").weight == pytest.approx(1.0)
    assert "prior" in s.factor("reviews.rating").note


def test_missing_factor_weight_is_spread_over_present_factors() -> None:
    s = compute_shop_score(typical(response_hours=None))
    present = [f for f in s.factors if f.used is not None]
    assert sum(f.weight for f in present) == pytest.approx(1.0)
    assert s.factor("reviews.rating").weight == pytest.approx(0.30 / 0.90)


def test_few_reviews_are_shrunk_toward_the_prior_and_many_are_not() -> None:
    few = compute_shop_score(typical(avg_rating=1.0, review_count=2)).factor("reviews.rating")
    many = compute_shop_score(typical(avg_rating=1.0, review_count=10_000)).factor("reviews.rating")
    assert few.used == pytest.approx((2 * 1.0 + 10 * 4.2) / 12)
    assert many.used is not None and many.used < 1.01
    assert few.sub_score > many.sub_score


def test_rates_are_shrunk_by_order_count_and_left_alone_when_it_is_unknown() -> None:
    shrunk = compute_shop_score(typical(dispute_rate=0.5, order_count=10)).factor("service.disputes")
    raw = compute_shop_score(typical(dispute_rate=0.5)).factor("service.disputes")
    assert shrunk.used == pytest.approx((10 * 0.5 + 30 * 0.01) / 40)
    assert raw.used == 0.5 and "not shrunk" in raw.note


def test_nan_metric_is_treated_as_missing() -> None:
    s = compute_shop_score(typical(on_time_share=float("nan")))
    assert s.factor("logistics.on_time").used is None


@pytest.mark.parametrize(
    "kw",
    [
        {"on_time_share": 1.2},
        {"dispute_rate": -0.1},
        {"avg_rating": 5.5},
        {"delivery_days": float("inf")},
        {"review_count": -1},
        {"order_count": 2.5},
        {"shop_id": ""},
        {"return_rate": "high"},
    ],
)
def test_out_of_range_metrics_raise_validation_error(kw: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        typical(**kw)


@pytest.mark.parametrize(
    "kw",
    [
        {"floor_score": 90.0},
        {"min_multiplier": 1.1},
        {"max_multiplier": 0.9},
        {"w_rating": 0.0},
        {"w_on_time": -1.0},
        {"on_time_worst": 1.0, "on_time_best": 1.0},
        {"rating_prior": 6.0},
    ],
)
def test_inconsistent_config_raises_validation_error(kw: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ShopScoreConfig(**kw)


@settings(max_examples=200, deadline=None)
@given(metrics_st)
def test_score_is_in_range_and_equals_the_sum_of_contributions(m: ShopMetrics) -> None:
    s = compute_shop_score(m)
    assert 0.0 <= s.score <= 100.0
    assert math.isclose(sum(f.contribution for f in s.factors), s.score, abs_tol=1e-9)
    assert math.isclose(sum(f.weight for f in s.factors), 1.0, abs_tol=1e-9)
    assert all(0.0 <= f.sub_score <= 100.0 and f.note for f in s.factors)
    assert CFG.min_multiplier <= s.multiplier <= CFG.max_multiplier


@settings(max_examples=150, deadline=None)
@given(metrics_st, st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_better_on_time_and_fewer_disputes_never_lower_the_score(m: ShopMetrics, a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    worse = compute_shop_score(replace(m, on_time_share=lo, dispute_rate=hi))
    better = compute_shop_score(replace(m, on_time_share=hi, dispute_rate=lo))
    assert better.score >= worse.score - 1e-9


@settings(max_examples=150, deadline=None)
@given(metrics_st, st.floats(0.0, 5.0), st.floats(0.0, 5.0))
def test_higher_rating_never_lowers_the_score(m: ShopMetrics, a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    low = compute_shop_score(replace(m, avg_rating=lo))
    high = compute_shop_score(replace(m, avg_rating=hi))
    assert high.score >= low.score - 1e-9


@settings(max_examples=300, deadline=None)
@given(st.floats(0.0, 100.0), st.floats(0.0, 100.0))
def test_delivery_multiplier_is_bounded_and_non_decreasing(a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    m_lo, m_hi = delivery_multiplier(lo), delivery_multiplier(hi)
    assert CFG.min_multiplier <= m_lo <= m_hi <= CFG.max_multiplier


def test_delivery_multiplier_anchor_points() -> None:
    assert delivery_multiplier(0.0) == pytest.approx(0.8)
    assert delivery_multiplier(CFG.floor_score) == pytest.approx(0.8)
    assert delivery_multiplier(CFG.neutral_score) == pytest.approx(1.0)
    assert delivery_multiplier(100.0) == pytest.approx(1.2)
    assert delivery_multiplier(60.0) == pytest.approx(0.9)


def test_vectorised_multipliers_match_the_scalar_function() -> None:
    scores = np.linspace(0.0, 100.0, 41)
    np.testing.assert_allclose(delivery_multipliers(scores), [delivery_multiplier(float(s)) for s in scores])


@pytest.mark.parametrize("bad", [-0.1, 100.5, float("nan"), float("inf")])
def test_multiplier_of_a_score_outside_0_100_raises(bad: float) -> None:
    with pytest.raises(ValidationError):
        delivery_multiplier(bad)
