"""Forecasts (the power law over settled days; campaign drafts by replay, drawn live on the create/edit page),
ghost-bid holdouts and incrementality."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import StringConstraints

from sitewide.api.forecast import (
    CampaignForecastIn,
    CampaignForecastOut,
    ForecastOut,
    HoldoutIn,
    HoldoutOut,
    IncrementalityOut,
)
from sitewide.api.schemas import Day
from sitewide.domain.time import day_of
from sitewide.service.deps import (
    CampaignIdQuery,
    DailyBudgetQuery,
    EngineDep,
    MerchantIdQuery,
    OperatorDep,
    PrincipalDep,
    StoreDep,
    TargetRoiQuery,
    errors,
)
from sitewide.service.scope import visible_campaign
from sitewide.service.usecases import forecast as uc

ProductId = Annotated[str, StringConstraints(min_length=1, max_length=64)]

router = APIRouter(tags=["forecast"], responses=errors(401))


@router.get("/forecast", response_model=ForecastOut, responses=errors(404, 422))
def spend_forecast(
    engine: EngineDep,
    store: StoreDep,
    who: PrincipalDep,
    target_roi: TargetRoiQuery,
    daily_budget_micros: DailyBudgetQuery,
    campaign_id: CampaignIdQuery = None,
    merchant_id: MerchantIdQuery = None,
) -> ForecastOut:
    """Spend → GMV curve for a target ROI: ``GMV = a · spend^b`` fitted on settled campaign-days (curvature
    pooled over the market, level from the campaign, else the merchant, else the market); see
    ``sitewide.service.forecast``."""
    return uc.spend_forecast(
        engine, store, who, float(target_roi), daily_budget_micros, campaign_id, merchant_id
    )


@router.get("/forecast/campaign", response_model=CampaignForecastOut, responses=errors(404, 422))
def campaign_forecast(
    engine: EngineDep,
    store: StoreDep,
    who: PrincipalDep,
    product_ids: Annotated[list[ProductId], Query(min_length=1, max_length=500)],
    target_roi: TargetRoiQuery,
    daily_budget_micros: DailyBudgetQuery,
    campaign_id: CampaignIdQuery = None,
    merchant_id: MerchantIdQuery = None,
) -> CampaignForecastOut:
    """Spend → GMV and spend → orders of a campaign draft with an 80 % band: the last day's requests replayed
    through the engine's auction with the draft's bids (``sitewide.engine.forecast``). A GET (read-only), so
    that the campaign page can ask with its session cookie as the draft changes."""
    body = CampaignForecastIn(
        product_ids=product_ids,
        target_roi=target_roi,
        daily_budget_micros=daily_budget_micros,
        campaign_id=campaign_id,
        merchant_id=merchant_id,
    )
    return uc.campaign_forecast(engine, store, who, body)


@router.put("/campaigns/{campaign_id}/holdout", response_model=HoldoutOut, responses=errors(403, 404, 422))
def set_holdout(
    campaign_id: str, body: HoldoutIn, engine: EngineDep, store: StoreDep, who: OperatorDep
) -> HoldoutOut:
    """Operator: withhold this share of the auctions the campaign's ad would win (ghost wins, never billed), to
    measure its incrementality. 0 turns it off."""
    visible_campaign(store, who, campaign_id)
    engine.holdout.set_share(campaign_id, body.share)
    return HoldoutOut(campaign_id=campaign_id, share=engine.holdout.share_of(campaign_id))


@router.get(
    "/campaigns/{campaign_id}/incrementality", response_model=IncrementalityOut, responses=errors(404, 422)
)
def incrementality(
    campaign_id: str,
    engine: EngineDep,
    store: StoreDep,
    who: PrincipalDep,
    start_day: Annotated[Day | None, Query()] = None,
    end_day: Annotated[Day | None, Query()] = None,
) -> IncrementalityOut:
    """Incremental GMV, incremental ROI and organic cannibalisation with 95 % intervals, from the campaign's
    ghost-bid holdout over ``start_day``–``end_day`` (default: today)."""
    today = day_of(engine.clock.now_ms())
    return uc.incrementality(
        engine, store, who, campaign_id, start_day or today, end_day or start_day or today
    )
