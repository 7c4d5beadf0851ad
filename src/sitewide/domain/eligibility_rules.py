"""The eligibility pool's rules: one shape (:class:`Rule` = name, version and a ``judge`` function from
:class:`RuleInput` to :class:`Verdict`), seven rules, and the labelled :class:`RuleResult` each returns.
The inputs, the policy's limits (and where the defaults come from) and the decision are in
:mod:`sitewide.domain.eligibility`.

Rules (``name`` / version — pass, fail, missing data):

- ``banned_category`` / 1 — fails when the category is in ``policy.banned_categories`` (compared trimmed and
  case-folded). **Missing category fails** (code ``missing``): a legal/safety gate fails closed.
- ``stock`` / 1 — fails when ``stock < policy.min_stock`` (negative stock = oversold, fails). Missing stock
  passes with a note: an unknown inventory is not a known stock-out.
- ``price_competitiveness`` / 1 — fails when ``price > max_price_ratio × median price of the category``
  (exact rational comparison: a price of exactly the limit passes). Missing price, fewer than
  ``min_price_peers`` priced products in the category, or a zero median pass with a note: without a
  reference there is no judgement.
- ``rating`` / 1 — fails when the mean rating is below ``min_rating`` over at least ``min_reviews_for_rating``
  reviews. No rating, or fewer reviews, passes with a note (cold start must not be punished).
- ``return_rate`` / 1 — fails when the return rate exceeds ``max_return_rate``. Missing passes with a note;
  with ``sales_30d`` known and below ``min_orders_for_return_rate`` it passes with a note (too few orders).
- ``popularity`` / 1 — fails when ``sales_30d`` is strictly below the category's ``popularity_quantile``
  of 30-day sales (over products whose sales are known). A floor against dead stock, not a popularity
  contest: missing sales or fewer than ``min_popularity_peers`` peers pass with a note.
- ``shop_score_floor`` / 1 — fails when the shop's experience score (0–100, see ``shop_score.py``) is below
  ``shop_score_floor``. A missing score passes with a note (new shops are scored from the priors upstream).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING

from sitewide.domain.money import format_amount
from sitewide.domain.types import ValidationError

if TYPE_CHECKING:
    from sitewide.domain.eligibility import CategoryStats, EligibilityPolicy, ProductSignals

__all__ = ["DEFAULT_RULES", "Rule", "RuleInput", "RuleResult", "Verdict", "category_key"]

Number = int | float | str | None

PASS = "pass"
MISSING = "missing"
INSUFFICIENT = "insufficient_data"


def category_key(category: str) -> str:
    """Categories compare trimmed and case-folded ("Mice " and "mice" are one category)."""
    return category.strip().casefold()


@dataclass(frozen=True, slots=True)
class RuleResult:
    """One rule's verdict. ``code`` is stable for machines ("pass", "missing", "insufficient_data" or a
    rule-specific failure code); ``message`` is for merchants; ``numbers`` holds the figures it quotes."""

    rule: str
    version: int
    passed: bool
    code: str
    message: str
    numbers: Mapping[str, Number] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RuleInput:
    """What every rule sees: the product, its shop's score (0–100, None = unknown), the category figures and
    the policy's limits."""

    product: ProductSignals
    shop_score: float | None
    stats: CategoryStats
    policy: EligibilityPolicy


@dataclass(frozen=True, slots=True)
class Verdict:
    """A rule's answer before it is labelled with the rule's name and version."""

    passed: bool
    code: str
    message: str
    numbers: Mapping[str, Number] = field(default_factory=dict)


def _not_judged(code: str, message: str, numbers: Mapping[str, Number] | None = None) -> Verdict:
    """Missing or insufficient data: the rule passes with a note (``code``)."""
    return Verdict(True, code, message, numbers or {})


def _in_category(x: RuleInput, peer_counts: Mapping[str, int]) -> tuple[str, int]:
    """The product's category key and how many peers that category has in ``peer_counts``."""
    key = category_key(x.product.category)
    return key, peer_counts.get(key, 0)


def _few_peers(
    x: RuleInput, peers: int, need: int, what: str, outcome: str, numbers: Mapping[str, Number]
) -> Verdict:
    """Not judged: the product's category has too few peers (``what``) to compare it with."""
    text = f"only {peers} {what} in category '{x.product.category}', need {need}: {outcome}"
    return _not_judged(INSUFFICIENT, text, numbers)


def _against_limit(failed: bool, fail_code: str, text: str, numbers: Mapping[str, Number]) -> Verdict:
    """The judged case: the same text and numbers whether it passes or fails with ``fail_code``."""
    return Verdict(not failed, fail_code if failed else PASS, text, numbers)


@dataclass(frozen=True, slots=True)
class Rule:
    """A named, versioned check: ``judge`` decides, :meth:`check` labels the verdict. Bump ``version``
    whenever the logic (not the policy's limits) changes."""

    name: str
    version: int
    judge: Callable[[RuleInput], Verdict]

    def check(
        self,
        product: ProductSignals,
        shop_score: float | None,
        stats: CategoryStats,
        policy: EligibilityPolicy,
    ) -> RuleResult:
        v = self.judge(RuleInput(product, shop_score, stats, policy))
        return RuleResult(self.name, self.version, v.passed, v.code, v.message, v.numbers)


def _banned_category(x: RuleInput) -> Verdict:
    category = x.product.category
    nums: dict[str, Number] = {"category": category}
    key = category_key(category)
    if not key:  # a legal/safety gate fails closed
        return Verdict(False, MISSING, "category missing: cannot check the ban list", nums)
    if key in x.policy.banned_categories:
        return Verdict(False, "category_banned", f"category '{category}' is banned from promotion", nums)
    return Verdict(True, PASS, f"category '{category}' allowed", nums)


