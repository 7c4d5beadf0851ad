"""Campaign forecasts, holdouts and incrementality for the JSON routes and the campaign page."""

from __future__ import annotations

from sitewide.api.forecast import (
    CampaignForecastIn,
    CampaignForecastOut,
    CampaignForecastPoint,
    IncrementalityOut,
)
from sitewide.domain.accounts import Principal
from sitewide.domain.forecast import CampaignDraft, CampaignForecast, CurvePoint
from sitewide.domain.time import DAY_MS, day_index
from sitewide.domain.types import ValidationError
from sitewide.engine import Engine
from sitewide.ports import Store
from sitewide.service.scope import visible_campaign
from sitewide.service.usecases.campaigns import check_products


def _point(p: CurvePoint) -> CampaignForecastPoint:
    return CampaignForecastPoint(
        bid_multiplier=p.multiplier,
        spend_micros=round(p.spend),
        gmv_micros=round(p.gmv),
        gmv_low_micros=round(p.gmv_low),
        gmv_high_micros=round(p.gmv_high),
        orders=p.orders,
        orders_low=p.orders_low,
        orders_high=p.orders_high,
    )


def forecast_out(f: CampaignForecast) -> CampaignForecastOut:
    expected = CurvePoint(0.0, f.spend, f.gmv, f.orders, f.gmv_low, f.gmv_high, f.orders_low, f.orders_high)
    return CampaignForecastOut(
        target_roi=f.draft.target_roi,
        daily_budget_micros=f.draft.daily_budget_micros,
        level=f.level,
        basis=f.basis,
        traffic=f.traffic,
        replayed_requests=f.replayed_requests,
        daily_requests=f.daily_requests,
        expected=_point(expected),
        curve=[_point(p) for p in f.curve],
    )


def campaign_forecast(
    engine: Engine, store: Store, who: Principal, body: CampaignForecastIn
) -> CampaignForecastOut:
    """The draft's forecast; a merchant may forecast only its own products (and campaign)."""
    merchant = body.merchant_id if who.is_operator else who.merchant_id
    if body.campaign_id is not None:
        merchant = visible_campaign(store, who, body.campaign_id).merchant_id
    if merchant is None:
        raise ValidationError("merchant_id: required when the operator forecasts a new campaign")
    pids = check_products(store, merchant, list(body.product_ids))
    draft = CampaignDraft(
        pids, float(body.target_roi), int(body.daily_budget_micros), campaign_id=body.campaign_id
    )
    return forecast_out(engine.forecast(draft))


def incrementality(
    engine: Engine, store: Store, who: Principal, campaign_id: str, start_day: str, end_day: str
) -> IncrementalityOut:
    visible_campaign(store, who, campaign_id)
    start = day_index(start_day) * DAY_MS  # ValidationError for a malformed day
    end = (day_index(end_day) + 1) * DAY_MS
    if end <= start:
        raise ValidationError("end_day must not be before start_day")
    inc = engine.incrementality(campaign_id, start, end)
    return IncrementalityOut(
        start_day=start_day, end_day=end_day, **{f: getattr(inc, f) for f in inc.__dataclass_fields__}
    )
