"""Brand kits and the creative studio: generate drafts with any :class:`~sitewide.ports.TextGenerator`, check
every draft, keep the verdicts. Adapter layer: it sees ports and the domain only."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sitewide.creative.extract import Review, extract
from sitewide.domain.creative import (
    BrandKit,
    CheckPolicy,
    CopyRequest,
    Creative,
    Lang,
    ProductFacts,
    ReviewEvidence,
    check_draft,
)
from sitewide.domain.types import Product
from sitewide.ports import Store, TextGenerator


class BrandKitBook:
    """Append-only brand-kit versions per shop (the latest is in force): in the ``store`` when one is given
    (``Store.put_brand_kit`` / ``brand_kit_versions``), else in memory."""

    def __init__(self, store: Store | None = None) -> None:
        self.store = store
        self._versions: dict[str, list[BrandKit]] = {}
        self._lock = threading.Lock()

    def put(self, kit: BrandKit) -> BrandKit:
        """Store ``kit`` as the shop's next version and return it with that version number."""
        if self.store is not None:
            return self.store.put_brand_kit(kit)
        with self._lock:
            hist = self._versions.setdefault(kit.shop_id, [])
            stored = replace(kit, version=len(hist) + 1)
            hist.append(stored)
            return stored

    def get(self, shop_id: str, brand: str = "") -> BrandKit:
        """The latest version, or the platform default (the brand name as the one required term)."""
        hist = self.history(shop_id)
        if hist:
            return hist[-1]
        return BrandKit(shop_id=shop_id, version=1, required_terms=(brand,) if brand else ())

    def history(self, shop_id: str) -> list[BrandKit]:
        if self.store is not None:
            return self.store.brand_kit_versions(shop_id)
        return list(self._versions.get(shop_id, []))


def facts_of(product: Product, attributes: Sequence[tuple[str, str]] = (), list_price_micros: int | None = None,
             currency: str = "USD") -> ProductFacts:  # fmt: skip
    """Catalogue facts of a stored product (the packaged catalogue has title, brand, category and price)."""
    return ProductFacts(
        product_id=product.id,
        shop_id=product.shop_id,
        title=product.title,
        brand=product.brand,
        category=product.category,
        price_micros=int(product.price_micros),
        list_price_micros=list_price_micros,
        attributes=tuple(attributes),
        currency=currency,
    )


def creative_id(product_id: str, lang: Lang, title: str, points: Sequence[str]) -> str:
    h = hashlib.sha1("\x1f".join([product_id, lang.value, title, *points]).encode()).hexdigest()
    return f"cr-{h[:12]}"


@dataclass(frozen=True, slots=True)
class StudioResult:
    evidence: ReviewEvidence
    creatives: tuple[Creative, ...]  # all drafts, checked; ``approved`` is the served subset

    @property
    def approved(self) -> tuple[Creative, ...]:
        return tuple(c for c in self.creatives if c.check.passed)


class CreativeStudio:
    """Generate → check. Every draft is checked against the facts, the reviews and the shop's brand kit."""

    def __init__(self, generator: TextGenerator, policy: CheckPolicy | None = None) -> None:
        self.generator = generator
        self.policy = policy or CheckPolicy()

    def make(
        self,
        facts: ProductFacts,
        reviews: Sequence[Review],
        kit: BrandKit,
        langs: Sequence[Lang] = (Lang.EN,),
        n: int = 4,
    ) -> StudioResult:
        evidence = extract(facts.product_id, reviews)
        out: list[Creative] = []
        seen: set[str] = set()
        for lang in langs:
            for d in self.generator.generate(CopyRequest(facts, evidence, kit, lang, n)):
                cid = creative_id(facts.product_id, lang, d.title, d.points)
                if cid in seen:
                    continue
                seen.add(cid)
                chk = check_draft(d, facts, evidence, kit, self.policy)
                out.append(Creative(cid, facts.product_id, facts.shop_id, kit.version, d, chk))
        return StudioResult(evidence, tuple(out))


__all__ = ["BrandKitBook", "CreativeStudio", "StudioResult", "creative_id", "facts_of"]
