"""Eligibility pool: explicit, named, versioned rules that decide whether a product may be promoted.

Every rule returns a :class:`RuleResult` with a stable ``code``, a human ``message`` carrying the numbers that
decided it ("price 58.50 is 1.80 × category median 32.50 over 12 priced peers, limit 3.00") and the same
numbers in ``numbers``. A product is eligible when every rule passes. Rules never crash on missing data;
each decides, as documented below, whether missing data fails or passes with a note (code ``missing`` or
``insufficient_data``).

The seven rules (what each checks, and what missing data does) are in
:mod:`sitewide.domain.eligibility_rules`.

Where the defaults come from
----------------------------
- ``max_price_ratio = 3.0`` — measured on shared/data/walmart_amazon_matching (products_derived.csv, priced
  records in categories with ≥ 5 priced peers). The ratio to the category median is wide because categories
  mix accessories with devices: ratio > 1.5 holds out 27 % of Amazon records (140 browse categories) and 35 %
  of Walmart ones (31 departments) — a majority-sized cut driven by assortment, not overpricing. ratio > 3.0
  holds out 10 % (Amazon) and 19 % (Walmart, coarser categories). For the same product matched across the two
  shops the price ratio exceeds 1.5 in 25 % of 832 pairs and 3.0 in 3.4 %.
- ``min_rating = 3.5`` over ``min_reviews_for_rating = 5`` — measured on the Women's E-Commerce Clothing
  Reviews (1,206 products): of the 373 products with ≥ 5 reviews, 6.7 % average below 3.5 (p5 = 3.38).
- ``max_return_rate = 0.30``, ``min_orders_for_return_rate = 10`` — assumption: shared/data has no return
  data; 30 % sits above typical online apparel return rates so that only outliers are held out.
- ``popularity_quantile = 0.05``, ``min_popularity_peers = 20`` — assumption (bottom 5 % by 30-day sales in
  a category with enough peers); no sales-by-product data in shared/data.
- ``min_stock = 1`` — the product can be shipped.
- ``shop_score_floor = 40`` — assumption tied to ``ShopScoreConfig.floor_score``: a shop with half its orders
  late, 8-day deliveries, 3 % disputes, rating 3.5 and 25 % returns scores ≈ 38; a typical one ≈ 82.
- ``min_price_peers = 5`` — the smallest group whose median is not set by one or two listings.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from sitewide.domain.eligibility_rules import DEFAULT_RULES, Rule, RuleResult, category_key
from sitewide.domain.types import BoolArray, ValidationError, check_int, optional_float, optional_int

__all__ = [
    "POPULARITY_LEVELS",
    "CategoryStats",
    "EligibilityDecision",
    "EligibilityPolicy",
    "PoolChange",
    "ProductSignals",
    "bare_eligible",
    "category_stats_of_columns",
    "compute_category_stats",
    "evaluate",
    "evaluate_many",
]

#: quantiles of 30-day sales kept per category; ``EligibilityPolicy.popularity_quantile`` must be one of them
POPULARITY_LEVELS: tuple[float, ...] = (0.05, 0.10, 0.25, 0.50)

# --------------------------------------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class ProductSignals:
    """What the rules look at for one product. ``None`` (or NaN for floats) means missing.

    price_micros: integer micros ≥ 0; rating: mean review rating 0–5 over ``review_count`` reviews;
    return_rate: returned ÷ sold, 0–1; sales_30d: orders in the last 30 days; stock: units on hand
    (negative = oversold).
    """

    product_id: str
    category: str
    shop_id: str
    price_micros: int | None = None
    rating: float | None = None
    review_count: int = 0
    return_rate: float | None = None
    sales_30d: int | None = None
    stock: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.product_id, str) or not self.product_id:
            raise ValidationError("product_id must be a non-empty string")
        if not isinstance(self.category, str):
            raise ValidationError(f"category must be a string ('' = missing), got {self.category!r}")
        if not isinstance(self.shop_id, str):
            raise ValidationError(f"shop_id must be a string, got {self.shop_id!r}")
        object.__setattr__(self, "price_micros", optional_int("price_micros", self.price_micros, minimum=0))
        object.__setattr__(self, "rating", optional_float("rating", self.rating, 0.0, 5.0))
        object.__setattr__(self, "review_count", check_int("review_count", self.review_count))  # 0: none
        object.__setattr__(self, "return_rate", optional_float("return_rate", self.return_rate, 0.0, 1.0))
        object.__setattr__(self, "sales_30d", optional_int("sales_30d", self.sales_30d, minimum=0))
        object.__setattr__(self, "stock", optional_int("stock", self.stock, minimum=None))


@dataclass(frozen=True, slots=True)
class EligibilityPolicy:
    """The pool's limits, versioned as a whole. Defaults and their provenance: see the module docstring."""

    version: str = "pool-v1"
    max_price_ratio: float = 3.0
    min_price_peers: int = 5
    min_rating: float = 3.5
    min_reviews_for_rating: int = 5
    max_return_rate: float = 0.30
    min_orders_for_return_rate: int = 10
    popularity_quantile: float = 0.05
    min_popularity_peers: int = 20
    min_stock: int = 1
    banned_categories: frozenset[str] = field(default_factory=frozenset)
    shop_score_floor: float = 40.0

    def __post_init__(self) -> None:
        if not isinstance(self.version, str) or not self.version:
            raise ValidationError("policy version must be a non-empty string")
        if not (math.isfinite(self.max_price_ratio) and self.max_price_ratio > 0):
            raise ValidationError(f"max_price_ratio must be > 0, got {self.max_price_ratio!r}")
        if not 0.0 <= self.min_rating <= 5.0:
            raise ValidationError(f"min_rating must lie in [0, 5], got {self.min_rating!r}")
        if not 0.0 <= self.max_return_rate <= 1.0:
            raise ValidationError(f"max_return_rate must lie in [0, 1], got {self.max_return_rate!r}")
        if self.popularity_quantile not in POPULARITY_LEVELS:
            raise ValidationError(f"popularity_quantile must be one of {POPULARITY_LEVELS}")
        if not 0.0 <= self.shop_score_floor <= 100.0:
            raise ValidationError(f"shop_score_floor must lie in [0, 100], got {self.shop_score_floor!r}")
        for name in ("min_price_peers", "min_reviews_for_rating", "min_popularity_peers"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValidationError(f"{name} must be an integer ≥ 1, got {v!r}")
        for name in ("min_orders_for_return_rate", "min_stock"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValidationError(f"{name} must be an integer ≥ 0, got {v!r}")
        if isinstance(self.banned_categories, str):
            raise ValidationError("banned_categories must be a collection of category names, not one string")
        object.__setattr__(
            self, "banned_categories", frozenset(category_key(c) for c in self.banned_categories)
        )


# --------------------------------------------------------------------------------------------- stats


@dataclass(frozen=True, slots=True)
class CategoryStats:
    """Per-category peer figures, keyed by :func:`category_key`.

    median_price_micros / price_peers: median and count over products with a known price;
    sales_quantiles[cat][q] / sales_peers: 30-day sales quantiles (``method="lower"``, an observed value) for
    each q in :data:`POPULARITY_LEVELS`, over products with known sales.
    """

    median_price_micros: Mapping[str, int]
    price_peers: Mapping[str, int]
    sales_quantiles: Mapping[str, Mapping[float, int]]
    sales_peers: Mapping[str, int]


def compute_category_stats(products: Iterable[ProductSignals]) -> CategoryStats:
    """Median price, peer counts and popularity quantiles per category (pure; products without a category
    are left out). The median of an even count is the mean of the middle two, rounded down to whole micros."""
    keys: dict[str, int] = {}
    code, price, sales = [], [], []
    for p in products:
        code.append(keys.setdefault(category_key(p.category), len(keys)))
        price.append(-1 if p.price_micros is None else p.price_micros)
        sales.append(-1 if p.sales_30d is None else p.sales_30d)
    return category_stats_of_columns(
        list(keys), np.asarray(code, dtype=np.int64), np.asarray(price, dtype=np.int64), np.asarray(sales)
    )


def category_stats_of_columns(
    keys: Sequence[str], code: np.ndarray, price: np.ndarray, sales: np.ndarray
) -> CategoryStats:
    """:func:`compute_category_stats` over columns, vectorised: per product the index into ``keys`` of its
    category key, its price in micros and its 30-day sales (``-1`` = missing, as ``None`` there)."""
    code = np.asarray(code, dtype=np.int64)
    medians: dict[str, int] = {}
    peers: dict[str, int] = {}
    has = (price >= 0) & (code >= 0)
    order = np.lexsort((price[has], code[has]))
    c, v = code[has][order], np.asarray(price, dtype=np.int64)[has][order]
    groups, first, count = np.unique(c, return_index=True, return_counts=True)
    mid = first + count // 2
    med = np.where(count % 2 == 1, v[mid], (v[np.maximum(mid - 1, first)] + v[mid]) // 2)
    for g, m, k in zip(groups.tolist(), med.tolist(), count.tolist(), strict=True):
        if keys[g]:
            medians[keys[g]], peers[keys[g]] = int(m), int(k)
    quantiles: dict[str, dict[float, int]] = {}
    sales_peers: dict[str, int] = {}
    known = (np.asarray(sales) >= 0) & (code >= 0)
    for g in np.unique(code[known]).tolist():
        if not keys[g]:
            continue
        arr = np.asarray(sales, dtype=np.int64)[known & (code == g)]
        qs = np.quantile(arr, POPULARITY_LEVELS, method="lower")
        quantiles[keys[g]] = {q: int(x) for q, x in zip(POPULARITY_LEVELS, qs, strict=True)}
        sales_peers[keys[g]] = len(arr)
    return CategoryStats(medians, peers, quantiles, sales_peers)


# --------------------------------------------------------------------------------------------- decisions


@dataclass(frozen=True, slots=True)
class EligibilityDecision:
    """The verdict for one product: every rule's result (passing ones too, so merchants see all numbers)."""

    product_id: str
    eligible: bool
    reasons: tuple[RuleResult, ...]
    policy_version: str

    @property
    def failures(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.reasons if not r.passed)

    @property
    def rules_version(self) -> str:
        """e.g. ``"banned_category@1,stock@1,…"`` — which rule logic decided, next to ``policy_version``."""
        return ",".join(f"{r.rule}@{r.version}" for r in self.reasons)


@dataclass(frozen=True, slots=True)
class PoolChange:
    """A product left the pool (``eligible`` False: ``failures`` are the rules it failed) or came back into it
    (``eligible`` True), at ``ts_ms``, when the pool was recomputed under ``policy_version``."""

    ts_ms: int
    product_id: str
    eligible: bool
    policy_version: str
    failures: tuple[RuleResult, ...] = ()


def evaluate(
    product: ProductSignals,
    shop_score: float | None,
    stats: CategoryStats,
    policy: EligibilityPolicy | None = None,
    rules: Sequence[Rule] = DEFAULT_RULES,
) -> EligibilityDecision:
    """Run every rule on one product; eligible iff all pass."""
    pol = policy if policy is not None else EligibilityPolicy()
    if shop_score is not None:
        if isinstance(shop_score, bool) or not isinstance(shop_score, (int, float)):
            raise ValidationError(f"shop score must be a number or None, got {shop_score!r}")
        if math.isnan(shop_score):
            shop_score = None
    results = tuple(rule.check(product, shop_score, stats, pol) for rule in rules)
    return EligibilityDecision(
        product_id=product.product_id,
        eligible=all(r.passed for r in results),
        reasons=results,
        policy_version=pol.version,
    )


def evaluate_many(
    products: Sequence[ProductSignals],
    shop_scores: Mapping[str, float],
    stats: CategoryStats,
    policy: EligibilityPolicy | None = None,
    rules: Sequence[Rule] = DEFAULT_RULES,
) -> tuple[BoolArray, tuple[EligibilityDecision, ...]]:
    """Evaluate a catalogue: ``(mask [N] bool, decisions [N])`` in the order of ``products``.

    ``shop_scores`` maps shop_id → score on 0–100; a shop not in it counts as an unknown score. The mask is
    what the engine passes to ``VectorIndex.search(allowed=...)`` after mapping products to index ids.
    Cost: about 50 µs per product with the 7 default rules on one core (20,000 products ≈ 1 s; a Python loop
    so that rules stay readable) — compute it when the catalogue or the shop scores change, not per request.
    """
    pol = policy if policy is not None else EligibilityPolicy()
    decisions = tuple(evaluate(p, shop_scores.get(p.shop_id), stats, pol, rules) for p in products)
    mask = np.fromiter((d.eligible for d in decisions), dtype=np.bool_, count=len(decisions))
    return mask, decisions


def bare_eligible(
    keys: Sequence[str],
    code: np.ndarray,
    price: np.ndarray,
    shop_score: np.ndarray,
    stats: CategoryStats,
    policy: EligibilityPolicy | None = None,
) -> BoolArray:
    """The mask :func:`evaluate_many` (default rules) gives products whose signals are only their category, shop
    and price (``ProductSignals(id, category, shop_id, price_micros)``), vectorised for a catalogue of
    millions: ``keys[code[i]]`` is product ``i``'s category key, ``price`` its price in micros and
    ``shop_score`` its shop's score (NaN = unknown). Only three rules can fail such a product: the banned
    category (or none), the price limit against the category median (the same exact rational comparison) and
    the shop score floor; stock, rating, return rate and popularity are missing and pass."""
    pol = policy if policy is not None else EligibilityPolicy()
    score = np.asarray(shop_score, dtype=np.float64)
    known = ~np.isnan(score)
    if known.any() and not (
        np.isfinite(score[known]).all() and (score[known] >= 0).all() and (score[known] <= 100).all()
    ):
        raise ValidationError("shop score must lie in [0, 100]")
    num, den = Fraction(pol.max_price_ratio).as_integer_ratio()
    big = np.iinfo(np.int64).max
    ok_cat = np.array([bool(k) and k not in pol.banned_categories for k in keys] + [False], dtype=bool)
    # the highest price that passes (price / median ≤ limit ⇔ price ≤ ⌊median · limit⌋), or no limit
    limit = []
    for k in keys:
        med, peers = stats.median_price_micros.get(k), stats.price_peers.get(k, 0)
        judged = med is not None and peers >= pol.min_price_peers and med != 0
        limit.append(min(big, med * num // den) if judged and med is not None else big)
    ceiling = np.asarray([*limit, big], dtype=np.int64)
    c = np.where(np.asarray(code) >= 0, code, len(keys))
    return (
        ok_cat[c]
        & (np.asarray(price, dtype=np.int64) <= ceiling[c])
        & ~(known & (score < pol.shop_score_floor))
    )
