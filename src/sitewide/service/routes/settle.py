from __future__ import annotations

from fastapi import APIRouter

from sitewide.domain.types import ValidationError
from sitewide.engine import day_of
from sitewide.service.deps import EngineDep, OperatorDep
from sitewide.service.schemas import CampaignSettlementOut, ErrorOut, SettleIn, SettleOut

router = APIRouter(tags=["settlement"], responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}})


@router.post("/settle", response_model=SettleOut, responses={422: {"model": ErrorOut}})
def settle(body: SettleIn, engine: EngineDep, _: OperatorDep) -> SettleOut:
    """Operator only: settle a day (``day``) or a period (``start_ms``/``end_ms``); idempotent per period."""
    if body.day is not None:
        try:
            rep = engine.settle_day(body.day)
        except ValueError as exc:
            raise ValidationError(f"bad day {body.day!r}: {exc}") from exc
    elif body.start_ms is not None and body.end_ms is not None:
        rep = engine.settle(body.start_ms, body.end_ms)
    else:
        rep = engine.settle_day(day_of(engine.clock.now_ms()))
    return SettleOut(
        period=rep.period,
        already_settled=rep.already_settled,
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
