"""Shop experience score: logistics, service, reviews and returns on one 0–100 scale.

The formula, in full (every constant is a :class:`ShopScoreConfig` field):

1. **Shrink noisy rates toward a prior.** A rate measured over few events says little, so the value used is
   a Bayesian (beta–binomial) posterior mean::

       used = (n · observed + k · prior) / (n + k)

   - the review rating with ``n = review_count`` and ``k = rating_prior_weight`` (10 reviews) toward
     ``rating_prior`` (4.20);
   - on-time share, dispute rate and return rate with ``n = order_count`` and ``k = order_prior_weight``
     (30 orders) toward ``on_time_prior``, ``dispute_prior`` and ``return_prior``. When ``order_count`` is
     unknown the observed rate is used as is (the factor's note says so).

   Averages of durations (delivery days, response hours) are not shrunk: they are operational figures that a
   shop reports over its whole window.

2. **Map each factor to a sub-score on 0–100**, linearly between a *worst* anchor (0) and a *best* anchor
   (100), clipped outside::

       sub = 100 · clip((used − worst) / (best − worst), 0, 1)

   (for "lower is better" factors best < worst, and the same formula holds).

3. **Weighted mean over the factors that are present**::

       score = Σ wᵢ · subᵢ / Σ_{present} wᵢ

   A factor whose metric is missing (``None``) is left out and its weight is spread over the others
   (``FactorScore.weight`` is the effective, renormalised weight and ``contribution = weight · sub_score``, so
   the contributions add up to the score). The rating factor is never missing: a shop with no reviews gets the
   prior. So a shop with no data at all scores the prior rating's sub-score, 80.

4. **Effect on delivery** (:func:`delivery_multiplier`): the auction score of the shop's products is multiplied
   by a factor that is piecewise linear in the score — ``min_multiplier`` (0.8) at or below ``floor_score``
   (40), 1.0 at ``neutral_score`` (80), ``max_multiplier`` (1.2) at 100 — hence bounded and non-decreasing.

Where the defaults come from
----------------------------
- ``rating_prior = 4.20``: the mean of the 23,486 ratings in the Women's E-Commerce Clothing Reviews data
  (shared/data/womens_ecommerce_clothing_reviews, mean 4.196).
- ``rating_prior_weight = 10``: empirical Bayes on the same data — within-product rating variance σ² = 1.19,
  between-product variance of true means τ² = 0.119 (products with ≥ 5 reviews), k = σ²/τ² = 10.0.
- Rating anchors 1 → 0 and 5 → 100: the rating scale itself (so the prior 4.20 maps to 80).
- Everything else is a documented assumption (shared/data has no shop-level logistics, service, dispute or
  return data): on-time 0.80 → 0, 1.00 → 100 (prior 0.92); delivery 10 days → 0, 2 days → 100; first
  response 48 h → 0, 2 h → 100; dispute rate 5 % → 0, 0 → 100 (prior 1 %); return rate 40 % → 0, 0 → 100
  (prior 10 %, apparel-heavy catalogues return far more than electronics); weights reviews 0.30, on-time
  0.20, disputes 0.15, returns 0.15, delivery days 0.10, response 0.10; order prior weight 30 orders.
  A "typical" shop (on-time 0.95, 3 days, 4 h, 0.5 % disputes, rating 4.2, 10 % returns) scores ≈ 82, which
  is why ``neutral_score`` is 80; a clearly poor one (on-time 0.80, 8 days, 24 h, 3 % disputes, rating 3.5,
  25 % returns) scores ≈ 38, below ``floor_score``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from sitewide.domain.types import FloatArray, ValidationError, check_int, optional_float, optional_int

__all__ = [
    "FactorScore",
    "ShopMetrics",
    "ShopScore",
    "ShopScoreConfig",
    "compute_shop_score",
    "delivery_multiplier",
    "delivery_multipliers",
]


@dataclass(frozen=True, slots=True)
class ShopMetrics:
    """A shop's factor metrics over a measurement window. ``None`` (or NaN) means missing.

    on_time_share: orders delivered by the promised date ÷ orders, 0–1.
    delivery_days: mean days from order to delivery.
    response_hours: mean hours to the first reply to a buyer message.
    dispute_rate: orders with a dispute (complaint escalated to the platform) ÷ orders, 0–1.
    avg_rating: mean review rating, 0–5; review_count: number of reviews behind it.
    return_rate: returned orders ÷ orders, 0–1.
    order_count: orders in the window; the volume behind the rates (``None`` = unknown, rates not shrunk).
    """

    shop_id: str
    on_time_share: float | None = None
    delivery_days: float | None = None
    response_hours: float | None = None
    dispute_rate: float | None = None
    avg_rating: float | None = None
    review_count: int = 0
    return_rate: float | None = None
    order_count: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.shop_id, str) or not self.shop_id:
            raise ValidationError("shop_id must be a non-empty string")
        inf = math.inf
        for name, lo, hi in (
            ("on_time_share", 0.0, 1.0),
            ("delivery_days", 0.0, inf),
            ("response_hours", 0.0, inf),
            ("dispute_rate", 0.0, 1.0),
            ("avg_rating", 0.0, 5.0),
            ("return_rate", 0.0, 1.0),
        ):
            object.__setattr__(self, name, optional_float(name, getattr(self, name), lo, hi))
        object.__setattr__(self, "review_count", check_int("review_count", self.review_count))  # 0: none
        object.__setattr__(self, "order_count", optional_int("order_count", self.order_count))


@dataclass(frozen=True, slots=True)
class ShopScoreConfig:
    """Anchors, priors, weights and delivery bounds. See the module docstring for where each comes from."""

    version: str = "shop-score-v1"
    # weights (need not sum to 1: they are renormalised over the factors present)
    w_on_time: float = 0.20
    w_delivery_days: float = 0.10
    w_response: float = 0.10
    w_disputes: float = 0.15
    w_rating: float = 0.30
    w_returns: float = 0.15
    # anchors: (worst → 0, best → 100)
    on_time_worst: float = 0.80
    on_time_best: float = 1.00
    delivery_days_worst: float = 10.0
    delivery_days_best: float = 2.0
    response_hours_worst: float = 48.0
    response_hours_best: float = 2.0
    dispute_worst: float = 0.05
    dispute_best: float = 0.0
    rating_worst: float = 1.0
    rating_best: float = 5.0
    return_worst: float = 0.40
    return_best: float = 0.0
    # priors for shrinkage
    rating_prior: float = 4.20
    rating_prior_weight: float = 10.0
    on_time_prior: float = 0.92
    dispute_prior: float = 0.01
    return_prior: float = 0.10
    order_prior_weight: float = 30.0
    # delivery multiplier
    floor_score: float = 40.0
    neutral_score: float = 80.0
    min_multiplier: float = 0.8
    max_multiplier: float = 1.2

    def __post_init__(self) -> None:
        if not self.version:
            raise ValidationError("config version must be non-empty")
        for name in (
            "w_on_time",
            "w_delivery_days",
            "w_response",
            "w_disputes",
            "w_rating",
            "w_returns",
            "rating_prior_weight",
            "order_prior_weight",
        ):
            v = getattr(self, name)
            if not math.isfinite(v) or v < 0:
                raise ValidationError(f"{name} must be finite and ≥ 0, got {v!r}")
        if self.w_rating <= 0:
            raise ValidationError("w_rating must be > 0 (the rating factor is the one that is never missing)")
        for worst, best in (
            ("on_time_worst", "on_time_best"),
            ("delivery_days_worst", "delivery_days_best"),
            ("response_hours_worst", "response_hours_best"),
            ("dispute_worst", "dispute_best"),
            ("rating_worst", "rating_best"),
            ("return_worst", "return_best"),
        ):
            a, b = getattr(self, worst), getattr(self, best)
            if not (math.isfinite(a) and math.isfinite(b)) or a == b:
                raise ValidationError(f"{worst} and {best} must be finite and different, got {a!r}, {b!r}")
        if not 0.0 <= self.rating_prior <= 5.0:
            raise ValidationError(f"rating_prior must lie in [0, 5], got {self.rating_prior!r}")
        for name in ("on_time_prior", "dispute_prior", "return_prior"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValidationError(f"{name} must lie in [0, 1], got {v!r}")
        if not 0.0 <= self.floor_score < self.neutral_score < 100.0:
            raise ValidationError(
                f"need 0 ≤ floor_score < neutral_score < 100, got {self.floor_score!r}, {self.neutral_score!r}"
            )
        if not 0.0 < self.min_multiplier <= 1.0 <= self.max_multiplier or not math.isfinite(
            self.max_multiplier
        ):
            raise ValidationError(
                f"need 0 < min_multiplier ≤ 1 ≤ max_multiplier, got {self.min_multiplier!r}, {self.max_multiplier!r}"
            )


@dataclass(frozen=True, slots=True)
class FactorScore:
    """One factor's part of the score.

    raw: the metric as reported (``None`` = missing); used: the value after shrinkage (``None`` = missing);
    sub_score: 0–100; weight: effective weight after renormalising over present factors (0 when missing);
    contribution: ``weight × sub_score`` (the contributions sum to the score); note: how it was computed.
    """

    name: str
    raw: float | None
    used: float | None
    sub_score: float
    weight: float
    contribution: float
    note: str


@dataclass(frozen=True, slots=True)
class ShopScore:
    shop_id: str
    score: float
    factors: tuple[FactorScore, ...]
    config_version: str
    multiplier: float = field(default=1.0)

    def factor(self, name: str) -> FactorScore:
        for f in self.factors:
            if f.name == name:
                return f
        raise KeyError(name)


def _sub_score(used: float, worst: float, best: float) -> float:
    t = (used - worst) / (best - worst)
    return 100.0 * min(1.0, max(0.0, t))


def _shrink(observed: float, n: int, prior: float, k: float) -> float:
    if n + k == 0:
        return observed
    return (n * observed + k * prior) / (n + k)


def compute_shop_score(metrics: ShopMetrics, config: ShopScoreConfig | None = None) -> ShopScore:
    """Experience score on 0–100 with a per-factor breakdown and the resulting delivery multiplier."""
    cfg = config if config is not None else ShopScoreConfig()
    n_orders = metrics.order_count

    # (name, raw, used, worst, best, weight, note)
    rows: list[tuple[str, float | None, float | None, float, float, float, str]] = []

    def rate(
        name: str, raw: float | None, prior: float, worst: float, best: float, w: float, unit: str
    ) -> None:
        if raw is None:
            rows.append(
                (name, None, None, worst, best, w, f"{unit} missing: weight spread over the other factors")
            )
        elif n_orders is None:
            rows.append(
                (name, raw, raw, worst, best, w, f"{unit} {raw:.3f}, order count unknown: not shrunk")
            )
        else:
            used = _shrink(raw, n_orders, prior, cfg.order_prior_weight)
            rows.append(
                (
                    name,
                    raw,
                    used,
                    worst,
                    best,
                    w,
                    f"{unit} {raw:.3f} over {n_orders} orders, shrunk to {used:.3f} "
                    f"(prior {prior:.3f}, weight {cfg.order_prior_weight:g} orders)",
                )
            )

    def level(name: str, raw: float | None, worst: float, best: float, w: float, unit: str) -> None:
        if raw is None:
            rows.append(
                (name, None, None, worst, best, w, f"{unit} missing: weight spread over the other factors")
            )
        else:
            rows.append((name, raw, raw, worst, best, w, f"{unit} {raw:.2f}"))

    rate(
        "logistics.on_time",
        metrics.on_time_share,
        cfg.on_time_prior,
        cfg.on_time_worst,
        cfg.on_time_best,
        cfg.w_on_time,
        "on-time share",
    )
    level(
        "logistics.delivery_days",
        metrics.delivery_days,
        cfg.delivery_days_worst,
        cfg.delivery_days_best,
        cfg.w_delivery_days,
        "delivery days",
    )
    level(
        "service.response_hours",
        metrics.response_hours,
        cfg.response_hours_worst,
        cfg.response_hours_best,
        cfg.w_response,
        "first response hours",
    )
    rate(
        "service.disputes",
        metrics.dispute_rate,
        cfg.dispute_prior,
        cfg.dispute_worst,
        cfg.dispute_best,
        cfg.w_disputes,
        "dispute rate",
    )
    # reviews: never missing; no reviews means the prior
    if metrics.avg_rating is None or metrics.review_count == 0:
        rows.append(
            (
                "reviews.rating",
                metrics.avg_rating,
                cfg.rating_prior,
                cfg.rating_worst,
                cfg.rating_best,
                cfg.w_rating,
                f"no reviews: prior rating {cfg.rating_prior:.2f}",
            )
        )
    else:
        shrunk = _shrink(metrics.avg_rating, metrics.review_count, cfg.rating_prior, cfg.rating_prior_weight)
        rows.append(
            (
                "reviews.rating",
                metrics.avg_rating,
                shrunk,
                cfg.rating_worst,
                cfg.rating_best,
                cfg.w_rating,
                f"rating {metrics.avg_rating:.2f} over {metrics.review_count} reviews, shrunk to {shrunk:.2f} "
                f"(prior {cfg.rating_prior:.2f}, weight {cfg.rating_prior_weight:g} reviews)",
            )
        )
    rate(
        "returns.rate",
        metrics.return_rate,
        cfg.return_prior,
        cfg.return_worst,
        cfg.return_best,
        cfg.w_returns,
        "return rate",
    )

    total_w = sum(r[5] for r in rows if r[2] is not None)
    factors: list[FactorScore] = []
    score = 0.0
    for name, raw, used, worst, best, w, note in rows:
        if used is None:
            factors.append(FactorScore(name, raw, None, 0.0, 0.0, 0.0, note))
            continue
        sub = _sub_score(used, worst, best)
        eff = w / total_w
        factors.append(FactorScore(name, raw, used, sub, eff, eff * sub, note))
        score += eff * sub
    score = min(100.0, max(0.0, score))
    return ShopScore(
        shop_id=metrics.shop_id,
        score=score,
        factors=tuple(factors),
        config_version=cfg.version,
        multiplier=delivery_multiplier(score, cfg),
    )


def delivery_multipliers(
    scores: Sequence[float] | FloatArray, config: ShopScoreConfig | None = None
) -> FloatArray:
    """Vectorised :func:`delivery_multiplier`: ``[N]`` scores on 0–100 → ``[N]`` multipliers."""
    cfg = config if config is not None else ShopScoreConfig()
    s = np.asarray(scores, dtype=np.float64)
    if s.size and (not np.all(np.isfinite(s)) or s.min() < 0.0 or s.max() > 100.0):
        raise ValidationError("shop scores must be finite and lie in [0, 100]")
    xp = np.array([cfg.floor_score, cfg.neutral_score, 100.0])
    fp = np.array([cfg.min_multiplier, 1.0, cfg.max_multiplier])
    return np.asarray(np.interp(s, xp, fp), dtype=np.float64)


def delivery_multiplier(score: float, config: ShopScoreConfig | None = None) -> float:
    """Multiplier on the auction score: ``min_multiplier`` at or below ``floor_score``, 1 at ``neutral_score``,
    ``max_multiplier`` at 100, linear in between — bounded and non-decreasing in ``score``."""
    if isinstance(score, bool) or not isinstance(score, (int, float)):
        raise ValidationError(f"shop score must be a number, got {type(score).__name__}")
    return float(delivery_multipliers(np.array([float(score)]), config)[0])
