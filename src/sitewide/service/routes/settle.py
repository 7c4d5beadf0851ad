from __future__ import annotations

from fastapi import APIRouter

from sitewide.service.deps import EngineDep, OperatorDep
from sitewide.service.schemas import CampaignSettlementOut, ErrorOut, SettleIn, SettleOut
from sitewide.service.usecases import settlement as uc

router = APIRouter(tags=["settlement"], responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}})


@router.post("/settle", response_model=SettleOut, responses={422: {"model": ErrorOut}})
def settle(body: SettleIn, engine: EngineDep, _: OperatorDep) -> SettleOut:
    """Operator only: settle a day (``day``) or a period (``start_ms`` and ``end_ms``), by default
    yesterday; idempotent per period. A period that has not ended is 422 unless ``preview`` (books nothing)."""
    rep = uc.settle(engine, body.day, body.start_ms, body.end_ms, body.preview)
    return SettleOut(
        period=rep.period,
        already_settled=rep.already_settled,
        provisional=rep.provisional,
        campaigns=[
            CampaignSettlementOut(
                campaign_id=c.campaign_id,
                merchant_id=c.merchant_id,
                target_roi=c.target_roi,
                clicks=c.clicks,
                billable_clicks=c.billable_clicks,
                orders=c.orders,
                spend_micros=c.spend_micros,
                gmv_micros=c.gmv_micros,
                roi=c.roi,
                compensation_micros=c.compensation_micros,
            )
            for c in rep.campaigns
        ],
        transactions=[t.id for t in rep.transactions],
    )
