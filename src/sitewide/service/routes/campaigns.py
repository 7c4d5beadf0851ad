from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from sitewide.api.schemas import CampaignIn, CampaignOut, CampaignPatch, Page
from sitewide.domain.types import CampaignStatus
from sitewide.service.deps import AccountsDep, EngineDep, ListingDep, PrincipalDep, StoreDep, errors
from sitewide.service.present import campaign_out
from sitewide.service.scope import visible_campaign
from sitewide.service.usecases import campaigns as uc

router = APIRouter(tags=["campaigns"], responses=errors(401))


@router.post("/campaigns", status_code=201, response_model=CampaignOut, responses=errors(422))
def create_campaign(
    body: CampaignIn, engine: EngineDep, store: StoreDep, accounts: AccountsDep, who: PrincipalDep
) -> CampaignOut:
    """Promote some of the merchant's products at a target ROI (GMV ÷ spend) within a daily budget.

    Limits: target ROI 0.10–100 (2 decimals), daily budget 0.01–10,000,000 CNY (10,000–10¹³ micros), products
    owned by the merchant. The operator creates campaigns on behalf of the merchant named in ``merchant_id``."""
    return campaign_out(uc.create_campaign(engine, store, accounts, who, body))


@router.get("/campaigns", response_model=Page[CampaignOut])
def list_campaigns(
    ls: ListingDep,
    status: Literal["active", "paused"] | None = None,
    product_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[CampaignOut]:
    """The caller's campaigns (the operator's: all, or one merchant's), newest first."""
    return ls.paging.page(
        uc.list_campaigns(ls.store, ls.who, ls.merchant_id, status, product_id), campaign_out
    )


@router.get("/campaigns/{campaign_id}", response_model=CampaignOut, responses=errors(404))
def get_campaign(campaign_id: str, store: StoreDep, who: PrincipalDep) -> CampaignOut:
    return campaign_out(visible_campaign(store, who, campaign_id))


@router.patch("/campaigns/{campaign_id}", response_model=CampaignOut, responses=errors(404, 422))
def update_campaign(
    campaign_id: str, body: CampaignPatch, engine: EngineDep, store: StoreDep, who: PrincipalDep
) -> CampaignOut:
    """Change name, products, target ROI, daily budget or status; fields left out keep their value."""
    return campaign_out(uc.update_campaign(engine, store, who, campaign_id, body))


@router.post("/campaigns/{campaign_id}/pause", response_model=CampaignOut, responses=errors(404))
def pause_campaign(campaign_id: str, engine: EngineDep, store: StoreDep, who: PrincipalDep) -> CampaignOut:
    """Stop serving the campaign's ads (idempotent); spend so far is still settled."""
    return campaign_out(uc.set_status(engine, store, who, campaign_id, CampaignStatus.PAUSED))


@router.post("/campaigns/{campaign_id}/resume", response_model=CampaignOut, responses=errors(404))
def resume_campaign(campaign_id: str, engine: EngineDep, store: StoreDep, who: PrincipalDep) -> CampaignOut:
    return campaign_out(uc.set_status(engine, store, who, campaign_id, CampaignStatus.ACTIVE))
