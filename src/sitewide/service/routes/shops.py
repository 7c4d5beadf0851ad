from __future__ import annotations

from fastapi import APIRouter

from sitewide.api.schemas import MetricsIn, Page, ShopCreate, ShopOut, ShopScoreOut, StoredOut
from sitewide.service.deps import (
    AccountsDep,
    EngineDep,
    ListingDep,
    OperatorDep,
    PrincipalDep,
    StoreDep,
    errors,
)
from sitewide.service.present import shop_out, shop_score_out
from sitewide.service.scope import visible_shop
from sitewide.service.usecases import catalogue as uc

router = APIRouter(tags=["shops"], responses=errors(401))


@router.get("/shops", response_model=Page[ShopOut])
def list_shops(ls: ListingDep) -> Page[ShopOut]:
    """The caller's shops (the operator's: all, or one merchant's with ``merchant_id``)."""
    return ls.paging.page(uc.list_shops(ls.store, ls.who, ls.merchant_id), shop_out)


@router.post("/shops", status_code=201, response_model=ShopOut, responses=errors(409, 422))
def create_shop(body: ShopCreate, store: StoreDep, accounts: AccountsDep, who: PrincipalDep) -> ShopOut:
    """Open a shop: a merchant for itself; the operator for the merchant named in ``merchant_id``."""
    return shop_out(uc.create_shop(store, accounts, who, body))


@router.get("/shops/{shop_id}", response_model=ShopOut, responses=errors(404))
def get_shop(shop_id: str, store: StoreDep, who: PrincipalDep) -> ShopOut:
    return shop_out(visible_shop(store, who, shop_id))


@router.get("/shops/{shop_id}/score", response_model=ShopScoreOut, responses=errors(404))
def shop_score(shop_id: str, engine: EngineDep, store: StoreDep, who: PrincipalDep) -> ShopScoreOut:
    """The shop's experience score (0–100) with each factor's part, and the delivery multiplier it gives.

    A shop without service metrics is not scored: its multiplier is the neutral 1.0 and the eligibility
    rule ``shop_score_floor`` passes it with a note."""
    visible_shop(store, who, shop_id)
    return shop_score_out(shop_id, engine.shop_score(shop_id))


@router.put("/shops/metrics", response_model=StoredOut, responses=errors(403, 422))
def put_metrics(
    body: MetricsIn, engine: EngineDep, store: StoreDep, accounts: AccountsDep, _: OperatorDep
) -> StoredOut:
    """Operator (platform) only: shops' service metrics over the last window; rescoring is immediate."""
    return StoredOut(stored=uc.put_metrics(engine, store, accounts, body))
