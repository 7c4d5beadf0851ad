"""What a campaign draft will buy: spend → GMV and spend → orders with an 80 % band (pure math).

The engine (``sitewide.engine.forecast``) replays recent requests through its own auction with the draft's bids
× each multiplier ``m`` of a grid and hands over one :class:`CurvePoint` per ``m`` (spend, GMV, orders).

* **Operating point** (:func:`operating_point`): the point on the curve (piecewise linear in spend) with the most
  spend such that GMV ÷ spend ≥ target and spend ≤ budget, where the ROI bidder settles.
* **Calibration** (:func:`fit_calibration`): past campaign-days pair a forecast with what settled (GMV and
  orders), each weighted by recency (halved every ``HALF_LIFE_DAYS``: the engine keeps learning, and with it
  its raw forecasts).

  - *Level.* A size curve first: settled GMV ∝ forecast GMV ** ``slope`` (a Poisson regression, shrunk toward
    1): a forecast that came out big is big partly by its own error. Then the level factor settled ÷ curve from
    the shop's own days where it has some, shrunk toward its category's (and the category toward the market's)
    with a prior worth ``prior_days`` days; a shop with no history gets its category's.
  - *Value per order.* Settled GMV per settled order against the forecast's (``aov_factor``), and one order's
    value relative to it (quantiles of the days with exactly one order: prices and quantities differ).
  - *Out of sample.* Each past day's forecasts are calibrated again from the days before it alone, as they were
    served (rolling origin; without day indexes, leaving each campaign-day out). On those: each bin of forecast
    size (expected orders, ``SIZE_EDGES``) gets its level (settled ÷ expected, shrunk toward 1: a shop whose
    lucky days raised its factor shows here only), the share of days that sold nothing beyond what the count
    model gives (``size_off``: a campaign that stopped), and its ``σ``: the smallest whose bands cover the
    share ``level`` of the bin's days, shrunk toward the pooled ``σ`` with ``sigma_prior_days``.
* **Band** (:func:`band`): the ``level`` band of GMV ``AOV × Σ_{i ≤ N} v_i``, ``N ~ Poisson(λ e^{σ z})``
  (``v_i`` one order's relative value; none on a day off), by a fixed-seed Monte Carlo (deterministic). Where a
  day without orders is likelier than ``(1 − level)/2`` the band is one-sided, ``[0, level quantile]`` (a band
  cannot reach below 0, so a central one would hold ``(1 + level)/2`` of such days).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

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
SIGMA_PRIOR_DAYS = 5.0  # the pooled σ counts as this many (recency-weighted) days of a size bin's own
SLOPE_PRIOR_DAYS = 20.0  # slope 1 (proportional) counts as this many campaign-days against the fitted one
SIZE_EDGES = (0.5, 2.0, 8.0)  # expected orders: the band's σ is fitted per bin of forecast size
FIT_DRAWS = 600  # Monte Carlo draws per day while fitting σ (the served band uses DRAWS)
VALUE_QUANTILES = 64  # one order's value relative to the expected: kept as this many quantiles
MIN_SINGLE_ORDER_DAYS = 20  # settled days with exactly one order before that spread is used
MAX_LEAVE_ONE_OUT = 300  # campaign-days without day indexes: up to this many are judged leaving each out
MIN_FORWARD_PAIRS = 10  # campaign-days before a day, for its forecasts to be judged out of sample
HALF_LIFE_DAYS = 2.0


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
    observed_orders: int | None = None  # settled orders (None: not known; the value per order is then not fitted)
    day: int | None = None  # the day's index (days since the epoch): recent days weigh more (None: today)


@dataclass(frozen=True)
class ForecastCalibration:
    market: float = 1.0
    categories: dict[str, float] = field(default_factory=dict)
    shops: dict[str, float] = field(default_factory=dict)
    sigma: float = DEFAULT_SIGMA  # the pooled spread (every size)
    level: float = 0.8
    pairs: int = 0
    in_sample_coverage: float | None = None
    size_sigma: tuple[float, ...] = ()  # σ per bin of SIZE_EDGES (expected orders), shrunk toward ``sigma``
    size_level: tuple[float, ...] = ()  # level factor per bin of SIZE_EDGES (settled ÷ forecast, shrunk to 1)
    slope: float = 1.0  # the size curve: expected GMV ∝ forecast GMV ** slope (1: proportional)
    scale: float = 1.0  # the forecast GMV at which the curve is the forecast itself (their geometric mean)
    aov_factor: float = 1.0  # settled GMV per order ÷ the forecast's GMV per order
    order_values: tuple[float, ...] = ()  # one order's value ÷ the expected one (quantiles, mean 1); () = fixed
    off_share: float = 0.0  # share of days a campaign sells nothing beyond what its count model says (pooled)
    size_off: tuple[float, ...] = ()  # that share per bin of SIZE_EDGES, shrunk toward ``off_share``
    size_nominal: tuple[float, ...] = ()  # the model's quantile level per bin giving ``level`` (≤ ``level``)

    def sigma_for(self, expected_orders: float) -> float:
        """The band's spread for a day expecting ``expected_orders`` orders (before its size bin's level): its
        size bin's, else the pooled."""
        if not self.size_sigma:
            return self.sigma
        return self.size_sigma[int(np.searchsorted(SIZE_EDGES, expected_orders, side="right"))]

    def level_for(self, expected_orders: float) -> float:
        if not self.size_level:
            return 1.0
        return self.size_level[int(np.searchsorted(SIZE_EDGES, expected_orders, side="right"))]

    def nominal_for(self, expected_orders: float) -> float:
        if not self.size_nominal:
            return self.level
        return self.size_nominal[int(np.searchsorted(SIZE_EDGES, expected_orders, side="right"))]

    def off_for(self, expected_orders: float) -> float:
        if not self.size_off:
            return self.off_share
        return self.size_off[int(np.searchsorted(SIZE_EDGES, expected_orders, side="right"))]

    def factor(self, shop_id: str | None, category: str | None) -> tuple[float, str]:
        """(level factor, basis): the shop's when it has history, else its category's, else the market's."""
        if shop_id is not None and shop_id in self.shops:
            return self.shops[shop_id], "shop"
        if category is not None and category in self.categories:
            return self.categories[category], "category"
        return self.market, "market" if self.pairs else "prior"

    def curve(self, gmv: float) -> float:
        """The size curve at a forecast of ``gmv``: ``scale · (gmv / scale) ** slope``."""
        return self.scale * (gmv / self.scale) ** self.slope if gmv > 0 else 0.0

    def size_of(self, gmv: float, orders: float, shop_id: str | None, category: str | None) -> float:
        """Expected orders of an uncalibrated forecast (``gmv``, ``orders``) at the shop's level, before its
        size bin's level: the size that picks the bin."""
        if gmv <= 0 or orders <= 0:
            return 0.0
        return self.factor(shop_id, category)[0] * self.curve(gmv) / (gmv / orders * self.aov_factor)

    def calibrated(self, p: CurvePoint, shop_id: str | None, category: str | None) -> CurvePoint:
        """``p`` (uncalibrated) at the calibrated level and value per order, with its band."""
        if p.gmv <= 0 or p.orders <= 0:
            return replace(p, band=NO_BAND)
        aov = p.gmv / p.orders * self.aov_factor
        size = self.size_of(p.gmv, p.orders, shop_id, category)
        orders = size * self.level_for(size)
        sigma = self.sigma_for(size)
        return replace(
            p,
            gmv=orders * aov,
            orders=orders,
            band=band(orders, aov, sigma, self.nominal_for(size), self.order_values, self.off_for(size)),
        )


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


