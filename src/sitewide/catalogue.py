"""The packaged real-product catalogue (``sitewide/data/catalogue.csv``) as domain objects.

Shops are derived from brands (one shop per brand, one merchant per shop), so that a fresh server has a
realistic catalogue to serve before any merchant imports its own.
"""

from __future__ import annotations

import csv
import io
import re
from importlib import resources

from sitewide.domain.money import Micros
from sitewide.domain.types import Product, Shop


def _slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return s[:40] or "unbranded"


def packaged_catalogue() -> tuple[list[Shop], list[Product]]:
    text = resources.files("sitewide").joinpath("data/catalogue.csv").read_text(encoding="utf-8")
    shops: dict[str, Shop] = {}
    products: list[Product] = []
    for row in csv.DictReader(io.StringIO(text)):
        slug = _slug(row.get("brand") or "")
        shop = shops.setdefault(
            slug, Shop(id=f"s-{slug}", merchant_id=f"m-{slug}", name=row.get("brand") or slug)
        )
        products.append(
            Product(
                id=row["product_id"],
                shop_id=shop.id,
                title=row["title"],
                category=row.get("category") or "other",
                price_micros=Micros(int(row["price_micros"])),
                brand=row.get("brand") or "",
            )
        )
    return list(shops.values()), products
