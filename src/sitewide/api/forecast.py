"""Bodies of the campaign forecast, holdout and incrementality endpoints (``sitewide.service.routes.forecast``).
Money is integer micros (expectations rounded); ROI and shares are floats."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field

from sitewide.api.schemas import Strict


class CampaignForecastIn(Strict):
    """A campaign draft: the products it would promote, its target ROI and daily budget. ``campaign_id`` when
    editing (its current bids make way for the draft's); ``merchant_id`` for the operator."""

    product_ids: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=64)]], Field(min_length=1, max_length=500)
    ]
    target_roi: Annotated[Decimal, Field(ge=Decimal("0.10"), le=100, max_digits=8, decimal_places=2)]
    daily_budget_micros: Annotated[int, Field(ge=10_000, le=10**13)]
    campaign_id: Annotated[str, Field(max_length=64)] | None = None
    merchant_id: Annotated[str, Field(max_length=64)] | None = None


class CampaignForecastPoint(BaseModel):
    """The day at one bid level: expected spend, GMV and orders with the band."""

    bid_multiplier: float
    spend_micros: int
    gmv_micros: int
    gmv_low_micros: int
    gmv_high_micros: int
    orders: float
    orders_low: float
    orders_high: float


class CampaignForecastOut(BaseModel):
    """Spend → GMV and spend → orders for the draft, from recent requests replayed through the auction with its
    bids; ``expected`` is the day at the target ROI and budget; the band holds ``level`` of days (calibrated
    on past campaign-days: ``basis`` says whose — the shop's, its category's, the market's, or a prior)."""

    target_roi: float
    daily_budget_micros: int
    level: float
    basis: str
    traffic: str  # "logged" (recent requests) or "synthetic" (nothing logged yet)
    replayed_requests: int
    daily_requests: float
    expected: CampaignForecastPoint
    curve: list[CampaignForecastPoint]


class HoldoutIn(Strict):
    share: Annotated[float, Field(ge=0.0, le=0.5)]


class HoldoutOut(BaseModel):
    campaign_id: str
    share: float


class IncrementalityOut(BaseModel):
    """What the campaign's ads added over the period by its ghost-bid holdout: a share of the auctions its ad
    would have won was withheld (never billed) and compared with the rest. ``None`` until both groups have
    wins. Intervals at ``level``."""

    campaign_id: str
    start_day: str
    end_day: str
    holdout_share: float
    level: float
    exposed_wins: int
    ghost_wins: int
    exposed_gmv_micros: int
    ghost_gmv_micros: int
    incremental_gmv_micros: int | None
    incremental_gmv_low_micros: int | None
    incremental_gmv_high_micros: int | None
    spend_micros: int
    incremental_roi: float | None
    incremental_roi_low: float | None
    incremental_roi_high: float | None
    cannibalisation: float | None
    cannibalisation_low: float | None
    cannibalisation_high: float | None
    holdout_cost_micros: int
