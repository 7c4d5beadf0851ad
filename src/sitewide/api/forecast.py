"""Bodies of the forecast, campaign forecast, holdout and incrementality endpoints
(``sitewide.service.routes.forecast``).
Money is integer micros (expectations rounded); ROI and shares are floats."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field

from sitewide.api.schemas import Strict
from sitewide.domain.incrementality import Incrementality


class ForecastPoint(BaseModel):
    spend_micros: int
    gmv_micros: int
    roi: float


class ForecastOut(BaseModel):
    """GMV as a concave function of daily spend, ``GMV = a · spend^b``, fitted on settled days (built by
    ``sitewide.service.forecast``). ``max_spend_micros`` is the spend where the average ROI meets the target."""

    model: str
    a: float
    b: float
    points_used: int
    basis: str
    target_roi: float
    max_spend_micros: int
    expected_spend_micros: int
    expected_gmv_micros: int
    curve: list[ForecastPoint]


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
    sigma: float  # the band's day-to-day log spread: fitted on settled days, or the prior 0.5 until there are enough
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
    would have won was withheld (never billed) and compared with the rest. The estimate is
    ``sitewide.domain.incrementality.Incrementality`` as it is: its figures are ``None`` until both groups have
    wins; intervals at its ``level``."""

    start_day: str
    end_day: str
    estimate: Incrementality
