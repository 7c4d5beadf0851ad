"""Hindsight oracle: the best GMV a campaign could have had, knowing the true probabilities.

The LP over a day's impressions (``x_i ∈ [0, 1]`` the share of impression ``i`` bought, ``v_i`` its true
expected GMV, ``c_i`` its true expected cost)::

    max Σ x_i v_i   s.t.   Σ x_i c_i ≤ B,   Σ x_i v_i ≥ R Σ x_i c_i

has the Lagrangian ``Σ x_i ((1 + μ) v_i − (λ + μ R) c_i)``, so an optimal ``x`` buys impressions in
decreasing order of efficiency ``v_i / c_i`` above one threshold. Buying greedily in that order, the spend
grows and the running ROI ``Σv / Σc`` falls, so the optimum is the longest prefix (plus a fractional next
item) that keeps both ``Σc ≤ B`` and ``Σv − RΣc ≥ 0`` — an exact fractional-knapsack solution, O(N log N).

This is an upper bound no real bidder reaches (it knows true values, and buys fractions); policies are
scored as ``GMV / oracle GMV``.

:func:`multiplier_curves` and :func:`rest_of_day_multiplier` give the hindsight-best *constant multiplier* for
a bidder that bids ``value_est × m`` — the labels the learned policy is trained on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from sitewide.domain.types import FloatArray, IntArray, ValidationError

AnyFloat = npt.NDArray[np.floating[Any]]

__all__ = ["OracleResult", "hindsight_oracle", "multiplier_curves", "rest_of_day_multiplier", "roi_margin"]


@dataclass(frozen=True, slots=True)
class OracleResult:
    gmv: float  # expected GMV (float micros)
    spend: float  # expected spend (float micros)
    threshold: float  # the efficiency v/c of the marginal impression (inf when nothing is bought)
    bought: float  # impressions bought (fractional)


def hindsight_oracle(
    value: npt.ArrayLike, cost: npt.ArrayLike, budget: float | None, target_roi: float
) -> OracleResult:
    """Best expected GMV under ``spend ≤ budget`` (``None``: no budget) and ``GMV ≥ target_roi · spend``."""
    v = np.asarray(value, dtype=np.float64)
    c = np.asarray(cost, dtype=np.float64)
    if v.shape != c.shape or v.ndim != 1:
        raise ValidationError("value and cost must be 1-d arrays of the same length")
    if v.size and (not np.isfinite(v).all() or not np.isfinite(c).all() or v.min() < 0 or c.min() < 0):
        raise ValidationError("value and cost must be finite and ≥ 0")
    if not math.isfinite(target_roi) or target_roi <= 0:
        raise ValidationError(f"target ROI must be > 0, got {target_roi}")
    if budget is not None and (not math.isfinite(budget) or budget < 0):
        raise ValidationError(f"budget must be ≥ 0, got {budget}")
    free = (c == 0) & (v > 0)  # costs nothing: always bought
    g0, n0 = float(v[free].sum()), float(free.sum())
    keep = (c > 0) & (v > 0)
    v, c = v[keep], c[keep]
    if v.size == 0:
        return OracleResult(g0, 0.0, math.inf, n0)
    order = np.argsort(-(v / c))
    v, c = v[order], c[order]
    cv, cc = np.cumsum(v) + g0, np.cumsum(c)
    slack = cv - target_roi * cc
    ok = slack >= 0
    if budget is not None:
        ok &= cc <= budget
    # ok is a prefix (spend only grows; slack rises then falls), so count the leading run of True
    k = int(np.argmin(ok)) if not ok.all() else len(ok)
    gmv = float(cv[k - 1]) if k else g0
    spend = float(cc[k - 1]) if k else 0.0
    frac = 0.0
    if k < len(v):
        room = math.inf if budget is None else (budget - spend) / c[k]
        s_now = gmv - target_roi * spend
        need = target_roi * c[k] - v[k]
        roi_room = s_now / need if need > 0 else math.inf
        frac = float(min(1.0, max(0.0, min(room, roi_room))))
    gmv += frac * float(v[k]) if k < len(v) else 0.0
    spend += frac * float(c[k]) if k < len(v) else 0.0
    last = k if frac > 0 else k - 1
    threshold = float(v[last] / c[last]) if last >= 0 else math.inf
    return OracleResult(gmv, spend, threshold, n0 + k + frac)


def multiplier_curves(
    offsets: IntArray,
    value_est: AnyFloat,
    market: AnyFloat,
    value_true: AnyFloat,
    cost_exp: AnyFloat,
    grid: FloatArray,
    order_prob: AnyFloat | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Expected spend ``S[t, k]``, GMV ``G[t, k]`` and orders ``O[t, k]`` of tick ``t`` when bidding
    ``value_est × grid[k]``.

    A bid wins when ``value_est · m > market``, i.e. when ``market / value_est < m``; per tick the
    impressions are sorted by that ratio once and every grid point is a binary search. Ignores the budget.
    """
    g = np.asarray(grid, dtype=np.float64)
    if g.ndim != 1 or g.size == 0 or np.any(np.diff(g) <= 0):
        raise ValidationError("grid must be a strictly increasing 1-d array")
    T = len(offsets) - 1
    S = np.zeros((T, g.size))
    G = np.zeros((T, g.size))
    Ord = np.zeros((T, g.size))  # expected orders, when ``order_prob`` (pCTR · pCVR) is given
    for t in range(T):
        lo, hi = int(offsets[t]), int(offsets[t + 1])
        ve = value_est[lo:hi]
        ratio = np.where(ve > 0, market[lo:hi] / np.maximum(ve, 1e-300), np.inf)
        order = np.argsort(ratio, kind="stable")
        r = ratio[order]
        cs = np.concatenate([[0.0], np.cumsum(cost_exp[lo:hi][order], dtype=np.float64)])
        cg = np.concatenate([[0.0], np.cumsum(value_true[lo:hi][order], dtype=np.float64)])
        n = np.searchsorted(r, g, side="left")  # wins: ratio < m
        S[t], G[t] = cs[n], cg[n]
        if order_prob is not None:
            co = np.concatenate([[0.0], np.cumsum(order_prob[lo:hi][order], dtype=np.float64)])
            Ord[t] = co[n]
    return S, G, Ord


