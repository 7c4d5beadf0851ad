from __future__ import annotations

import csv
import io
from decimal import Decimal, InvalidOperation
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request
from pydantic import ValidationError as PydanticError

from sitewide.domain.accounts import Principal
from sitewide.domain.eligibility import EligibilityDecision, ProductSignals
from sitewide.domain.money import Micros
from sitewide.domain.types import Conflict, NotFound, Product, ValidationError
from sitewide.engine import Engine
from sitewide.service.deps import AccountsDep, EngineDep, OperatorDep, PrincipalDep
from sitewide.service.schemas import (
    EligibilityOut,
    ErrorOut,
    ImportOut,
    Page,
    ProductIn,
    ProductOut,
    ProductsIn,
    ReasonOut,
    SignalsIn,
    StoredOut,
)
from sitewide.service.scope import page, shop_owners, visible_product

router = APIRouter(tags=["products"], responses={401: {"model": ErrorOut}})

MAX_CSV_BYTES = 10_000_000
CSV_COLUMNS = ("id", "shop_id", "title", "category", "price", "price_micros", "brand")


def _eligible(engine: Engine, product_id: str) -> bool:
    try:
        return engine.eligibility(product_id).eligible
    except NotFound:
        return False


def product_out(engine: Engine, p: Product, owner: str) -> ProductOut:
    return ProductOut(
        id=p.id,
        shop_id=p.shop_id,
        merchant_id=owner,
        title=p.title,
        category=p.category,
        price_micros=int(p.price_micros),
        brand=p.brand,
        eligible=_eligible(engine, p.id),
    )


def eligibility_out(d: EligibilityDecision) -> EligibilityOut:
    return EligibilityOut(
        product_id=d.product_id,
        eligible=d.eligible,
        policy_version=d.policy_version,
        reasons=[
            ReasonOut(
                rule=r.rule,
                version=r.version,
                passed=r.passed,
                code=r.code,
                message=r.message,
                numbers=dict(r.numbers),
            )
            for r in d.reasons
        ],
        failed=[r.code for r in d.reasons if not r.passed],
    )