def _totals(
    lam: np.ndarray,
    sigma: float,
    values: Sequence[float],
    draws: int,
    off: float | np.ndarray = 0.0,
    seed: int = 20_261_203,
) -> np.ndarray:
    """[days, draws] simulated days in units of the expected value per order: with probability ``off`` the
    campaign sells nothing that day, else ``N ~ Poisson(λ e^{σ z} / (1 − off))`` orders (the mean stays λ), each
    worth a draw of ``values`` (× AOV; all 1 when empty). A fixed seed (deterministic, and the same numbers for
    every σ); past 30 orders the sum of values is its normal approximation."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((1, draws))
    away = np.asarray(off, dtype=np.float64).reshape(-1, 1)  # one share, or one per day
    on = rng.random((1, draws)) >= away
    n = np.where(on, rng.poisson(lam[:, None] * np.exp(sigma * z) / (1.0 - away)), 0)
    if not len(values):
        return n.astype(np.float64)
    v = np.asarray(values, dtype=np.float64)
    small = n <= 30
    flat = np.where(small, n, 0).ravel()
    seg = np.repeat(np.arange(flat.size), flat)
    tot = np.bincount(seg, weights=v[rng.integers(0, len(v), seg.size)], minlength=flat.size).reshape(n.shape)
    big = np.maximum(n + np.sqrt(n) * float(v.std()) * rng.standard_normal(n.shape), 0.0)
    return np.where(small, tot, big)


def _limits(tot: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``tot``: the central ``level`` band; where the day is worth 0 with probability at least
    ``(1 − level)/2`` (no order: a band cannot reach below 0), ``[0, level quantile]`` instead, so that the band
    still holds ``level`` of the days rather than ``(1 + level)/2``."""
    a = (1.0 - level) / 2.0
    q = np.quantile(tot, [a, 1.0 - a, level], axis=1)
    zero = (tot <= 0).mean(axis=1) >= a
    return np.where(zero, 0.0, q[0]), np.where(zero, q[2], q[1])


