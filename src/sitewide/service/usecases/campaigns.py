"""Campaigns: create (ids, ownership of the products, who may act for whom), change, pause and resume."""

from __future__ import annotations

import dataclasses
import uuid

from sitewide.api.schemas import CampaignIn, CampaignPatch
from sitewide.domain.accounts import Principal
from sitewide.domain.money import Micros
from sitewide.domain.types import Campaign, CampaignStatus, ValidationError
from sitewide.engine import Engine
from sitewide.ports import ServiceRecords, Store
from sitewide.service.scope import owner_filter, shop_owners, visible_campaign


def new_campaign_id() -> str:
    return f"c-{uuid.uuid4().hex[:12]}"


def check_products(store: Store, merchant_id: str, product_ids: list[str]) -> tuple[str, ...]:
    """Every product must exist and belong to one of the merchant's shops (others' look unknown)."""
    owners = shop_owners(store)
    bad = []
    for pid in dict.fromkeys(product_ids):
        p = store.get_product(pid)
        if p is None or owners.get(p.shop_id) != merchant_id:
            bad.append(pid)
    if bad:
        raise ValidationError(
            f"product_ids: unknown product ids (or not of merchant {merchant_id}): {', '.join(bad[:5])}"
        )
    return tuple(dict.fromkeys(product_ids))


def acting_merchant(
    who: Principal, accounts: ServiceRecords, merchant_id: str | None, creates: str, may: str
) -> str:
    """The merchant a create acts for: a merchant itself; the operator for the (known) merchant it names.
    ``creates`` and ``may`` word the messages ("creates a shop", "open shops")."""
    if who.is_operator:
        if merchant_id is None:
            raise ValidationError(f"merchant_id: required when the operator {creates}")
        if accounts.get_merchant(merchant_id) is None:
            raise ValidationError(f"merchant_id: unknown merchant {merchant_id}")
        return merchant_id
    assert who.merchant_id is not None
    if merchant_id not in (None, who.merchant_id):
        raise ValidationError(f"merchant_id: a merchant can {may} only for itself")
    return who.merchant_id


def create_campaign(
    engine: Engine, store: Store, accounts: ServiceRecords, who: Principal, body: CampaignIn
) -> Campaign:
    merchant_id = acting_merchant(who, accounts, body.merchant_id, "creates a campaign", "create campaigns")
    if body.created_ms is not None and not who.is_operator:
        raise ValidationError("created_ms: only the operator may set when a campaign started")
    c = Campaign(
        id=new_campaign_id(),
        merchant_id=merchant_id,
        name=body.name,
        product_ids=check_products(store, merchant_id, body.product_ids),
        target_roi=body.target_roi,
        daily_budget_micros=Micros(body.daily_budget_micros),
        created_ms=engine.clock.now_ms() if body.created_ms is None else body.created_ms,
    )
    engine.add_campaign(c)
    return c


def list_campaigns(
    store: Store,
    who: Principal,
    merchant_id: str | None = None,
    status: str | None = None,
    product_id: str | None = None,
) -> list[Campaign]:
    """The caller's campaigns (the operator's: all, or one merchant's), newest first."""
    owner = owner_filter(who, merchant_id)
    camps = [
        c
        for c in store.list_campaigns(owner)
        if (status is None or c.status.value == status)
        and (product_id is None or product_id in c.product_ids)
    ]
    camps.sort(key=lambda c: (-c.created_ms, c.id))
    return camps


def update_campaign(
    engine: Engine, store: Store, who: Principal, campaign_id: str, body: CampaignPatch
) -> Campaign:
    """Change name, products, target ROI, daily budget or status; fields left out keep their value."""
    c = visible_campaign(store, who, campaign_id)
    new = dataclasses.replace(
        c,
        name=c.name if body.name is None else body.name,
        product_ids=(
            c.product_ids
            if body.product_ids is None
            else check_products(store, c.merchant_id, body.product_ids)
        ),
        target_roi=c.target_roi if body.target_roi is None else body.target_roi,
        daily_budget_micros=(
            c.daily_budget_micros if body.daily_budget_micros is None else Micros(body.daily_budget_micros)
        ),
        status=c.status if body.status is None else CampaignStatus(body.status),
    )
    if new != c:
        engine.update_campaign(new)
    return new


def set_status(
    engine: Engine, store: Store, who: Principal, campaign_id: str, status: CampaignStatus
) -> Campaign:
    """Pause or resume (idempotent); spend so far is still settled."""
    c = visible_campaign(store, who, campaign_id)
    if c.status is not status:
        c = dataclasses.replace(c, status=status)
        engine.update_campaign(c)
    return c
