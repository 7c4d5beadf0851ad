from __future__ import annotations

import uuid

from fastapi import APIRouter

from sitewide.domain.money import Micros
from sitewide.domain.types import Campaign, NotFound
from sitewide.service.deps import EngineDep
from sitewide.service.schemas import CampaignIn, CampaignOut, ErrorOut

router = APIRouter(tags=["campaigns"])


def campaign_out(c: Campaign) -> CampaignOut:
    return CampaignOut(
        id=c.id,
        merchant_id=c.merchant_id,
        name=c.name,
        product_ids=list(c.product_ids),
        target_roi=c.target_roi,
        daily_budget_micros=int(c.daily_budget_micros),
        status=c.status.value,
        created_ms=c.created_ms,
    )


@router.post("/campaigns", status_code=201, response_model=CampaignOut, responses={422: {"model": ErrorOut}})
def create_campaign(body: CampaignIn, engine: EngineDep) -> CampaignOut:
    c = Campaign(
        id=f"c-{uuid.uuid4().hex[:12]}",
        merchant_id=body.merchant_id,
        name=body.name,
        product_ids=tuple(dict.fromkeys(body.product_ids)),
        target_roi=body.target_roi,
        daily_budget_micros=Micros(body.daily_budget_micros),
        created_ms=engine.clock.now_ms(),
    )
    engine.add_campaign(c)
    return campaign_out(c)


@router.get("/campaigns", response_model=list[CampaignOut])
def list_campaigns(engine: EngineDep, merchant_id: str | None = None) -> list[CampaignOut]:
    return [campaign_out(c) for c in engine.store.list_campaigns(merchant_id)]


@router.get("/campaigns/{campaign_id}", response_model=CampaignOut, responses={404: {"model": ErrorOut}})
def get_campaign(campaign_id: str, engine: EngineDep) -> CampaignOut:
    c = engine.store.get_campaign(campaign_id)
    if c is None:
        raise NotFound(f"campaign {campaign_id} not found")
    return campaign_out(c)
