from __future__ import annotations

import csv
import io
from decimal import Decimal, InvalidOperation
from typing import Annotated

from fastapi import APIRouter, Body, Query
from fastapi.responses import Response
from pydantic import ValidationError as PydanticError

from sitewide.api.schemas import (
    EligibilityOut,
    ImportOut,
    Page,
    ProductIn,
    ProductOut,
    ProductsIn,
    SignalsIn,
    StoredOut,
)
from sitewide.domain.types import ValidationError
from sitewide.service.deps import (
    AccountsDep,
    EngineDep,
    OperatorDep,
    PrincipalDep,
    StoreDep,
    VersionDep,
    errors,
)
from sitewide.service.present import eligibility_out, product_out
from sitewide.service.scope import PagingDep, visible_product
from sitewide.service.usecases import catalogue as uc

router = APIRouter(tags=["products"], responses=errors(401))

MAX_CSV_BYTES = 10_000_000
CSV_COLUMNS = ("id", "shop_id", "title", "category", "price", "price_micros", "brand")


@router.get("/products", response_model=Page[ProductOut])
def list_products(
    paging: PagingDep,
    engine: EngineDep,
    store: StoreDep,
    who: PrincipalDep,
    shop_id: Annotated[str | None, Query(max_length=64)] = None,
    category: Annotated[str | None, Query(max_length=200)] = None,
    eligible: bool | None = None,
    q: Annotated[str | None, Query(max_length=200, description="substring of the title")] = None,
) -> Page[ProductOut]:
    """The caller's products, filtered by shop, category, eligibility or a title substring."""
    rows = [
        (p, owner)
        for p, owner in uc.visible_products(store, who)
        if (shop_id is None or p.shop_id == shop_id)
        and (category is None or p.category == category)
        and (not q or q.lower() in p.title.lower())
        and (eligible is None or uc.is_eligible(engine, p.id) == eligible)
    ]
    return paging.page(rows, lambda r: product_out(engine, *r))


@router.post("/products", response_model=ImportOut, responses=errors(409, 422))
def upsert_products(
    body: ProductsIn, engine: EngineDep, store: StoreDep, version: VersionDep, who: PrincipalDep
) -> ImportOut:
    """Create or update products of the caller's shops (JSON batch ≤ 10,000)."""
    v = uc.import_products(engine, store, version, who, body.products)
    return ImportOut(products=len(body.products), catalogue_version=v)


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


@router.post("/products/import", response_model=ImportOut, responses=errors(409, 413, 422))
def import_csv(
    csv_text: Annotated[str, Body(media_type="text/csv", max_length=MAX_CSV_BYTES)],
    engine: EngineDep,
    store: StoreDep,
    version: VersionDep,
    who: PrincipalDep,
) -> ImportOut:
    """Bulk import from CSV (``Content-Type: text/csv``): all rows are stored, or none."""
    rows = parse_csv(csv_text)
    return ImportOut(
        products=len(rows), catalogue_version=uc.import_products(engine, store, version, who, rows)
    )


@router.get("/products/{product_id}", response_model=ProductOut, responses=errors(404))
def get_product(product_id: str, engine: EngineDep, store: StoreDep, who: PrincipalDep) -> ProductOut:
    p, owner = visible_product(store, who, product_id)
    return product_out(engine, p, owner)


@router.delete("/products/{product_id}", status_code=204, responses=errors(404))
def delete_product(
    product_id: str, engine: EngineDep, store: StoreDep, version: VersionDep, who: PrincipalDep
) -> Response:
    """Delete a product of the caller's shops: it leaves the catalogue and serving at once (no rebuild); its
    events, ledger entries and reports stay."""
    uc.remove_product(engine, store, version, who, product_id)
    return Response(status_code=204)


@router.get("/products/{product_id}/eligibility", response_model=EligibilityOut, responses=errors(404))
def product_eligibility(
    product_id: str, engine: EngineDep, store: StoreDep, who: PrincipalDep
) -> EligibilityOut:
    """May the product be promoted? Every rule's verdict with the numbers that decided it."""
    visible_product(store, who, product_id)
    return eligibility_out(engine.eligibility(product_id))


@router.put("/products/signals", response_model=StoredOut, responses=errors(403, 422))
def put_signals(
    body: SignalsIn, engine: EngineDep, store: StoreDep, accounts: AccountsDep, _: OperatorDep
) -> StoredOut:
    """Operator (platform) only: products' pool signals (rating, reviews, returns, sales, stock); the pool is
    recomputed at once. Price, category and shop come from the catalogue."""
    return StoredOut(stored=uc.put_signals(engine, store, accounts, body))