@router.get("/products", response_model=Page[ProductOut])
def list_products(
    engine: EngineDep,
    who: PrincipalDep,
    shop_id: Annotated[str | None, Query(max_length=64)] = None,
    category: Annotated[str | None, Query(max_length=200)] = None,
    eligible: bool | None = None,
    q: Annotated[str | None, Query(max_length=200, description="substring of the title")] = None,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Page[ProductOut]:
    """The caller's products, filtered by shop, category, eligibility or a title substring."""
    owners = shop_owners(engine)
    rows = []
    for p in engine.store.list_products():
        owner = owners.get(p.shop_id)
        if owner is None or not who.can_see(owner):
            continue
        if shop_id is not None and p.shop_id != shop_id:
            continue
        if category is not None and p.category != category:
            continue
        if q and q.lower() not in p.title.lower():
            continue
        if eligible is not None and _eligible(engine, p.id) != eligible:
            continue
        rows.append((p, owner))
    rows.sort(key=lambda r: r[0].id)
    items, total = page(rows, offset, limit)
    return Page(items=[product_out(engine, p, o) for p, o in items], total=total, offset=offset, limit=limit)


def _import(engine: Engine, who: Principal, request: Request, items: list[ProductIn]) -> ImportOut:
    """Validate every row (owned shop, id not taken by another merchant), then upsert all in one write."""
    owners = shop_owners(engine)
    bad_shops = sorted({p.shop_id for p in items if not who.can_see(owners.get(p.shop_id, "\0"))})
    if bad_shops:
        raise ValidationError(f"unknown shop ids: {', '.join(bad_shops[:5])}")
    ids = [p.id for p in items]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise ValidationError(f"duplicate product ids in the batch: {', '.join(dup[:5])}")
    for p in items:
        old = engine.store.get_product(p.id)
        if old is not None and owners.get(old.shop_id) != owners.get(p.shop_id):
            raise Conflict(f"product id {p.id} is not available: choose another id")
    engine.store.upsert_products(
        Product(p.id, p.shop_id, p.title, p.category, Micros(p.price_micros), p.brand) for p in items
    )
    engine.reload()
    request.app.state.catalogue_version += 1
    return ImportOut(products=len(items), catalogue_version=request.app.state.catalogue_version)


@router.post(
    "/products",
    response_model=ImportOut,
    responses={409: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)
def upsert_products(body: ProductsIn, engine: EngineDep, who: PrincipalDep, request: Request) -> ImportOut:
    """Create or update products of the caller's shops (JSON batch ≤ 10,000)."""
    return _import(engine, who, request, list(body.products))


def parse_csv(text: str) -> list[ProductIn]:
    """Rows ``id,shop_id,title,category,price[,brand]`` (price in CNY, e.g. ``12.99``) or with
    ``price_micros`` instead of ``price``. Every bad row is reported by line number; none is stored."""
    try:
        return _parse_csv(text)
    except csv.Error as e:  # malformed CSV (NUL byte, unterminated quote, ...): the caller's error, not ours
        raise ValidationError(f"malformed CSV: {e}") from e


def _parse_csv(text: str) -> list[ProductIn]:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in ("id", "shop_id", "title", "category") if c not in header]
    if missing or not ({"price", "price_micros"} & set(header)):
        raise ValidationError(
            "CSV header must have id, shop_id, title, category and price (CNY) or price_micros; "
            f"got {', '.join(header) or 'nothing'}"
        )
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if unknown:
        raise ValidationError(f"unknown CSV columns: {', '.join(unknown[:5])}")
    out: list[ProductIn] = []
    errors: list[str] = []
    for line, raw in enumerate(reader, start=2):
        row = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        if None in raw:
            errors.append(f"line {line}: more fields than columns")
            continue
        try:
            if row.get("price_micros"):
                micros = int(row["price_micros"])
            else:
                micros = int(Decimal(row.get("price", "")) * 1_000_000)
        except (ValueError, InvalidOperation, OverflowError):  # OverflowError: "Infinity"
            errors.append(f"line {line}: price is not a number")
            continue
        try:
            out.append(
                ProductIn(
                    id=row["id"],
                    shop_id=row["shop_id"],
                    title=row["title"],
                    category=row["category"],
                    price_micros=micros,
                    brand=row.get("brand", ""),
                )
            )
        except PydanticError as exc:
            first = exc.errors()[0]
            errors.append(f"line {line}: {'.'.join(str(x) for x in first['loc'])}: {first['msg']}")
    if errors:
        raise ValidationError(
            "; ".join(errors[:10]) + (f" (and {len(errors) - 10} more)" if len(errors) > 10 else "")
        )
    if not out:
        raise ValidationError("the CSV has no product rows")
    if len(out) > 100_000:
        raise ValidationError("at most 100,000 products per import")
    return out


@router.post(
    "/products/import",
    response_model=ImportOut,
    responses={409: {"model": ErrorOut}, 413: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)
def import_csv(
    csv_text: Annotated[str, Body(media_type="text/csv", max_length=MAX_CSV_BYTES)],
    engine: EngineDep,
    who: PrincipalDep,
    request: Request,
) -> ImportOut:
    """Bulk import from CSV (``Content-Type: text/csv``): all rows are stored, or none."""
    return _import(engine, who, request, parse_csv(csv_text))


@router.get("/products/{product_id}", response_model=ProductOut, responses={404: {"model": ErrorOut}})
def get_product(product_id: str, engine: EngineDep, who: PrincipalDep) -> ProductOut:
    p, owner = visible_product(engine, who, product_id)
    return product_out(engine, p, owner)


@router.get(
    "/products/{product_id}/eligibility", response_model=EligibilityOut, responses={404: {"model": ErrorOut}}
)
def product_eligibility(product_id: str, engine: EngineDep, who: PrincipalDep) -> EligibilityOut:
    """May the product be promoted? Every rule's verdict with the numbers that decided it."""
    visible_product(engine, who, product_id)
    return eligibility_out(engine.eligibility(product_id))


@router.put(
    "/products/signals",
    response_model=StoredOut,
    responses={403: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)
def put_signals(body: SignalsIn, engine: EngineDep, accounts: AccountsDep, _: OperatorDep) -> StoredOut:
    """Operator (platform) only: products' pool signals (rating, reviews, returns, sales, stock); the pool is
    recomputed at once. Price, category and shop come from the catalogue."""
    sigs: list[ProductSignals] = []
    unknown: list[str] = []
    for s in body.products:
        p = engine.store.get_product(s.product_id)
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
    engine.set_quality(sigs, [])
    return StoredOut(stored=len(sigs))
