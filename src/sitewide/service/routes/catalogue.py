from __future__ import annotations

from fastapi import APIRouter, Request

from sitewide.domain.money import Micros
from sitewide.domain.types import Product, Shop, ValidationError
from sitewide.service.deps import AccountsDep, EngineDep, OperatorDep
from sitewide.service.schemas import CatalogueIn, CatalogueOut, ErrorOut

router = APIRouter(tags=["catalogue"], responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}})


@router.post("/catalogue", response_model=CatalogueOut, responses={422: {"model": ErrorOut}})
def import_catalogue(
    body: CatalogueIn, engine: EngineDep, accounts: AccountsDep, request: Request, _: OperatorDep
) -> CatalogueOut:
    """Operator only: bulk upsert shops and products (merchants named by shops are registered), then rebuild
    the serving index."""
    known_shops = {s.id for s in body.shops} | {s.id for s in engine.store.list_shops()}
    missing = sorted({p.shop_id for p in body.products} - known_shops)
    if missing:
        raise ValidationError(f"unknown shop ids: {', '.join(missing[:5])}")
    accounts.ensure_merchants(s.merchant_id for s in body.shops)
    engine.store.upsert_shops(Shop(s.id, s.merchant_id, s.name) for s in body.shops)
    engine.store.upsert_products(
        Product(p.id, p.shop_id, p.title, p.category, Micros(p.price_micros), p.brand) for p in body.products
    )
    engine.reload()
    request.app.state.catalogue_version += 1
    return CatalogueOut(
        shops=len(body.shops),
        products=len(body.products),
        catalogue_version=request.app.state.catalogue_version,
    )


@router.get("/catalogue/ids")
def catalogue_ids(engine: EngineDep, request: Request, _: OperatorDep) -> dict[str, object]:
    """Operator only: the order of products that ``/serve/batch`` indexes into, and of campaigns for
    ``campaign_idx``."""
    return {
        "catalogue_version": request.app.state.catalogue_version,
        "product_ids": list(engine.catalogue_ids()),
        "campaign_ids": list(engine.campaign_ids()),
    }
