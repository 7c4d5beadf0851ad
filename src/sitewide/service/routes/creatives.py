"""Creatives: brand kits per shop, generate → check → rotate per product, pins, banners and results."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import FileResponse

from sitewide.api.creative import BrandKitIn, BrandKitOut, GenerateIn, PinIn, ProductCreativesOut
from sitewide.creative.extract import Review
from sitewide.domain.creative import Lang
from sitewide.domain.types import NotFound
from sitewide.service.deps import DeskDep, EngineDep, PrincipalDep, StoreDep, errors
from sitewide.service.present import product_creatives_out
from sitewide.service.scope import visible_product, visible_shop
from sitewide.service.usecases import creatives as uc

router = APIRouter(tags=["creatives"], responses=errors(401, 404))
Id = Annotated[str, Path(min_length=1, max_length=64)]


@router.put("/shops/{shop_id}/brand-kit", response_model=BrandKitOut, responses=errors(422))
def put_brand_kit(
    shop_id: Id, body: BrandKitIn, store: StoreDep, desk: DeskDep, who: PrincipalDep
) -> BrandKitOut:
    """A new version of the shop's brand kit (tone words, banned words and claims, required terms, colours,
    logo, fonts); creatives generated from now on are written and checked against it."""
    visible_shop(store, who, shop_id)
    return BrandKitOut.of(uc.put_kit(desk, body.to_kit(shop_id)))


@router.get("/shops/{shop_id}/brand-kit", response_model=BrandKitOut)
def get_brand_kit(shop_id: Id, store: StoreDep, desk: DeskDep, who: PrincipalDep) -> BrandKitOut:
    """The kit in force (the platform default — the shop's name as required term — until one is set)."""
    s = visible_shop(store, who, shop_id)
    return BrandKitOut.of(desk.kits.get(shop_id, s.name))


@router.post("/products/{product_id}/creatives", response_model=ProductCreativesOut, responses=errors(422))
def generate_creatives(
    product_id: Id, body: GenerateIn, engine: EngineDep, store: StoreDep, desk: DeskDep, who: PrincipalDep
) -> ProductCreativesOut:
    """Write titles and selling points from the catalogue facts, the attributes and the review texts given,
    check every one (a rejected creative names the rules it broke) and put the approved ones into rotation:
    they compete by Thompson sampling on CTR per placement whenever the product wins a promoted slot."""
    p, _ = visible_product(store, who, product_id)
    uc.generate(
        engine,
        desk,
        p,
        [Lang(x) for x in dict.fromkeys(body.langs)],
        [Review(r.text, r.rating, r.title) for r in body.reviews],
        [(a, v) for a, v in body.attributes],
        body.list_price_micros,
        body.banners,
    )
    return product_creatives_out(uc.product_creatives(engine, desk, product_id))


@router.get("/products/{product_id}/creatives", response_model=ProductCreativesOut)
def list_creatives(
    product_id: Id, engine: EngineDep, store: StoreDep, desk: DeskDep, who: PrincipalDep
) -> ProductCreativesOut:
    """The product's creatives with their verdicts and, per placement, impressions, clicks, orders, CTR, CVR
    and the posterior probability of being the best."""
    visible_product(store, who, product_id)
    return product_creatives_out(uc.product_creatives(engine, desk, product_id))


@router.put("/products/{product_id}/creatives/pin", response_model=ProductCreativesOut)
def pin_creative(
    product_id: Id, body: PinIn, engine: EngineDep, store: StoreDep, desk: DeskDep, who: PrincipalDep
) -> ProductCreativesOut:
    """Always show one approved creative (``creative_id: null`` hands the choice back to the bandit)."""
    visible_product(store, who, product_id)
    engine.creatives.pin(product_id, body.creative_id)
    return product_creatives_out(uc.product_creatives(engine, desk, product_id))


@router.get("/creatives/banners/{name}", response_class=FileResponse)
def banner(
    name: Annotated[str, Path(pattern=r"^cr-[0-9a-f]{12}\.png$")],
    engine: EngineDep,
    store: StoreDep,
    desk: DeskDep,
    who: PrincipalDep,
) -> FileResponse:
    """The banner PNG of an approved creative of a product the caller can see."""
    cid = name.removesuffix(".png")
    try:
        c = engine.creatives.get(cid)
    except NotFound:
        raise NotFound(f"no banner {name}") from None
    visible_product(store, who, c.product_id)
    return FileResponse(uc.banner_path(desk, cid), media_type="image/png")