def band(
    expected_orders: float,
    aov: float,
    sigma: float,
    level: float = 0.8,
    values: Sequence[float] = (),
    off: float = 0.0,
) -> Band:
    """The ``level`` band of GMV ``aov × Σ_{i ≤ N} v_i`` with ``N ~ Poisson(λ e^{σ z})`` (``v_i`` drawn from
    ``values``, else 1; a day off, with no order, with probability ``off``) and of the order count (the error is
    centred on the forecast in log terms, so a wider ``σ`` widens both sides); one-sided ``[0, …]`` where a day
    without orders is likely (see ``_limits``)."""
    if expected_orders <= 0 or aov <= 0:
        return NO_BAND
    lam = np.array([float(expected_orders)])
    lo, hi = _limits(_totals(lam, sigma, values, DRAWS, off), level)
    n_lo, n_hi = _limits(_totals(lam, sigma, (), DRAWS, off), level)
    return Band(float(lo[0] * aov), float(hi[0] * aov), float(n_lo[0]), float(n_hi[0]))


def _ratio(obs: float, pred: float, parent: float, weight: float) -> float:
    """Shrunk ratio: (obs + weight · parent) / (pred + weight), weight in forecast GMV units."""
    return (obs + weight * parent) / (pred + weight) if pred + weight > 0 else parent


def _slope(x: np.ndarray, y: np.ndarray, wt: np.ndarray) -> float:
    """The slope ``b`` of ``E[y] = exp(a + b x)`` (a Poisson regression weighted by ``wt``, by Newton's method;
    ``y`` scaled to mean 1, which changes no estimate), clipped to [0.3, 1.2]."""
    y = y / max(float(y.mean()), 1e-12)
    a, b = 0.0, 1.0
    for _ in range(30):
        mu = np.exp(np.clip(a + b * x, -30.0, 30.0))
        r, m = wt * (y - mu), wt * mu
        g = np.array([float(r.sum()), float((r * x).sum())])
        h = np.array([[m.sum(), (m * x).sum()], [(m * x).sum(), (m * x * x).sum()]])
        try:
            step = np.linalg.solve(h + 1e-9 * np.eye(2), g)
        except np.linalg.LinAlgError:
            break
        a, b = a + float(step[0]), b + float(step[1])
        if abs(step[1]) < 1e-6:
            break
    return float(np.clip(b, 0.1, 1.2))


