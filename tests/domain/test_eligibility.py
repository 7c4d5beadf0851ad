"""Eligibility pool: each rule at its boundaries, missing data as a reason, properties, and a real catalogue."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitewide.domain.eligibility import (
    POPULARITY_LEVELS,
    CategoryStats,
    EligibilityDecision,
    EligibilityPolicy,
    ProductSignals,
    compute_category_stats,
    evaluate,
    evaluate_many,
)
from sitewide.domain.eligibility_rules import DEFAULT_RULES, RuleResult
from sitewide.domain.money import parse_amount
from sitewide.domain.shop_score import ShopMetrics, compute_shop_score
from sitewide.domain.types import ValidationError

FIXTURE = Path(__file__).parents[1] / "fixtures" / "eligibility_products.csv"
POLICY = EligibilityPolicy()
RULE_NAMES = [r.name for r in DEFAULT_RULES]
USD = 1_000_000


def product(pid: str = "p", **kw: Any) -> ProductSignals:
    base: dict[str, Any] = dict(product_id=pid, category="mice", shop_id="s", stock=5)
    base.update(kw)
    return ProductSignals(**base)


def peers(
    category: str = "mice", prices: tuple[int, ...] = (10, 20, 39, 50, 60), sales: int | None = None
) -> CategoryStats:
    """Stats from a peer group with the given prices (whole units)."""
    return compute_category_stats(
        [
            product(f"peer{i}", category=category, price_micros=p * USD, sales_30d=sales)
            for i, p in enumerate(prices)
        ]
    )


def result(reasons: Sequence[RuleResult], name: str) -> RuleResult:
    return next(r for r in reasons if r.rule == name)


def check(
    p: ProductSignals, stats: CategoryStats | None = None, shop: float | None = None, **policy: Any
) -> EligibilityDecision:
    pol = EligibilityPolicy(**policy) if policy else POLICY
    return evaluate(p, shop, stats if stats is not None else peers(), pol)


# ---------------------------------------------------------------- banned category


def test_banned_category_fails_case_insensitively_and_names_the_category() -> None:
    d = check(product(category=" Tobacco "), banned_categories=frozenset({"tobacco"}))
    r = result(d.reasons, "banned_category")
    assert not d.eligible and r.code == "category_banned" and "Tobacco" in r.message


def test_missing_category_fails_closed_with_a_reason() -> None:
    d = check(product(category=""))
    r = result(d.reasons, "banned_category")
    assert not r.passed and r.code == "missing" and "category missing" in r.message


# ---------------------------------------------------------------- stock


@pytest.mark.parametrize(
    ("stock", "passed", "code"),
    [(0, False, "out_of_stock"), (1, True, "pass"), (-3, False, "out_of_stock"), (None, True, "missing")],
)
def test_stock_boundary_and_missing(stock: int | None, passed: bool, code: str) -> None:
    r = result(check(product(stock=stock)).reasons, "stock")
    assert (r.passed, r.code) == (passed, code)
    if not passed:
        assert r.message == f"stock {stock}, minimum 1"


# ---------------------------------------------------------------- price


def test_price_exactly_at_the_limit_passes_and_one_micro_above_fails() -> None:
    stats = peers()  # median 39.00
    at = result(check(product(price_micros=117 * USD), stats).reasons, "price_competitiveness")
    above = result(check(product(price_micros=117 * USD + 1), stats).reasons, "price_competitiveness")
    assert at.passed and at.code == "pass"
    assert not above.passed and above.code == "price_above_limit"
    assert above.numbers["category_median_micros"] == 39 * USD and above.numbers["limit"] == 3.0


def test_price_failure_message_quotes_ratio_median_and_limit() -> None:
    r = result(
        check(product(price_micros=70_200_000), peers(), max_price_ratio=1.5).reasons, "price_competitiveness"
    )
    assert not r.passed
    assert r.message == "price 70.20 is 1.80 × category median 39.00 over 5 priced peers, limit 1.50"
    assert r.numbers["ratio"] == pytest.approx(1.8)


def test_price_with_too_few_peers_passes_with_a_note() -> None:
    r = result(
        check(product(price_micros=10_000 * USD), peers(prices=(1, 2, 3))).reasons, "price_competitiveness"
    )
    assert r.passed and r.code == "insufficient_data" and "only 3 priced peers" in r.message


def test_missing_price_passes_with_a_missing_note() -> None:
    r = result(check(product(price_micros=None)).reasons, "price_competitiveness")
    assert r.passed and r.code == "missing"


def test_zero_median_price_is_not_a_division_by_zero() -> None:
    r = result(check(product(price_micros=5), peers(prices=(0, 0, 0, 0, 0))).reasons, "price_competitiveness")
    assert r.passed and r.code == "insufficient_data"


# ---------------------------------------------------------------- rating


@pytest.mark.parametrize(("rating", "reviews", "passed", "code"), [
    (3.5, 5, True, "pass"),
    (3.49, 5, False, "rating_below_minimum"),
    (1.0, 4, True, "insufficient_data"),
    (None, 0, True, "missing"),
    (4.0, 0, True, "missing"),
])  # fmt: skip
def test_rating_boundary_volume_and_missing(
    rating: float | None, reviews: int, passed: bool, code: str
) -> None:
    r = result(check(product(rating=rating, review_count=reviews)).reasons, "rating")
    assert (r.passed, r.code) == (passed, code)
    if code == "rating_below_minimum":
        assert r.message == "rating 3.49 over 5 reviews, minimum 3.50"


# ---------------------------------------------------------------- return rate


@pytest.mark.parametrize(("rate", "sales", "passed", "code"), [
    (0.30, 50, True, "pass"),
    (0.31, 50, False, "return_rate_above_limit"),
    (0.31, None, False, "return_rate_above_limit"),
    (0.90, 9, True, "insufficient_data"),
    (None, 50, True, "missing"),
])  # fmt: skip
def test_return_rate_boundary_volume_and_missing(
    rate: float | None, sales: int | None, passed: bool, code: str
) -> None:
    r = result(check(product(return_rate=rate, sales_30d=sales)).reasons, "return_rate")
    assert (r.passed, r.code) == (passed, code)
    if not passed:
        assert r.message == "return rate 31.0%, limit 30.0%"


# ---------------------------------------------------------------- popularity


def _sales_stats(values: list[int]) -> CategoryStats:
    return compute_category_stats([product(f"q{i}", sales_30d=v) for i, v in enumerate(values)])


def test_sales_below_the_category_floor_fail_and_at_the_floor_pass() -> None:
    stats = _sales_stats([0] + [5] * 19 + list(range(10, 30)))  # 40 peers, p5 (lower) = 5
    assert stats.sales_quantiles["mice"][0.05] == 5
    below = result(check(product(sales_30d=4), stats).reasons, "popularity")
    at = result(check(product(sales_30d=5), stats).reasons, "popularity")
    assert not below.passed and below.code == "sales_below_category_floor"
    assert below.message == "30-day sales 4, category p5 5 over 40 peers"
    assert at.passed


def test_popularity_with_few_peers_or_unknown_sales_passes_with_a_note() -> None:
    few = result(check(product(sales_30d=0), _sales_stats([50] * 19)).reasons, "popularity")
    unknown = result(check(product(sales_30d=None), _sales_stats([50] * 40)).reasons, "popularity")
    assert few.passed and few.code == "insufficient_data"
    assert unknown.passed and unknown.code == "missing"


# ---------------------------------------------------------------- shop score


@pytest.mark.parametrize(("score", "passed", "code"), [
    (40.0, True, "pass"),
    (39.9, False, "shop_score_below_floor"),
    (None, True, "missing"),
    (float("nan"), True, "missing"),
])  # fmt: skip
def test_shop_score_floor_boundary_and_missing(score: float | None, passed: bool, code: str) -> None:
    r = result(check(product(), shop=score).reasons, "shop_score_floor")
    assert (r.passed, r.code) == (passed, code)


def test_poor_shop_from_its_metrics_is_held_out_with_its_score() -> None:
    poor = compute_shop_score(
        ShopMetrics("s", on_time_share=0.8, delivery_days=8, response_hours=24, dispute_rate=0.03, avg_rating=3.5,
                    review_count=200, return_rate=0.25)
    )  # fmt: skip
    d = check(product(), shop=poor.score)
    assert not d.eligible
    assert [r.rule for r in d.failures] == ["shop_score_floor"]
    assert f"shop score {poor.score:.1f}, floor 40.0" == d.failures[0].message


def test_shop_score_outside_0_100_raises() -> None:
    with pytest.raises(ValidationError):
        check(product(), shop=120.0)


# ---------------------------------------------------------------- inputs and policy


@pytest.mark.parametrize(
    "kw",
    [
        {"price_micros": -1},
        {"price_micros": 1.5},
        {"rating": 5.1},
        {"review_count": -1},
        {"review_count": None},
        {"return_rate": 1.5},
        {"sales_30d": -2},
        {"product_id": ""},
        {"category": None},
    ],
)
def test_invalid_product_signals_raise_validation_error(kw: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        product(**kw)


@pytest.mark.parametrize(
    "kw",
    [
        {"max_price_ratio": 0.0},
        {"min_rating": 6.0},
        {"max_return_rate": 1.2},
        {"popularity_quantile": 0.07},
        {"min_price_peers": 0},
        {"min_stock": -1},
        {"shop_score_floor": 101.0},
        {"version": ""},
        {"banned_categories": "tobacco"},
    ],
)
def test_invalid_policy_raises_validation_error(kw: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        EligibilityPolicy(**kw)


def test_category_stats_median_merges_case_and_spacing_and_rounds_down() -> None:
    stats = compute_category_stats(
        [product("a", category="Mice", price_micros=3), product("b", category=" mice", price_micros=6)]
        + [product("c", category="", price_micros=100)]
    )
    assert stats.median_price_micros == {"mice": 4}
    assert stats.price_peers == {"mice": 2}


def test_decision_records_policy_and_rule_versions() -> None:
    d = check(product(), version="pool-test")
    assert d.policy_version == "pool-test"
    assert d.rules_version.split(",") == [f"{n}@1" for n in RULE_NAMES]


# ---------------------------------------------------------------- properties

opt_float = st.none() | st.floats(0.0, 1.0)
products_st = st.builds(
    ProductSignals,
    product_id=st.text(min_size=1, max_size=4),
    category=st.sampled_from(["", "mice", "Mice", "ink", "tobacco"]),
    shop_id=st.sampled_from(["a", "b", "c"]),
    price_micros=st.none() | st.integers(0, 10_000 * USD),
    rating=st.none() | st.floats(0.0, 5.0),
    review_count=st.integers(0, 500),
    return_rate=opt_float,
    sales_30d=st.none() | st.integers(0, 1000),
    stock=st.none() | st.integers(-5, 100),
)
shop_scores_st = st.dictionaries(st.sampled_from(["a", "b", "c"]), st.floats(0.0, 100.0))


@settings(max_examples=150, deadline=None)
@given(st.lists(products_st, min_size=1, max_size=40), shop_scores_st)
def test_any_catalogue_gets_a_decision_with_a_reason_per_rule(
    catalogue: list[ProductSignals], scores: dict[str, float]
) -> None:
    stats = compute_category_stats(catalogue)
    policy = EligibilityPolicy(banned_categories=frozenset({"tobacco"}), min_popularity_peers=3)
    mask, decisions = evaluate_many(catalogue, scores, stats, policy)
    assert mask.shape == (len(catalogue),) and mask.dtype == np.bool_
    for p, m, d in zip(catalogue, mask, decisions, strict=True):
        assert d.product_id == p.product_id
        assert [r.rule for r in d.reasons] == RULE_NAMES
        assert bool(m) == d.eligible == all(r.passed for r in d.reasons)
        for r in d.reasons:
            assert r.message and r.code
        for r in d.failures:
            assert r.numbers and r.code not in ("pass", "insufficient_data")


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 1000 * USD),
    st.integers(0, 1000 * USD),
    st.lists(st.integers(1, 500), min_size=5, max_size=30),
)
def test_raising_the_price_never_turns_a_failure_into_a_pass(a: int, b: int, peer_prices: list[int]) -> None:
    lo, hi = sorted((a, b))
    stats = peers(prices=tuple(peer_prices))
    r_lo = result(check(product(price_micros=lo), stats).reasons, "price_competitiveness")
    r_hi = result(check(product(price_micros=hi), stats).reasons, "price_competitiveness")
    assert r_lo.passed or not r_hi.passed


@settings(max_examples=200, deadline=None)
@given(st.floats(0.0, 5.0), st.floats(0.0, 5.0), st.integers(0, 100))
def test_raising_the_rating_never_turns_a_pass_into_a_failure(a: float, b: float, n: int) -> None:
    lo, hi = sorted((a, b))
    r_lo = result(check(product(rating=lo, review_count=n)).reasons, "rating")
    r_hi = result(check(product(rating=hi, review_count=n)).reasons, "rating")
    assert r_hi.passed or not r_lo.passed


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 10**12), min_size=1, max_size=50))
def test_category_median_matches_numpy_within_one_micro(prices: list[int]) -> None:
    stats = compute_category_stats([product(f"p{i}", price_micros=v) for i, v in enumerate(prices)])
    assert abs(stats.median_price_micros["mice"] - float(np.median(prices))) <= 0.5
    assert min(prices) <= stats.median_price_micros["mice"] <= max(prices)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 1000), min_size=1, max_size=60))
def test_popularity_floors_are_observed_values_ordered_by_level(sales: list[int]) -> None:
    q = _sales_stats(sales).sales_quantiles["mice"]
    values = [q[level] for level in POPULARITY_LEVELS]
    assert values == sorted(values) and set(values) <= set(sales)


# ---------------------------------------------------------------- real catalogue


def _load_fixture() -> list[ProductSignals]:
    out = []
    with FIXTURE.open(newline="") as f:
        for row in csv.DictReader(f):
            out.append(
                ProductSignals(
                    product_id=row["product_id"],
                    category=row["category"],
                    shop_id=row["source"],
                    price_micros=parse_amount(row["price"]) if row["price"] else None,
                    rating=float(row["mean_rating"]) if row["mean_rating"] else None,
                    review_count=int(row["review_count"]),
                )
            )
    return out


def test_real_catalogue_holds_out_a_plausible_minority_with_reasons() -> None:
    catalogue = _load_fixture()
    assert len(catalogue) == 600
    mask, decisions = evaluate_many(catalogue, {}, compute_category_stats(catalogue))
    held_out = 1.0 - float(mask.mean())
    assert 0.02 <= held_out <= 0.40, held_out
    failing_rules = {r.rule for d in decisions for r in d.failures}
    assert {"price_competitiveness", "rating"} <= failing_rules
    for d in decisions:
        for r in d.failures:
            assert r.rule in RULE_NAMES and r.numbers
            assert any(ch.isdigit() for ch in r.message)
            if r.rule == "price_competitiveness":
                assert "× category median" in r.message and "limit 3.00" in r.message
                assert isinstance(r.numbers["ratio"], float) and r.numbers["ratio"] > 3.0
            if r.rule == "rating":
                assert isinstance(r.numbers["rating"], float) and r.numbers["rating"] < 3.5
    # missing data in the real rows is a note, not a failure: unpriced clothing and unrated electronics pass
    notes = {r.code for d in decisions for r in d.reasons if r.passed}
    assert {"missing", "insufficient_data"} <= notes


def test_real_catalogue_at_the_briefs_1_5_limit_holds_out_far_more() -> None:
    """Why the default is 3.0: at 1.5 × median, category breadth alone pushes the cut up (module docstring)."""
    catalogue = _load_fixture()
    stats = compute_category_stats(catalogue)
    strict, _ = evaluate_many(catalogue, {}, stats, EligibilityPolicy(max_price_ratio=1.5))
    default, _ = evaluate_many(catalogue, {}, stats)
    priced = np.array([p.price_micros is not None for p in catalogue])
    assert math.isclose(priced.mean(), 0.5)
    assert (~strict[priced]).mean() > 0.25 > (~default[priced]).mean()
