"""The rules' thresholds and what they share: money and time formats, the campaign-day citation, the forecast's
effect of new terms, stable suggestion ids. Pure."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sitewide.agent.types import (
    CampaignFacts,
    Citation,
    Effect,
    FindingKind,
    ForecastFacts,
    MerchantFacts,
)
from sitewide.domain.time import HOUR_MS


@dataclass(frozen=True, slots=True)
class Thresholds:
    # a target "starves" a campaign when the day's spend is under this share of its budget …
    starved_budget_use: float = 0.25
    # … and the target sits this far above what the market's campaigns realise (median campaign-day ROI)
    target_over_market: float = 1.6
    # a budget counts as exhausted at 95 % spent (the facts builder's mark); "early" = before this hour (UTC)
    exhausted_before_hour: float = 14.0
    max_budget_raise: float = 3.0  # a suggested budget is at most this × the current one
    # a best seller: the merchant's top product by promoted orders before the day, with this share of them …
    best_seller_share: float = 0.10
    best_seller_min_orders: int = 3  # … and at least this many
    # a pinned creative loses when a sibling's CTR is higher by this many standard errors (combined over the
    # placements where both have ≥ N impressions)
    creative_z: float = 2.5
    creative_min_impressions: int = 30
    # a shop-score factor drags delivery when the shop's multiplier is under this and the factor scores < …
    shop_multiplier_below: float = 0.97
    factor_sub_below: float = 60.0
    # a target too low: realised ROI under target / this over the settled days, with ≥ N orders
    target_miss_ratio: float = 1.2
    target_miss_min_orders: int = 30


def yuan(micros: int | float) -> str:
    return f"{micros / 1e6:,.2f}"


def hour(ms: int) -> str:
    return f"{ms // HOUR_MS:02d}:{(ms % HOUR_MS) // 60_000:02d}"


def day_cite(c: CampaignFacts, day: str) -> Citation:
    d = c.day(day)
    vals: list[tuple[str, str]] = [
        ("target_roi", f"{c.target_roi:g}"),
        ("daily_budget", yuan(c.daily_budget_micros)),
    ]
    if d is not None:
        vals += [
            ("spend", yuan(d.spend_micros)),
            ("gmv", yuan(d.gmv_micros)),
            ("orders", str(d.orders)),
            ("clicks", str(d.clicks)),
            ("roi", f"{d.roi:.2f}" if d.roi is not None else "-"),
        ]
    return Citation("report:campaign_day", (c.id, day), tuple(vals))


def find_forecast(f: MerchantFacts, cid: str, target: float, budget: int) -> ForecastFacts | None:
    return next(
        (
            x
            for x in f.forecasts
            if x.campaign_id == cid
            and math.isclose(x.target_roi, target, rel_tol=1e-6)
            and x.daily_budget_micros == budget
        ),
        None,
    )


def forecast_effect(f: MerchantFacts, c: CampaignFacts, target: float, budget: int) -> Effect | None:
    """The forecast's change in expected spend and GMV from the campaign's current terms to (target, budget),
    when the facts carry both forecasts."""
    now = find_forecast(f, c.id, c.target_roi, c.daily_budget_micros)
    new = find_forecast(f, c.id, target, budget)
    if now is None or new is None:
        return None
    return Effect(
        new.expected_gmv_micros - now.expected_gmv_micros,
        new.expected_spend_micros - now.expected_spend_micros,
        "forecast",
        f"spend→GMV forecast ({new.basis} level): GMV {yuan(now.expected_gmv_micros)} → "
        f"{yuan(new.expected_gmv_micros)} a day",
    )


def suggestion_id(kind: FindingKind, subject: str, day: str) -> str:
    return f"{kind.value}:{subject}:{day}"


# ------------------------------------------------------------------------------------------------ rules
