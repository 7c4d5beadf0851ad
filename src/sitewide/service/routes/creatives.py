"""Creatives: brand kits per shop, generate → check → rotate per product, pins, banners and results."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import FileResponse

from sitewide.creative.extract import Review
from sitewide.domain.creative import Lang
from sitewide.domain.types import NotFound
from sitewide.engine import Engine
from sitewide.service import creatives as uc
from sitewide.service.deps import EngineDep, PrincipalDep
from sitewide.service.schemas import ErrorOut
from sitewide.service.schemas_creative import (
    BrandKitIn,
    BrandKitOut,
    CreativeOut,
    GenerateIn,
    PinIn,
    ProductCreativesOut,
)
from sitewide.service.scope import visible_product, visible_shop

router = APIRouter(tags=["creatives"], responses={401: {"model": ErrorOut}, 404: {"model": ErrorOut}})
Id = Annotated[str, Path(min_length=1, max_length=64)]


def get_desk(request: Request) -> uc.CreativeDesk:
    desk: uc.CreativeDesk = request.app.state.creatives
    return desk


DeskDep = Annotated[uc.CreativeDesk, Depends(get_desk)]


def product_view(engine: Engine, desk: uc.CreativeDesk, product_id: str) -> ProductCreativesOut:
    res, stats = uc.creatives_of(engine, desk, product_id)
    creatives = res.creatives if res else tuple(engine.store.list_creatives(product_id))
    pinned = engine.creatives.pinned(product_id)
    why = Counter(r for c in creatives for r in c.check.rules)
    return ProductCreativesOut(
        product_id=product_id,
        pinned=pinned,
        approved=sum(c.check.passed for c in creatives),
        rejected=sum(not c.check.passed for c in creatives),
        rejected_by_rule=dict(why),
        review_aspects=[(a.aspect, a.positive, a.negative) for a in res.evidence.aspects] if res else [],
        creatives=[CreativeOut.of(c, stats, pinned) for c in creatives],
    )


@router.put("/shops/{shop_id}/brand-kit", response_model=BrandKitOut, responses={422: {"model": ErrorOut}})
def put_brand_kit(
    shop_id: Id, body: BrandKitIn, engine: EngineDep, desk: DeskDep, who: PrincipalDep
) -> BrandKitOut:
    """A new version of the shop's brand kit (tone words, banned words and claims, required terms, colours,
    logo, fonts); creatives generated from now on are written and checked against it."""
    visible_shop(engine, who, shop_id)
    return BrandKitOut.of(uc.put_kit(desk, body.to_kit(shop_id)))


@router.get("/shops/{shop_id}/brand-kit", response_model=BrandKitOut)
def get_brand_kit(shop_id: Id, engine: EngineDep, desk: DeskDep, who: PrincipalDep) -> BrandKitOut:
    """The kit in force (the platform default — the shop's name as required term — until one is set)."""
    s = visible_shop(engine, who, shop_id)
    return BrandKitOut.of(desk.kits.get(shop_id, s.name))


@router.post(
    "/products/{product_id}/creatives",
    response_model=ProductCreativesOut,
    responses={422: {"model": ErrorOut}},
)
def generate_creatives(
    product_id: Id, body: GenerateIn, engine: EngineDep, desk: DeskDep, who: PrincipalDep
) -> ProductCreativesOut:
    """Write titles and selling points from the catalogue facts, the attributes and the review texts given,
    check every one (a rejected creative names the rules it broke) and put the approved ones into rotation:
    they compete by Thompson sampling on CTR per placement whenever the product wins a promoted slot."""
    p, _ = visible_product(engine, who, product_id)
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
    return product_view(engine, desk, product_id)


@router.get("/products/{product_id}/creatives", response_model=ProductCreativesOut)
def list_creatives(
    product_id: Id, engine: EngineDep, desk: DeskDep, who: PrincipalDep
) -> ProductCreativesOut:
    """The product's creatives with their verdicts and, per placement, impressions, clicks, orders, CTR, CVR
    and the posterior probability of being the best."""
    visible_product(engine, who, product_id)
    return product_view(engine, desk, product_id)


@router.put("/products/{product_id}/creatives/pin", response_model=ProductCreativesOut)
def pin_creative(
    product_id: Id, body: PinIn, engine: EngineDep, desk: DeskDep, who: PrincipalDep
) -> ProductCreativesOut:
    """Always show one approved creative (``creative_id: null`` hands the choice back to the bandit)."""
    visible_product(engine, who, product_id)
    engine.creatives.pin(product_id, body.creative_id)
    return product_view(engine, desk, product_id)


@router.get("/creatives/banners/{name}", response_class=FileResponse)
def banner(name: Annotated[str, Path(pattern=r"^cr-[0-9a-f]{12}\.png$")], engine: EngineDep, desk: DeskDep,
           who: PrincipalDep) -> FileResponse:  # fmt: skip
    """The banner PNG of an approved creative of a product the caller can see."""
    cid = name.removesuffix(".png")
    try:
        c = engine.creatives.get(cid)
    except NotFound:
        raise NotFound(f"no banner {name}") from None
    visible_product(engine, who, c.product_id)
    return FileResponse(uc.banner_path(desk, cid), media_type="image/png")