def rest_of_day_multiplier(
    S_rest: FloatArray,
    G_rest: FloatArray,
    grid: FloatArray,
    spent: float,
    gmv: float,
    budget: float,
    target_roi: float,
    margin: FloatArray | float = 0.0,
    gmv_slack: float = 0.005,
) -> float:
    """The largest grid multiplier whose expected rest-of-day outcome keeps spend ≤ budget and total
    GMV ≥ target · (1 + margin) · total spend, given what was already spent and earned; the smallest grid
    point when none does (the most ROI-efficient choice). Of the feasible multipliers, the smallest one whose
    GMV is within ``gmv_slack`` of the largest feasible one's is returned. ``S_rest``/``G_rest``: ``[K]`` sums over the
    remaining ticks; ``margin`` a number or ``[K]`` (e.g. larger where fewer orders are expected)."""
    total_s = spent + S_rest
    ok = (total_s <= budget) & (gmv + G_rest >= target_roi * (1.0 + np.asarray(margin)) * total_s)
    idx = np.flatnonzero(ok)
    if not idx.size:
        return float(grid[0])
    # the cheapest multiplier within ``gmv_slack`` of the best feasible GMV: past saturation a higher
    # multiplier buys almost nothing, and labels there would teach the policy to burn its ROI headroom
    best = G_rest[idx[-1]]
    good = idx[G_rest[idx] >= (1.0 - gmv_slack) * best]
    return float(grid[good[0]])


def roi_margin(expected_orders: FloatArray | float, z: float = 1.5, tolerance: float = 0.05) -> FloatArray:
    """ROI safety margin so that realised ROI ≥ (1 − tolerance) · target with probability ≈ Φ(z).

    Realised GMV over ``N`` orders has a relative s.d. of about ``sqrt((1 + cv²) / N)`` (Poisson count ×
    order-value spread, cv ≈ 0.37 in the environment), so aim at ``z`` of those above the target, less the
    tolerance, and never below 2 %."""
    n = np.maximum(np.asarray(expected_orders, dtype=np.float64), 1.0)
    out: FloatArray = np.maximum(0.02, z * np.sqrt(1.13 / n) - tolerance)
    return out
