"""The benchmarks' shared world: 10 shops, 200 products, 50 campaigns, the first day and the operator key.

Its own module (stdlib and domain imports only), so that ``bench/load.py`` (which only seeds databases and
drives servers) does not import the FastAPI app and the models that ``bench/events.py`` needs.
"""

from __future__ import annotations

from decimal import Decimal

from sitewide.domain.money import Micros
from sitewide.domain.types import Campaign, Product, Shop

T0 = 1_767_225_600_000
DAYS = 14
N_PRODUCTS = 200
N_CAMPAIGNS = 50
KEY = "sw_0123456789abcdef_benchsecretbenchsecret"


def catalogue() -> tuple[list[Shop], list[Product], list[Campaign]]:
    shops = [Shop(f"s{i}", f"m{i}", f"shop {i}") for i in range(10)]
    prods = [
        Product(f"p{i}", f"s{i % 10}", f"product {i} widget", f"cat{i % 7}", Micros(5_000_000 + 10_000 * i))
        for i in range(N_PRODUCTS)
    ]
    camps = [
        Campaign(
            f"c{j}",
            f"m{j % 10}",
            f"c{j}",
            tuple(f"p{k}" for k in range(j, N_PRODUCTS, N_CAMPAIGNS)),
            Decimal("3"),
            Micros(200_000_000),
        )
        for j in range(N_CAMPAIGNS)
    ]
    return shops, prods, camps