def _fit_level(ok: Sequence[ForecastPair], level: float, prior_days: float) -> ForecastCalibration:
    """The level part of a calibration (no σ yet) from the campaign-days ``ok`` (forecasts > 0), weighted by
    recency: the size curve, the level factors (market → category → shop, each shrunk toward its parent), the
    value per order and its spread, and each size bin's level."""
    obs = np.array([p.observed_gmv for p in ok])
    fgmv = np.array([p.forecast_gmv for p in ok])
    faov = fgmv / np.array([p.forecast_orders for p in ok])
    wt = _weights(ok)
    scale = float(np.exp(np.log(fgmv).mean()))
    x = np.log(fgmv / scale)
    n = len(ok)
    slope = 1.0
    if obs.sum() > 0:  # a forecast that came out big is big partly by its own error: shrunk toward proportional
        slope = (n * _slope(x, obs, wt) + SLOPE_PRIOR_DAYS) / (n + SLOPE_PRIOR_DAYS)
    pred = scale * np.exp(slope * x)
    w = prior_days * float(pred.mean())
    wobs, wpred = wt * obs, wt * pred
    market = float(wobs.sum() / wpred.sum()) if wpred.sum() > 0 else 1.0
    by_cat: dict[str, list[int]] = defaultdict(list)
    by_shop: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(ok):
        by_cat[p.category].append(i)
        by_shop[p.shop_id].append(i)
    cats = {c: _ratio(float(wobs[ix].sum()), float(wpred[ix].sum()), market, w) for c, ix in by_cat.items()}
    shop_cat = {p.shop_id: p.category for p in ok}
    shops = {
        s: _ratio(float(wobs[ix].sum()), float(wpred[ix].sum()), cats[shop_cat[s]], w)
        for s, ix in by_shop.items()
    }
    # the value per order: settled GMV per settled order against the forecast's, and one order's spread
    counted = [i for i, p in enumerate(ok) if p.observed_orders]
    orders = np.array([float(ok[i].observed_orders or 0) for i in counted])
    aov_factor = float(wobs[counted].sum() / (wt[counted] * orders * faov[counted]).sum()) if counted else 1.0
    aov_factor = aov_factor if aov_factor > 0 else 1.0
    single = np.array([obs[i] / (faov[i] * aov_factor) for i in counted if ok[i].observed_orders == 1])
    values: tuple[float, ...] = ()
    if len(single) >= MIN_SINGLE_ORDER_DAYS and single.mean() > 0:
        q = np.quantile(single, (np.arange(VALUE_QUANTILES) + 0.5) / VALUE_QUANTILES)
        values = tuple(float(v) for v in q / q.mean())
    return ForecastCalibration(
        market=market,
        categories=cats,
        shops=shops,
        level=level,
        pairs=n,
        slope=slope,
        scale=scale,
        aov_factor=aov_factor,
        order_values=values,
    )


def _weights(ok: Sequence[ForecastPair]) -> np.ndarray:
    """Recency weights: halved every ``HALF_LIFE_DAYS`` of age behind the newest day (no day: the newest)."""
    day = np.array([np.nan if p.day is None else float(p.day) for p in ok])
    day = np.where(np.isnan(day), np.nanmax(day) if np.isfinite(day).any() else 0.0, day)
    return np.asarray(0.5 ** ((day.max() - day) / HALF_LIFE_DAYS), dtype=np.float64)


