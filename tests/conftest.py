"""Shared fixtures: a small real-looking catalogue built in code (titles from the packaged data are not needed)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sitewide.domain.money import Micros
from sitewide.domain.types import Campaign, Product, Shop
from sitewide.simulator import SimConfig
from sitewide.simulator.world import World, build_world

TITLES = [
    ("sandisk cruzer 16gb usb flash drive", "usb drives", 12_990_000),
    ("kingston datatraveler 32gb usb 3.0 flash drive", "usb drives", 18_500_000),
    ("logitech wireless mouse m325", "mice", 19_990_000),
    ("microsoft comfort optical mouse 3000", "mice", 24_990_000),
    ("hp 564 black ink cartridge", "inkjet printer ink", 16_990_000),
    ("canon pg-245 black ink cartridge", "inkjet printer ink", 21_990_000),
    ("elite screens 100 inch projection screen", "projection screens", 249_000_000),
    ("netgear n300 wireless router", "networking", 39_990_000),
    ("tp-link ac1200 dual band wifi router", "networking", 59_990_000),
    ("belkin 6 outlet surge protector", "electronics - general", 14_990_000),
    ("otterbox commuter case iphone 4", "cases", 29_990_000),
    ("case logic laptop sleeve 15.6 inch", "cases", 22_990_000),
]


@pytest.fixture()
def shops() -> list[Shop]:
    return [Shop("s1", "m1", "Shop One"), Shop("s2", "m2", "Shop Two")]


@pytest.fixture()
def products() -> list[Product]:
    return [
        Product(f"p{i:02d}", "s1" if i % 2 == 0 else "s2", t, c, Micros(p), brand=t.split()[0])
        for i, (t, c, p) in enumerate(TITLES)
    ]


@pytest.fixture()
def campaigns() -> list[Campaign]:
    return [
        Campaign("c1", "m1", "easy", ("p00", "p02", "p04"), Decimal("2.00"), Micros(50_000_000)),
        Campaign("c2", "m2", "hard", ("p01", "p03", "p05"), Decimal("8.00"), Micros(20_000_000)),
    ]


@pytest.fixture(scope="module")
def holdout_world() -> World:
    """A one-day market where every shop runs a campaign, at a conversion rate high enough for a day's ghost-bid
    holdout to estimate something (tests/test_holdout.py, tests/test_incremental_guarantee.py)."""
    return build_world(
        SimConfig(
            days=1,
            users=600,
            merchants=6,
            products=200,
            ticks_per_day=8,
            seed=3,
            campaign_share=1.0,
            target_cvr=0.1,
        )
    )
