"""Spend → GMV forecast for a campaign at a chosen target ROI.

Model: daily GMV is a concave power of daily spend, ``GMV = a · spend^b`` with ``0 < b < 1`` (diminishing
returns: the cheapest, best-converting impressions are bought first). It is fitted by least squares on
``log GMV = log a + b · log spend`` over settled campaign-days with spend > 0 and GMV > 0:

- ``b`` (the curvature) is pooled over every campaign-day of the market: one campaign rarely has enough
  days, and the shape of diminishing returns is a property of the market's auctions. Clipped to
  ``[B_MIN, B_MAX]``; with fewer than ``MIN_POINTS`` pooled points the documented prior ``B_PRIOR`` is used.
- ``a`` (the level) comes from the campaign's own days when it has any (``basis = "campaign"``), else from the
  merchant's other campaigns (``"merchant"``), else the market (``"market"``), else the prior ROI
  ``ROI_PRIOR`` at the daily budget (``"prior"``): ``a = mean(GMV / spend^b)`` over the chosen days.

At target ROI ``t`` the campaign can spend while its average ROI ``a · s^(b−1)`` stays ≥ ``t``, i.e. up to
``s* = (a / t)^(1 / (1 − b))``; the expected day is ``spend = min(budget, s*)``, ``GMV = a · spend^b``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from sitewide.api.forecast import ForecastOut, ForecastPoint

B_MIN, B_MAX, B_PRIOR = 0.3, 0.95, 0.7
ROI_PRIOR = 3.0
MIN_POINTS = 3


def fit_curvature(points: Sequence[tuple[int, int]]) -> tuple[float, int]:
    """``b`` from pooled (spend, GMV) points; the prior when there are too few or no spread in spend."""
    pts = [(s, g) for s, g in points if s > 0 and g > 0]
    if len(pts) < MIN_POINTS:
        return B_PRIOR, len(pts)
    x = np.log([s for s, _ in pts])
    y = np.log([g for _, g in pts])
    if float(np.ptp(x)) < 1e-9:
        return B_PRIOR, len(pts)
    b = float(np.polyfit(x, y, 1)[0])
    return min(B_MAX, max(B_MIN, b)), len(pts)


def level(points: Sequence[tuple[int, int]], b: float) -> float | None:
    pts = [(s, g) for s, g in points if s > 0 and g > 0]
    if not pts:
        return None
    return float(np.mean([g / s**b for s, g in pts]))


def forecast(
    target_roi: float,
    daily_budget_micros: int,
    campaign_days: Sequence[tuple[int, int]],
    merchant_days: Sequence[tuple[int, int]],
    market_days: Sequence[tuple[int, int]],
    n_points: int = 25,
) -> ForecastOut:
    b, n_pooled = fit_curvature(market_days)
    a: float | None = None
    basis = "prior"
    for name, pts in (("campaign", campaign_days), ("merchant", merchant_days), ("market", market_days)):
        a = level(pts, b)
        if a is not None:
            basis = name
            break
    if a is None:
        a = ROI_PRIOR * float(daily_budget_micros) ** (1.0 - b)
    s_star = (a / target_roi) ** (1.0 / (1.0 - b))
    max_spend = int(min(s_star, 1e15))
    spend = min(daily_budget_micros, max_spend)
    top = max(2 * daily_budget_micros, min(2 * max_spend, 10 * daily_budget_micros), 1)
    grid = np.linspace(0, top, n_points)
    curve = [(int(s), int(a * s**b)) for s in grid]
    return ForecastOut(
        model="gmv = a * spend^b (log-log least squares, b pooled over the market)",
        a=a,
        b=b,
        points_used=n_pooled,
        basis=basis,
        target_roi=target_roi,
        max_spend_micros=max_spend,
        expected_spend_micros=int(spend),
        expected_gmv_micros=int(a * spend**b) if spend > 0 else 0,
        curve=[ForecastPoint(spend_micros=s, gmv_micros=g, roi=(g / s if s else 0.0)) for s, g in curve],
    )


def roi_at(a: float, b: float, spend: float) -> float:
    return a * spend ** (b - 1.0) if spend > 0 else math.inf
