from __future__ import annotations

from fastapi import APIRouter, Request

from sitewide.domain.money import Micros
from sitewide.domain.types import Product, Shop, ValidationError
from sitewide.service.deps import EngineDep
from sitewide.service.schemas import CatalogueIn, CatalogueOut

router = APIRouter(tags=["catalogue"])


@router.post("/catalogue", response_model=CatalogueOut)
def import_catalogue(body: CatalogueIn, engine: EngineDep, request: Request) -> CatalogueOut:
    """Bulk upsert shops and products, then rebuild the serving index."""
    known_shops = {s.id for s in body.shops} | {s.id for s in engine.store.list_shops()}
    missing = sorted({p.shop_id for p in body.products} - known_shops)
    if missing:
        raise ValidationError(f"unknown shop ids: {', '.join(missing[:5])}")
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
def catalogue_ids(engine: EngineDep, request: Request) -> dict[str, object]:
    """The order of products that ``/serve/batch`` indexes into, and of campaigns for ``campaign_idx``."""
    return {
        "catalogue_version": request.app.state.catalogue_version,
        "product_ids": list(engine.catalogue_ids()),
        "campaign_ids": list(engine.campaign_ids()),
    }
