from __future__ import annotations

import dataclasses
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from sitewide.domain.accounts import Principal
from sitewide.domain.money import Micros
from sitewide.domain.types import Campaign, CampaignStatus, ValidationError
from sitewide.engine import Engine
from sitewide.ports import ServiceRecords
from sitewide.service.deps import AccountsDep, EngineDep, PrincipalDep
from sitewide.service.schemas import CampaignIn, CampaignOut, CampaignPatch, ErrorOut, Page
from sitewide.service.scope import page, shop_owners, visible_campaign

router = APIRouter(tags=["campaigns"], responses={401: {"model": ErrorOut}})


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


def check_products(engine: Engine, merchant_id: str, product_ids: list[str]) -> tuple[str, ...]:
    """Every product must exist and belong to one of the merchant's shops (others' look unknown)."""
    owners = shop_owners(engine)
    bad = []
    for pid in dict.fromkeys(product_ids):
        p = engine.store.get_product(pid)
        if p is None or owners.get(p.shop_id) != merchant_id:
            bad.append(pid)
    if bad:
        raise ValidationError(
            f"product_ids: unknown product ids (or not of merchant {merchant_id}): {', '.join(bad[:5])}"
        )
    return tuple(dict.fromkeys(product_ids))


def resolve_merchant(who: Principal, accounts: ServiceRecords, merchant_id: str | None) -> str:
    if who.is_operator:
        if merchant_id is None:
            raise ValidationError("merchant_id: required when the operator creates a campaign")
        if accounts.get_merchant(merchant_id) is None:
            raise ValidationError(f"merchant_id: unknown merchant {merchant_id}")
        return merchant_id
    assert who.merchant_id is not None
    if merchant_id not in (None, who.merchant_id):
        raise ValidationError("merchant_id: a merchant can create campaigns only for itself")
    return who.merchant_id


@router.post("/campaigns", status_code=201, response_model=CampaignOut, responses={422: {"model": ErrorOut}})
def create_campaign(
    body: CampaignIn, engine: EngineDep, accounts: AccountsDep, who: PrincipalDep
) -> CampaignOut:
    """Promote some of the merchant's products at a target ROI (GMV ÷ spend) within a daily budget.

    Limits: target ROI 0.10–100 (2 decimals), daily budget 0.01–10,000,000 CNY (10,000–10¹³ micros), products
    owned by the merchant. The operator creates campaigns on behalf of the merchant named in ``merchant_id``."""
    merchant_id = resolve_merchant(who, accounts, body.merchant_id)
    if body.created_ms is not None and not who.is_operator:
        raise ValidationError("created_ms: only the operator may set when a campaign started")
    c = Campaign(
        id=f"c-{uuid.uuid4().hex[:12]}",
        merchant_id=merchant_id,
        name=body.name,
        product_ids=check_products(engine, merchant_id, body.product_ids),
        target_roi=body.target_roi,
        daily_budget_micros=Micros(body.daily_budget_micros),
        created_ms=engine.clock.now_ms() if body.created_ms is None else body.created_ms,
    )
    engine.add_campaign(c)
    return campaign_out(c)


@router.get("/campaigns", response_model=Page[CampaignOut])
def list_campaigns(
    engine: EngineDep,
    who: PrincipalDep,
    merchant_id: Annotated[str | None, Query(max_length=64)] = None,
    status: Literal["active", "paused"] | None = None,
    product_id: Annotated[str | None, Query(max_length=64)] = None,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Page[CampaignOut]:
    """The caller's campaigns (the operator's: all, or one merchant's), newest first."""
    owner = merchant_id if who.is_operator else who.merchant_id
    camps = [
        c
        for c in engine.store.list_campaigns(owner)
        if (status is None or c.status.value == status)
        and (product_id is None or product_id in c.product_ids)
    ]
    camps.sort(key=lambda c: (-c.created_ms, c.id))
    items, total = page(camps, offset, limit)
    return Page(items=[campaign_out(c) for c in items], total=total, offset=offset, limit=limit)


@router.get("/campaigns/{campaign_id}", response_model=CampaignOut, responses={404: {"model": ErrorOut}})
def get_campaign(campaign_id: str, engine: EngineDep, who: PrincipalDep) -> CampaignOut:
    return campaign_out(visible_campaign(engine, who, campaign_id))


@router.patch(
    "/campaigns/{campaign_id}",
    response_model=CampaignOut,
    responses={404: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)
def update_campaign(
    campaign_id: str, body: CampaignPatch, engine: EngineDep, who: PrincipalDep
) -> CampaignOut:
    """Change name, products, target ROI, daily budget or status; fields left out keep their value."""
    c = visible_campaign(engine, who, campaign_id)
    changes: dict[str, object] = {}
    if body.name is not None:
        changes["name"] = body.name
    if body.product_ids is not None:
        changes["product_ids"] = check_products(engine, c.merchant_id, body.product_ids)
    if body.target_roi is not None:
        changes["target_roi"] = body.target_roi
    if body.daily_budget_micros is not None:
        changes["daily_budget_micros"] = Micros(body.daily_budget_micros)
    if body.status is not None:
        changes["status"] = CampaignStatus(body.status)
    new = dataclasses.replace(c, **changes)  # type: ignore[arg-type]
    if new != c:
        engine.update_campaign(new)
    return campaign_out(new)


def _set_status(engine: Engine, who: Principal, campaign_id: str, status: CampaignStatus) -> CampaignOut:
    c = visible_campaign(engine, who, campaign_id)
    if c.status is not status:
        c = dataclasses.replace(c, status=status)
        engine.update_campaign(c)
    return campaign_out(c)


@router.post(
    "/campaigns/{campaign_id}/pause", response_model=CampaignOut, responses={404: {"model": ErrorOut}}
)
def pause_campaign(campaign_id: str, engine: EngineDep, who: PrincipalDep) -> CampaignOut:
    """Stop serving the campaign's ads (idempotent); spend so far is still settled."""
    return _set_status(engine, who, campaign_id, CampaignStatus.PAUSED)


@router.post(
    "/campaigns/{campaign_id}/resume", response_model=CampaignOut, responses={404: {"model": ErrorOut}}
)
def resume_campaign(campaign_id: str, engine: EngineDep, who: PrincipalDep) -> CampaignOut:
    return _set_status(engine, who, campaign_id, CampaignStatus.ACTIVE)