def fit_calibration(
    pairs: Sequence[ForecastPair],
    level: float = 0.8,
    prior_days: float = 2.0,
    sigma_prior_days: float = SIGMA_PRIOR_DAYS,
) -> ForecastCalibration:
    """From past campaign-days: the level (``_fit_level``) and the band's ``σ`` per size bin, fitted on what each
    day would have been forecast from the days before it alone (rolling origin; see the module docstring)."""
    if not 0.5 <= level < 1.0:
        raise ValidationError(f"level must lie in [0.5, 1), got {level}")
    ok = [p for p in pairs if p.forecast_gmv > 0 and p.forecast_orders > 0 and p.observed_gmv >= 0]
    if not ok:
        return ForecastCalibration(level=level)
    cal = _fit_level(ok, level, prior_days)
    wt = _weights(ok)
    # out of sample: each day's forecasts calibrated on the days before it only (as they are served); without
    # days, or on the first days, each campaign-day under the fit of all the others (leave one out)
    days = sorted({p.day for p in ok if p.day is not None})
    judged: list[tuple[int, ForecastCalibration]] = []
    for d in days:
        before = [p for p in ok if p.day is not None and p.day < d]
        if len(before) >= MIN_FORWARD_PAIRS:
            c = _fit_level(before, level, prior_days)
            judged += [(i, c) for i, p in enumerate(ok) if p.day == d]
    if len(judged) < MIN_FORWARD_PAIRS:
        judged = [  # (past MAX_LEAVE_ONE_OUT days: in sample, which narrows the band)
            (i, _fit_level(ok[:i] + ok[i + 1 :], level, prior_days) if len(ok) <= MAX_LEAVE_ONE_OUT else cal)
            for i in range(len(ok))
        ]
    ix_all = np.array([i for i, _ in judged])
    size = np.array(
        [c.size_of(ok[i].forecast_gmv, ok[i].forecast_orders, ok[i].shop_id, ok[i].category) for i, c in judged]
    )
    aov = np.array([ok[i].forecast_gmv / ok[i].forecast_orders * c.aov_factor for i, c in judged])
    obs = np.array([ok[i].observed_gmv for i in ix_all]) / aov
    w_j = wt[ix_all]
    values = cal.order_values
    # each size bin's level, out of sample: a forecast that came out big is big partly by its own error (a shop
    # whose lucky days raised its factor), which only days judged before they happened show
    b = np.searchsorted(SIZE_EDGES, size, side="right")
    mean_size = float(np.average(size, weights=w_j)) if w_j.sum() > 0 else 1.0
    size_level = tuple(
        _ratio(float((w_j * obs)[b == j].sum()), float((w_j * size)[b == j].sum()), 1.0, prior_days * mean_size)
        for j in range(len(SIZE_EDGES) + 1)
    )
    lam = size * np.array(size_level)[b]
    # days with nothing sold where orders were expected (the campaign stopped, say): the share of those days
    # beyond what the count alone gives, pooled where it gives few zeros (λ ≥ 2), and per size bin (shrunk)
    def excess_zeros(ix: np.ndarray) -> tuple[float, float]:
        """(share, weight): the share of the days ``ix`` off beyond Poisson's zeros, and what it rests on."""
        if not len(ix):
            return 0.0, 0.0
        zero = float(np.average(obs[ix] <= 0, weights=w_j[ix]))
        model = float(np.average(np.exp(-lam[ix]), weights=w_j[ix]))
        weight = float(w_j[ix].sum()) * (1.0 - model)  # a bin whose days sell nothing anyway says little
        return (min(max((zero - model) / (1.0 - model), 0.0), 0.8) if model < 1.0 else 0.0), weight

    off, _ = excess_zeros(np.flatnonzero(lam >= 2.0))
    size_off = []
    for j in range(len(SIZE_EDGES) + 1):
        share, weight = excess_zeros(np.flatnonzero(b == j))
        size_off.append((weight * share + sigma_prior_days * off) / (weight + sigma_prior_days))
    day_off = np.array(size_off)[b]

    def coverage(ix: np.ndarray, sigma: float, nominal: float = level) -> float:
        lo, hi = _limits(_totals(lam[ix], sigma, values, FIT_DRAWS, day_off[ix]), nominal)
        o = obs[ix]
        return float(np.average((lo - 1e-9 <= o) & (o <= hi + 1e-9), weights=w_j[ix]))

    def fit_sigma(ix: np.ndarray, aim: float) -> float:
        """The smallest σ (bisection on [0, 3]) whose bands cover ``aim`` of the days ``ix``."""
        lo_s, hi_s = 0.0, 3.0
        if coverage(ix, lo_s) >= aim:
            return lo_s
        for _ in range(14):
            mid = 0.5 * (lo_s + hi_s)
            if coverage(ix, mid) >= aim:
                hi_s = mid
            else:
                lo_s = mid
        return hi_s

    def fit_nominal(ix: np.ndarray, aim: float) -> float:
        """Where σ = 0 already covers more than ``aim`` (the count model is wider than the days): the smallest
        quantile level in [0.5, ``level``] of the model whose bands still cover ``aim`` (bisection)."""
        lo_n, hi_n = 0.5, level
        if coverage(ix, 0.0, lo_n) >= aim:
            return lo_n
        for _ in range(10):
            mid = 0.5 * (lo_n + hi_n)
            if coverage(ix, 0.0, mid) >= aim:
                hi_n = mid
            else:
                lo_n = mid
        return hi_n

    sigma = fit_sigma(np.arange(len(judged)), level)
    # a bin's few days cover in steps of 1/n: aiming half a step below ``level`` centres the smallest σ that
    # covers (aiming at ``level`` itself would round every small bin's band up)
    size_sigma, size_nominal, hit = [], [], 0.0
    for j in range(len(SIZE_EDGES) + 1):
        ix = np.flatnonzero(b == j)
        m = float(w_j[ix].sum())  # the bin's days, counted by weight
        own = fit_sigma(ix, level - 0.5 / m) if len(ix) else sigma
        nominal = fit_nominal(ix, level) if len(ix) and own == 0.0 else level
        size_sigma.append((m * own + sigma_prior_days * sigma) / (m + sigma_prior_days))
        size_nominal.append((m * nominal + sigma_prior_days * level) / (m + sigma_prior_days))
        hit += m * coverage(ix, size_sigma[-1], size_nominal[-1]) if len(ix) else 0.0
    return replace(
        cal,
        sigma=sigma,
        size_sigma=tuple(size_sigma),
        size_level=size_level,
        off_share=off,
        size_off=tuple(size_off),
        size_nominal=tuple(size_nominal),
        in_sample_coverage=hit / float(w_j.sum()),
    )  # the coverage on the days σ was fitted on, each bin at its σ
