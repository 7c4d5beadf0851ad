"""Forecasts (the power law over settled days and the campaign draft's replay), holdouts and incrementality, for
the JSON routes, the campaign page and the agent."""

from __future__ import annotations

from dataclasses import dataclass

from sitewide.api import fields_of
from sitewide.api.forecast import (
    CampaignForecastIn,
    CampaignForecastOut,
    CampaignForecastPoint,
    ForecastOut,
    IncrementalityOut,
)
from sitewide.domain.accounts import Principal
from sitewide.domain.forecast import CampaignDraft, CampaignForecast, CurvePoint
from sitewide.domain.guarantee import INCREMENTAL_LEVEL, GuaranteeContract
from sitewide.domain.incrementality import Incrementality, precise_enough
from sitewide.domain.time import DAY_MS, day_index, day_of
from sitewide.domain.types import ValidationError
from sitewide.engine import Engine
from sitewide.ports import Store
from sitewide.service import forecast as powerlaw
from sitewide.service.reporting import campaign_days
from sitewide.service.scope import owner_filter, visible_campaign
from sitewide.service.usecases.campaigns import check_products


def _point(p: CurvePoint) -> CampaignForecastPoint:
    return CampaignForecastPoint(
        bid_multiplier=p.multiplier,
        spend_micros=round(p.spend),
        gmv_micros=round(p.gmv),
        gmv_low_micros=round(p.band.gmv_low),
        gmv_high_micros=round(p.band.gmv_high),
        orders=p.orders,
        orders_low=p.band.orders_low,
        orders_high=p.band.orders_high,
    )


def forecast_out(f: CampaignForecast) -> CampaignForecastOut:
    return fields_of(
        CampaignForecastOut,
        f,
        target_roi=f.draft.target_roi,
        daily_budget_micros=f.draft.daily_budget_micros,
        expected=_point(f.expected),
        curve=[_point(p) for p in f.curve],
    )


def campaign_forecast(
    engine: Engine, store: Store, who: Principal, body: CampaignForecastIn
) -> CampaignForecastOut:
    """The draft's forecast; a merchant may forecast only its own products (and campaign)."""
    merchant = owner_filter(who, body.merchant_id)
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
    return IncrementalityOut(start_day=start_day, end_day=end_day, estimate=inc)


def _days(engine: Engine, campaign_ids: list[str]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for cid in campaign_ids:
        out.extend((d.spend_micros, d.gmv_micros) for d in campaign_days(engine, cid))
    return out


def spend_forecast(
    engine: Engine,
    store: Store,
    who: Principal,
    target_roi: float,
    daily_budget_micros: int,
    campaign_id: str | None,
    merchant_id: str | None,
) -> ForecastOut:
    """Spend → GMV for a target ROI, fitted on settled campaign-days: level from the campaign, else the
    merchant, else the market (see :mod:`sitewide.service.forecast`)."""
    own: list[str] = []
    mid = owner_filter(who, merchant_id)
    if campaign_id is not None:
        c = visible_campaign(store, who, campaign_id)
        own, mid = [c.id], c.merchant_id
    all_camps = store.list_campaigns()
    merchant = [c.id for c in all_camps if c.merchant_id == mid and c.id not in own]
    return powerlaw.forecast(
        target_roi,
        daily_budget_micros,
        _days(engine, own),
        _days(engine, merchant),
        _days(engine, [c.id for c in all_camps]),
    )


INCREMENTALITY_DAYS = 28  # the campaign page's estimate: its holdout over the last four weeks


@dataclass(frozen=True)
class IncrementalityView:
    """What the campaign page says about incrementality: ``state`` "off" (no holdout runs), "not_enough" (no
    estimate yet, or its interval too wide: ``precise_enough``) or "ready"; the partial words the numbers."""

    state: str
    days: int
    estimate: Incrementality
    guarantee: GuaranteeContract | None = None  # the campaign's, where it is written on incremental ROI
    guarantee_level: float = INCREMENTAL_LEVEL  # the interval such a guarantee is judged with


def incrementality_view(engine: Engine, store: Store, who: Principal, campaign_id: str) -> IncrementalityView:
    """The campaign's holdout estimate over the last ``INCREMENTALITY_DAYS`` days (today included)."""
    visible_campaign(store, who, campaign_id)
    end = (day_index(day_of(engine.clock.now_ms())) + 1) * DAY_MS
    inc = engine.incrementality(campaign_id, end - INCREMENTALITY_DAYS * DAY_MS, end)
    if inc.holdout_share <= 0 and inc.ghost_wins == 0:
        state = "off"
    else:
        state = "ready" if precise_enough(inc) else "not_enough"
    contract = engine.guarantee(campaign_id)
    on_incremental = contract if contract.basis == "incremental_roi" else None
    return IncrementalityView(state, INCREMENTALITY_DAYS, inc, on_incremental)
