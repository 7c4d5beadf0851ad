from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from sitewide.domain.shop_score import ShopMetrics
from sitewide.domain.types import Conflict, Shop, ValidationError
from sitewide.service.deps import AccountsDep, EngineDep, OperatorDep, PrincipalDep
from sitewide.service.schemas import (
    ErrorOut,
    FactorOut,
    MetricsIn,
    Page,
    ShopCreate,
    ShopOut,
    ShopScoreOut,
    StoredOut,
)
from sitewide.service.scope import page, visible_shop

router = APIRouter(tags=["shops"], responses={401: {"model": ErrorOut}})


def shop_out(s: Shop) -> ShopOut:
    return ShopOut(id=s.id, merchant_id=s.merchant_id, name=s.name)


@router.get("/shops", response_model=Page[ShopOut])
def list_shops(
    engine: EngineDep,
    who: PrincipalDep,
    merchant_id: Annotated[str | None, Query(max_length=64)] = None,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Page[ShopOut]:
    """The caller's shops (the operator's: all, or one merchant's with ``merchant_id``)."""
    owner = who.merchant_id if not who.is_operator else merchant_id
    shops = [s for s in engine.store.list_shops() if owner is None or s.merchant_id == owner]
    items, total = page(sorted(shops, key=lambda s: s.id), offset, limit)
    return Page(items=[shop_out(s) for s in items], total=total, offset=offset, limit=limit)


@router.post(
    "/shops",
    status_code=201,
    response_model=ShopOut,
    responses={409: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)
def create_shop(
    body: ShopCreate, engine: EngineDep, accounts: AccountsDep, who: PrincipalDep, request: Request
) -> ShopOut:
    """Open a shop: a merchant for itself; the operator for the merchant named in ``merchant_id``."""
    if who.is_operator:
        if body.merchant_id is None:
            raise ValidationError("merchant_id: required when the operator creates a shop")
        owner = body.merchant_id
        if accounts.get_merchant(owner) is None:
            raise ValidationError(f"merchant_id: unknown merchant {owner}")
    else:
        assert who.merchant_id is not None
        if body.merchant_id not in (None, who.merchant_id):
            raise ValidationError("merchant_id: a merchant can open shops only for itself")
        owner = who.merchant_id
    if engine.store.get_shop(body.id) is not None:
        raise Conflict(f"shop id {body.id} is not available: choose another id")
    shop = Shop(body.id, owner, body.name)
    engine.store.upsert_shops([shop])
    return shop_out(shop)


@router.get("/shops/{shop_id}", response_model=ShopOut, responses={404: {"model": ErrorOut}})
def get_shop(shop_id: str, engine: EngineDep, who: PrincipalDep) -> ShopOut:
    return shop_out(visible_shop(engine, who, shop_id))


@router.get("/shops/{shop_id}/score", response_model=ShopScoreOut, responses={404: {"model": ErrorOut}})
def shop_score(shop_id: str, engine: EngineDep, who: PrincipalDep) -> ShopScoreOut:
    """The shop's experience score (0–100) with each factor's part, and the delivery multiplier it gives.

    A shop without service metrics is not scored: its multiplier is the neutral 1.0 and the eligibility
    rule ``shop_score_floor`` passes it with a note."""
    visible_shop(engine, who, shop_id)
    sc = engine.shop_score(shop_id)
    if sc is None:
        return ShopScoreOut(
            shop_id=shop_id, scored=False, score=None, multiplier=1.0, config_version=None, factors=[]
        )
    return ShopScoreOut(
        shop_id=shop_id,
        scored=True,
        score=sc.score,
        multiplier=sc.multiplier,
        config_version=sc.config_version,
        factors=[
            FactorOut(
                name=f.name,
                raw=f.raw,
                used=f.used,
                sub_score=f.sub_score,
                weight=f.weight,
                contribution=f.contribution,
                note=f.note,
            )
            for f in sc.factors
        ],
    )


@router.put(
    "/shops/metrics",
    response_model=StoredOut,
    responses={403: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)
def put_metrics(body: MetricsIn, engine: EngineDep, accounts: AccountsDep, _: OperatorDep) -> StoredOut:
    """Operator (platform) only: shops' service metrics over the last window; rescoring is immediate."""
    unknown = sorted({m.shop_id for m in body.shops} - {s.id for s in engine.store.list_shops()})
    if unknown:
        raise ValidationError(f"unknown shop ids: {', '.join(unknown[:5])}")
    metrics = [ShopMetrics(**m.model_dump()) for m in body.shops]
    accounts.put_shop_metrics(metrics)
    engine.set_quality([], metrics)
    return StoredOut(stored=len(metrics))