def _stock(x: RuleInput) -> Verdict:
    stock, minimum = x.product.stock, x.policy.min_stock
    if stock is None:
        return _not_judged(MISSING, "stock unknown: not treated as out of stock")
    nums: dict[str, Number] = {"stock": stock, "min_stock": minimum}
    if stock < minimum:
        return Verdict(False, "out_of_stock", f"stock {stock}, minimum {minimum}", nums)
    return Verdict(True, PASS, f"stock {stock} ≥ {minimum}", nums)


def _price_competitiveness(x: RuleInput) -> Verdict:
    p, pol = x.product, x.policy
    if p.price_micros is None:
        return _not_judged(MISSING, "price missing: no price comparison made")
    key, peers = _in_category(x, x.stats.price_peers)
    median = x.stats.median_price_micros.get(key)
    limit = pol.max_price_ratio
    nums: dict[str, Number] = {
        "price_micros": p.price_micros,
        "category_median_micros": median,
        "price_peers": peers,
        "min_price_peers": pol.min_price_peers,
        "limit": limit,
    }
    if median is None or peers < pol.min_price_peers:
        return _few_peers(x, peers, pol.min_price_peers, "priced peers", "no price comparison made", nums)
    if median == 0:
        return _not_judged(INSUFFICIENT, "category median price is 0: no price comparison made", nums)
    ratio = p.price_micros / median
    nums["ratio"] = ratio
    text = (
        f"price {format_amount(p.price_micros)} is {ratio:.2f} × category median "
        f"{format_amount(median)} over {peers} priced peers, limit {limit:.2f}"
    )
    # exact rational comparison: a price of exactly the limit passes
    return _against_limit(Fraction(p.price_micros, median) > Fraction(limit), "price_above_limit", text, nums)


def _rating(x: RuleInput) -> Verdict:
    p, pol = x.product, x.policy
    if p.rating is None or p.review_count == 0:
        return _not_judged(MISSING, "no rating yet: not judged")
    nums: dict[str, Number] = {
        "rating": p.rating,
        "review_count": p.review_count,
        "min_rating": pol.min_rating,
        "min_reviews": pol.min_reviews_for_rating,
    }
    if p.review_count < pol.min_reviews_for_rating:
        return _not_judged(
            INSUFFICIENT,
            f"rating {p.rating:.2f} over {p.review_count} reviews; "
            f"judged from {pol.min_reviews_for_rating} reviews",
            nums,
        )
    text = f"rating {p.rating:.2f} over {p.review_count} reviews, minimum {pol.min_rating:.2f}"
    return _against_limit(p.rating < pol.min_rating, "rating_below_minimum", text, nums)


def _return_rate(x: RuleInput) -> Verdict:
    p, pol = x.product, x.policy
    if p.return_rate is None:
        return _not_judged(MISSING, "return rate unknown: not judged")
    nums: dict[str, Number] = {
        "return_rate": p.return_rate,
        "max_return_rate": pol.max_return_rate,
        "sales_30d": p.sales_30d,
        "min_orders": pol.min_orders_for_return_rate,
    }
    if p.sales_30d is not None and p.sales_30d < pol.min_orders_for_return_rate:
        return _not_judged(
            INSUFFICIENT,
            f"return rate {p.return_rate:.1%} over {p.sales_30d} orders; "
            f"judged from {pol.min_orders_for_return_rate} orders",
            nums,
        )
    text = f"return rate {p.return_rate:.1%}, limit {pol.max_return_rate:.1%}"
    return _against_limit(p.return_rate > pol.max_return_rate, "return_rate_above_limit", text, nums)


def _popularity(x: RuleInput) -> Verdict:
    p, pol = x.product, x.policy
    if p.sales_30d is None:
        return _not_judged(MISSING, "30-day sales unknown: not judged")
    key, peers = _in_category(x, x.stats.sales_peers)
    q = pol.popularity_quantile
    floor = x.stats.sales_quantiles.get(key, {}).get(q)
    nums: dict[str, Number] = {
        "sales_30d": p.sales_30d,
        "category_floor": floor,
        "quantile": q,
        "sales_peers": peers,
        "min_peers": pol.min_popularity_peers,
    }
    if floor is None or peers < pol.min_popularity_peers:
        return _few_peers(x, peers, pol.min_popularity_peers, "peers with known sales", "not judged", nums)
    text = f"30-day sales {p.sales_30d}, category p{q * 100:g} {floor} over {peers} peers"
    return _against_limit(p.sales_30d < floor, "sales_below_category_floor", text, nums)


def _shop_score_floor(x: RuleInput) -> Verdict:
    score, floor = x.shop_score, x.policy.shop_score_floor
    if score is None:
        return _not_judged(MISSING, "shop score unknown: not judged")
    if not (math.isfinite(score) and 0.0 <= score <= 100.0):
        raise ValidationError(f"shop score must lie in [0, 100], got {score!r}")
    nums: dict[str, Number] = {"shop_score": score, "floor": floor}
    text = f"shop score {score:.1f}, floor {floor:.1f}"
    return _against_limit(score < floor, "shop_score_below_floor", text, nums)


DEFAULT_RULES: tuple[Rule, ...] = (
    Rule("banned_category", 1, _banned_category),
    Rule("stock", 1, _stock),
    Rule("price_competitiveness", 1, _price_competitiveness),
    Rule("rating", 1, _rating),
    Rule("return_rate", 1, _return_rate),
    Rule("popularity", 1, _popularity),
    Rule("shop_score_floor", 1, _shop_score_floor),
)
