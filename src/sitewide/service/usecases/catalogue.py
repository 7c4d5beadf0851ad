"""The catalogue: shops, products (JSON or CSV batches), the operator's bulk import, and the quality signals
(products' pool signals, shops' service metrics) that drive eligibility and the shop score. A write that
changes what serving indexes updates the index in place (``Engine.upsert_products``) and moves the catalogue
version on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sitewide.api.schemas import CatalogueIn, MetricsIn, ProductIn, ShopCreate, SignalsIn
from sitewide.domain.accounts import Principal
from sitewide.domain.eligibility import ProductSignals
from sitewide.domain.money import Micros
from sitewide.domain.shop_score import ShopMetrics
from sitewide.domain.types import Conflict, NotFound, Product, Shop, ValidationError
from sitewide.engine import Engine
from sitewide.ports import ServiceRecords, Store
from sitewide.service.scope import owner_filter, shop_owners, visible_product
from sitewide.service.usecases.campaigns import acting_merchant


@dataclass
class CatalogueVersion:
    """Moves on at every catalogue write: ``/serve/batch`` answers index into the catalogue of one version."""

    value: int = 1

    def bump(self) -> int:
        self.value += 1
        return self.value


def is_eligible(engine: Engine, product_id: str) -> bool:
    try:
        return engine.eligibility(product_id).eligible
    except NotFound:
        return False


def visible_products(
    store: Store, who: Principal, merchant_id: str | None = None
) -> list[tuple[Product, str]]:
    """The caller's products with their merchant, by id (``merchant_id``: only that merchant's)."""
    owners = shop_owners(store)
    out = []
    for p in sorted(store.list_products(), key=lambda p: p.id):
        owner = owners.get(p.shop_id)
        if owner is None or not who.can_see(owner) or (merchant_id is not None and owner != merchant_id):
            continue
        out.append((p, owner))
    return out


def list_shops(store: Store, who: Principal, merchant_id: str | None = None) -> list[Shop]:
    """The caller's shops (the operator's: all, or one merchant's), by id."""
    owner = owner_filter(who, merchant_id)
    return sorted(
        (s for s in store.list_shops() if owner is None or s.merchant_id == owner), key=lambda s: s.id
    )


def create_shop(store: Store, accounts: ServiceRecords, who: Principal, body: ShopCreate) -> Shop:
    """A merchant opens a shop for itself; the operator for the merchant named in ``merchant_id``."""
    owner = acting_merchant(who, accounts, body.merchant_id, "creates a shop", "open shops")
    if store.get_shop(body.id) is not None:
        raise Conflict(f"shop id {body.id} is not available: choose another id")
    shop = Shop(body.id, owner, body.name)
    store.upsert_shops([shop])
    return shop


def _product(p: ProductIn) -> Product:
    return Product(p.id, p.shop_id, p.title, p.category, Micros(p.price_micros), p.brand)


def import_products(
    engine: Engine, store: Store, version: CatalogueVersion, who: Principal, items: Sequence[ProductIn]
) -> int:
    """Validate every row (owned shop, id not taken by another merchant), then upsert all in one write and
    into serving. Returns the new catalogue version."""
    owners = shop_owners(store)
    bad_shops = sorted({p.shop_id for p in items if not who.can_see(owners.get(p.shop_id, "\0"))})
    if bad_shops:
        raise ValidationError(f"unknown shop ids: {', '.join(bad_shops[:5])}")
    ids = [p.id for p in items]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise ValidationError(f"duplicate product ids in the batch: {', '.join(dup[:5])}")
    for p in items:
        old = store.get_product(p.id)
        if old is not None and owners.get(old.shop_id) != owners.get(p.shop_id):
            raise Conflict(f"product id {p.id} is not available: choose another id")
    products = [_product(p) for p in items]
    store.upsert_products(products)
    engine.upsert_products(products)  # no rebuild: the index takes the new vectors
    return version.bump()


def remove_product(
    engine: Engine, store: Store, version: CatalogueVersion, who: Principal, product_id: str
) -> int:
    """Delete a product of the caller's shops from the catalogue and from serving at once (no reload; its
    events and reports stay). Returns the new catalogue version."""
    visible_product(store, who, product_id)  # another merchant's product: not found
    store.delete_products([product_id])
    engine.remove_products([product_id])
    return version.bump()


def import_catalogue(
    engine: Engine, store: Store, accounts: ServiceRecords, version: CatalogueVersion, body: CatalogueIn
) -> int:
    """Operator: bulk upsert shops and products (merchants named by shops are registered), then into
    serving. Returns the new catalogue version."""
    known_shops = {s.id for s in body.shops} | {s.id for s in store.list_shops()}
    missing = sorted({p.shop_id for p in body.products} - known_shops)
    if missing:
        raise ValidationError(f"unknown shop ids: {', '.join(missing[:5])}")
    accounts.ensure_merchants(s.merchant_id for s in body.shops)
    store.upsert_shops(Shop(s.id, s.merchant_id, s.name) for s in body.shops)
    products = [_product(p) for p in body.products]
    store.upsert_products(products)
    engine.upsert_products(products)
    return version.bump()


def put_signals(engine: Engine, store: Store, accounts: ServiceRecords, body: SignalsIn) -> int:
    """Operator: products' pool signals (price, category and shop from the catalogue); the pool is recomputed
    at once. Returns how many were stored."""
    sigs: list[ProductSignals] = []
    unknown: list[str] = []
    for s in body.products:
        p = store.get_product(s.product_id)
        if p is None:
            unknown.append(s.product_id)
            continue
        sigs.append(
            ProductSignals(
                p.id,
                p.category,
                p.shop_id,
                price_micros=int(p.price_micros),
                **s.model_dump(exclude={"product_id"}),
            )
        )
    if unknown:
        raise ValidationError(f"unknown product ids: {', '.join(unknown[:5])}")
    accounts.put_product_signals(sigs)
    accounts.add_pool_changes(engine.set_quality(sigs, []))  # products that left the pool or came back
    return len(sigs)


def put_metrics(engine: Engine, store: Store, accounts: ServiceRecords, body: MetricsIn) -> int:
    """Operator: shops' service metrics over the last window; rescoring is immediate."""
    unknown = sorted({m.shop_id for m in body.shops} - {s.id for s in store.list_shops()})
    if unknown:
        raise ValidationError(f"unknown shop ids: {', '.join(unknown[:5])}")
    metrics = [ShopMetrics(**m.model_dump()) for m in body.shops]
    accounts.put_shop_metrics(metrics)
    accounts.add_pool_changes(engine.set_quality([], metrics))
    return len(metrics)
