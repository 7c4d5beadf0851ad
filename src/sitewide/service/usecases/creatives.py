"""Use cases for creatives, shared by the JSON routes and the console page: brand kits, generate → check →
approve into the engine's rotation, banners, pins, results. Business rules live in the domain and in
``sitewide.creative``; this module only puts them together for one request."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sitewide.creative.extract import Review
from sitewide.creative.generate import OfflineGenerator
from sitewide.creative.image import compose, save_banner
from sitewide.creative.llm import LLMConfig, OpenAICompatibleGenerator
from sitewide.creative.studio import BrandKitBook, CreativeStudio, StudioResult, facts_of
from sitewide.domain.creative import BrandKit, Creative, Lang
from sitewide.domain.creative_bandit import ArmStats
from sitewide.domain.types import NotFound, Product, ValidationError
from sitewide.engine import Engine
from sitewide.ports import Store, TextGenerator
from sitewide.settings import Settings


@dataclass
class CreativeDesk:
    """What the service keeps for creatives: brand kits (in the store), the studio, where banners go, and the
    last generation per product (its review evidence is kept in memory only)."""

    kits: BrandKitBook
    studio: CreativeStudio
    banner_dir: Path
    results: dict[str, StudioResult]  # product id → the last generation: evidence and every creative, checked
    store: Store  # where every generated creative is kept with its verdict


@dataclass(frozen=True, slots=True)
class ProductCreatives:
    """A product's creatives (the last generation, else the stored ones), the rotation's counts and pin."""

    product_id: str
    creatives: tuple[Creative, ...]
    stats: list[ArmStats]
    pinned: str | None
    last: StudioResult | None


def build_desk(settings: Settings, store: Store) -> CreativeDesk:
    gen: TextGenerator = OfflineGenerator()
    if settings.llm_url:
        gen = OpenAICompatibleGenerator(
            LLMConfig(settings.llm_url, settings.llm_key or "", settings.llm_model, settings.llm_timeout_s),
            gen,
        )
    return CreativeDesk(BrandKitBook(store), CreativeStudio(gen), settings.data_dir / "banners", {}, store)


def restore(engine: Engine, store: Store) -> int:
    """Put the stored approved creatives of catalogue products back into the engine's rotation (at start-up;
    the rotation's counts start afresh). Returns how many products got creatives."""
    known = set(engine.catalogue_ids())
    by_product: dict[str, list[Creative]] = {}
    for c in store.list_creatives():
        if c.product_id in known and c.check.passed:
            by_product.setdefault(c.product_id, []).append(c)
    for pid, cs in by_product.items():
        engine.creatives.set_creatives(pid, cs)
    return len(by_product)


def generate(
    engine: Engine,
    desk: CreativeDesk,
    product: Product,
    langs: Sequence[Lang],
    reviews: Sequence[Review] = (),
    attributes: Sequence[tuple[str, str]] = (),
    list_price_micros: int | None = None,
    banners: bool = False,
) -> StudioResult:
    """Write creatives for a product, check each, and hand the approved ones to the engine's rotation (they
    replace the product's previous set; counts of creatives that stay are kept)."""
    if list_price_micros is not None and list_price_micros < int(product.price_micros):
        raise ValidationError("list_price_micros must be ≥ the product's price")
    facts = facts_of(product, attributes, list_price_micros)
    kit = desk.kits.get(product.shop_id, product.brand)
    res = desk.studio.make(facts, reviews, kit, langs)
    if banners:
        from dataclasses import replace

        made = []
        for c in res.creatives:
            if c.check.passed:
                save_banner(compose(c.draft, facts, kit), desk.banner_dir, c.id)
                c = replace(c, banner=f"{c.id}.png")
            made.append(c)
        res = StudioResult(res.evidence, tuple(made))
    desk.store.put_creatives(
        product.id, res.creatives
    )  # every draft with its verdict, replacing the last set
    engine.creatives.set_creatives(product.id, res.approved)
    desk.results[product.id] = res
    return res


def product_creatives(engine: Engine, desk: CreativeDesk, product_id: str) -> ProductCreatives:
    """The product's last generation (the stored creatives when none since start-up), the rotation's counts
    per creative and the pinned one."""
    res = desk.results.get(product_id)
    creatives = res.creatives if res else tuple(desk.store.list_creatives(product_id))
    return ProductCreatives(
        product_id, creatives, engine.creatives.stats(product_id), engine.creatives.pinned(product_id), res
    )


def banner_path(desk: CreativeDesk, creative_id: str) -> Path:
    p = desk.banner_dir / f"{creative_id}.png"
    if not creative_id.startswith("cr-") or not creative_id[3:].isalnum() or not p.is_file():
        raise NotFound(f"no banner for creative {creative_id}")
    return p


def put_kit(desk: CreativeDesk, kit: BrandKit) -> BrandKit:
    return desk.kits.put(kit)


__all__ = [
    "CreativeDesk",
    "ProductCreatives",
    "banner_path",
    "build_desk",
    "generate",
    "product_creatives",
    "put_kit",
    "restore",
]
