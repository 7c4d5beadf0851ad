"""What a campaign draft will buy: spend → GMV and spend → orders with an 80 % band (pure math).

The engine (``sitewide.engine.forecast``) replays recent requests through its own auction with the draft's
bids scaled by a grid of multipliers ``m`` (the counterfactual bid landscape of the draft's products) and hands
this module one :class:`CurvePoint` per ``m``: the day's expected spend, GMV and orders at that bid level.

* **Operating point** (:func:`operating_point`): the ROI bidder raises its bids while the day's average ROI
  stays at or above the target and the budget lasts: the point on the curve (piecewise linear in spend) with the
  most spend such that GMV ÷ spend ≥ target and spend ≤ budget.
* **Calibration** (:func:`fit_calibration`): past campaign-days pair a forecast with what settled. The level
  factor ``k`` = settled ÷ forecast GMV is taken from the shop's own days where it has some, shrunk toward its
  category's factor (and the category toward the market's) with a prior worth ``prior_days`` days; a shop with no
  history gets its category's. The spread: observed GMV is modelled as ``AOV × Poisson(k · λ · e^{σ z})``
  (order count noise plus a log-normal day and model error ``σ``); ``σ`` is the smallest value whose band
  covers the share ``level`` of the past days, each judged with ``k`` fitted *without* that day (leave one out,
  so that the band is not fitted to its own noise). With ``per_category`` (off by default) the same search on a
  category's own days gives ``σ_c``, shrunk toward the market's: ``(n_c σ_c + n₀ σ) / (n_c + n₀)`` with
  ``n₀ = sigma_prior_days`` (20). Off because out of sample it did not help: on six simulated markets
  (bench/forecast.py's quick market, seeds 0–5, 1,500 held-out campaign-days) coverage was 0.861 with it and
  0.859 without, the per-category gap |coverage − 0.8| 0.071 and 0.070.
* **Band** (:func:`band`): the ``(1 − level)/2`` and ``(1 + level)/2`` quantiles of that model, by a fixed-seed
  Monte Carlo (deterministic).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from sitewide.domain.types import ValidationError, check_int, check_roi

__all__ = [
    "Band",
    "CampaignDraft",
    "CampaignForecast",
    "CurvePoint",
    "ForecastCalibration",
    "ForecastPair",
    "band",
    "fit_calibration",
    "operating_point",
]

DEFAULT_SIGMA = 0.5  # assumption until history calibrates it: a day within ×/÷ 1.65 of the forecast (±1 sd)
DRAWS = 4_000
SIGMA_PRIOR_DAYS = 20.0  # the market's σ counts as this many of a category's own days (shrinkage)


@dataclass(frozen=True, slots=True)
class CampaignDraft:
    """A campaign being created or edited: its products, target ROI and daily budget (micros). ``campaign_id``
    names the campaign being edited (its current bids make way for the draft's), ``shop_id`` the shop whose
    history calibrates the forecast (default: the products' shop)."""

    product_ids: tuple[str, ...]
    target_roi: float
    daily_budget_micros: int
    campaign_id: str | None = None
    shop_id: str | None = None

    def __post_init__(self) -> None:
        if not self.product_ids:
            raise ValidationError("a forecast needs at least one product")
        check_roi("target_roi", self.target_roi)
        check_int("daily_budget_micros", self.daily_budget_micros, minimum=1)


@dataclass(frozen=True, slots=True)
class Band:
    """The band of a day at the calibration's level: GMV (micros) and orders, low and high quantiles."""

    gmv_low: float
    gmv_high: float
    orders_low: float
    orders_high: float


NO_BAND = Band(0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True, slots=True)
class CurvePoint:
    """The day at one bid level: expected spend and GMV (micros, as floats: expectations) and orders; with the
    band once calibrated."""

    multiplier: float
    spend: float
    gmv: float
    orders: float
    band: Band = NO_BAND


@dataclass(frozen=True, slots=True)
class ForecastPair:
    """A past campaign-day: what was forecast (uncalibrated GMV and orders) and what settled."""

    shop_id: str
    category: str
    forecast_gmv: float
    forecast_orders: float
    observed_gmv: float


@dataclass(frozen=True)
class ForecastCalibration:
    market: float = 1.0
    categories: dict[str, float] = field(default_factory=dict)
    shops: dict[str, float] = field(default_factory=dict)
    sigma: float = DEFAULT_SIGMA
    level: float = 0.8
    pairs: int = 0
    in_sample_coverage: float | None = None
    category_sigma: dict[str, float] = field(default_factory=dict)  # shrunk toward ``sigma``

    def sigma_for(self, category: str | None) -> float:
        """The band's spread for a category: its own (shrunk toward the market's), else the market's."""
        return self.category_sigma.get(category, self.sigma) if category is not None else self.sigma

    def factor(self, shop_id: str | None, category: str | None) -> tuple[float, str]:
        """(level factor, basis): the shop's when it has history, else its category's, else the market's."""
        if shop_id is not None and shop_id in self.shops:
            return self.shops[shop_id], "shop"
        if category is not None and category in self.categories:
            return self.categories[category], "category"
        return self.market, "market" if self.pairs else "prior"


@dataclass(frozen=True)
class CampaignForecast:
    draft: CampaignDraft
    shop_id: str | None
    category: str | None
    basis: str  # whose history calibrated the level: "shop", "category", "market" or "prior"
    factor: float
    sigma: float
    level: float
    daily_requests: float  # traffic the day is scaled to
    replayed_requests: int  # requests replayed through the auction
    traffic: str  # "logged" or "synthetic" (no logged traffic yet)
    expected: CurvePoint  # the operating point, calibrated, with its band
    raw: CurvePoint  # the operating point before calibration (what calibration pairs store)
    curve: tuple[CurvePoint, ...]


def operating_point(points: Sequence[CurvePoint], target_roi: float, budget: float) -> CurvePoint:
    """The most spend with average ROI ≥ ``target_roi`` and spend ≤ ``budget`` along the curve, read piecewise
    linearly in spend through the origin (a fine grid of 2,001 spends; points at equal spend keep the best)."""
    pts = sorted(points, key=lambda p: (p.spend, p.gmv))
    spend = np.array([0.0] + [p.spend for p in pts])
    if not len(pts) or spend[-1] <= 0 or budget <= 0:
        return CurvePoint(0.0, 0.0, 0.0, 0.0)
    gmv = np.maximum.accumulate(np.array([0.0] + [p.gmv for p in pts]))
    orders = np.maximum.accumulate(np.array([0.0] + [p.orders for p in pts]))
    mult = np.array([0.0] + [p.multiplier for p in pts])
    keep = np.r_[np.diff(spend) > 0, True]  # one point per distinct spend: the last (largest GMV)
    spend, gmv, orders, mult = spend[keep], gmv[keep], orders[keep], mult[keep]
    if spend[0] > 0:
        spend, gmv, orders, mult = (np.r_[0.0, x] for x in (spend, gmv, orders, mult))
    s = np.linspace(0.0, min(float(budget), float(spend[-1])), 2_001)
    g = np.interp(s, spend, gmv)
    ok = g >= target_roi * s - 1e-9
    i = int(np.flatnonzero(ok).max())
    return CurvePoint(
        float(np.interp(s[i], spend, mult)),
        float(s[i]),
        float(g[i]),
        float(np.interp(s[i], spend, orders)),
    )


def band(expected_orders: float, aov: float, sigma: float, level: float = 0.8) -> Band:
    """The ``level`` quantiles of GMV ``aov × Poisson(λ e^{σ z})`` and of the order count (the error is centred
    on the forecast in log terms, so a wider ``σ`` widens both sides)."""
    if expected_orders <= 0 or aov <= 0:
        return NO_BAND
    rng = np.random.default_rng(20_261_203)
    z = rng.standard_normal(DRAWS)
    lam = expected_orders * np.exp(sigma * z)
    n = rng.poisson(lam)
    q = np.quantile(n, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return Band(float(q[0] * aov), float(q[1] * aov), float(q[0]), float(q[1]))


def _ratio(obs: float, pred: float, parent: float, weight: float) -> float:
    """Shrunk ratio: (obs + weight · parent) / (pred + weight), weight in forecast GMV units."""
    return (obs + weight * parent) / (pred + weight) if pred + weight > 0 else parent


def fit_calibration(
    pairs: Sequence[ForecastPair],
    level: float = 0.8,
    prior_days: float = 2.0,
    sigma_prior_days: float = SIGMA_PRIOR_DAYS,
    per_category: bool = False,
) -> ForecastCalibration:
    """Level factors (market, category, shop, shrunk) and the band's ``σ`` (the market's, and with
    ``per_category`` each category's shrunk toward it) from past campaign-days."""
    if not 0.5 <= level < 1.0:
        raise ValidationError(f"level must lie in [0.5, 1), got {level}")
    ok = [p for p in pairs if p.forecast_gmv > 0 and p.forecast_orders > 0 and p.observed_gmv >= 0]
    if not ok:
        return ForecastCalibration(level=level)
    obs = np.array([p.observed_gmv for p in ok])
    pred = np.array([p.forecast_gmv for p in ok])
    w = prior_days * float(pred.mean())
    market = float(obs.sum() / pred.sum()) if pred.sum() > 0 else 1.0
    by_cat: dict[str, list[int]] = defaultdict(list)
    by_shop: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(ok):
        by_cat[p.category].append(i)
        by_shop[p.shop_id].append(i)
    cats = {c: _ratio(float(obs[ix].sum()), float(pred[ix].sum()), market, w) for c, ix in by_cat.items()}
    shop_cat = {p.shop_id: p.category for p in ok}
    shops = {
        s: _ratio(float(obs[ix].sum()), float(pred[ix].sum()), cats[shop_cat[s]], w)
        for s, ix in by_shop.items()
    }
    # leave-one-out level of each day: its shop's factor without it
    loo = np.empty(len(ok))
    for s, ix in by_shop.items():
        o, q = float(obs[ix].sum()), float(pred[ix].sum())
        for i in ix:
            loo[i] = _ratio(o - obs[i], q - pred[i], cats[shop_cat[s]], w)
    lam = np.array([p.forecast_orders for p in ok]) * loo
    aov = pred / np.array([p.forecast_orders for p in ok])

    def covered(i: int, sigma: float) -> bool:
        b = band(float(lam[i]), float(aov[i]), sigma, level)
        return bool(b.gmv_low - 1e-6 <= obs[i] <= b.gmv_high + 1e-6)

    def fit_sigma(ix: Sequence[int], aim: float) -> float:
        """The smallest σ (bisection on [0, 3]) whose bands cover ``aim`` of the days ``ix``."""

        def coverage(sigma: float) -> float:
            return float(np.mean([covered(i, sigma) for i in ix]))

        lo_s, hi_s = 0.0, 3.0
        if coverage(lo_s) >= aim:
            return lo_s
        for _ in range(18):
            mid = 0.5 * (lo_s + hi_s)
            if coverage(mid) >= aim:
                hi_s = mid
            else:
                lo_s = mid
        return hi_s

    everyone = range(len(ok))
    sigma = fit_sigma(everyone, level)
    # a category's few days cover in steps of 1/n: aiming half a step below ``level`` centres the smallest σ
    # that covers (aiming at ``level`` itself would round every small category's band up)
    cat_sigma = {
        c: (len(ix) * fit_sigma(ix, level - 0.5 / len(ix)) + sigma_prior_days * sigma)
        / (len(ix) + sigma_prior_days)
        for c, ix in sorted(by_cat.items())
        if per_category
    }
    hit = [covered(i, cat_sigma.get(ok[i].category, sigma)) for i in everyone]  # in sample, as served
    return ForecastCalibration(
        market=market,
        categories=cats,
        shops=shops,
        sigma=sigma,
        level=level,
        pairs=len(ok),
        in_sample_coverage=float(np.mean(hit)),
        category_sigma=cat_sigma,
    )
