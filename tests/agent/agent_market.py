"""A small market with a known history (the ``market`` fixture, in conftest.py), read by the agent: shop s1 (merchant m1) holds the even products and
campaign c1 (target 2, budget 50); s2 (m2) the odd ones and c2 (target 8, budget 20).

2026-01-04: c1 buys 8 clicks on p00 (4 orders) and 1 on p02; c2 1 click, no order.
2026-01-05 (the day diagnosed): c1's 25 clicks at 2.00 reach 95 % of its budget by 08:00; 5 orders on p00;
c2 spends 1.00 of its 20.00 (its target 8 is far above what the market realises). Then p00, m1's best
seller, drops out of the pool (stock 0)."""

from __future__ import annotations

from dataclasses import dataclass

from sitewide.domain.eligibility import ProductSignals
from sitewide.domain.money import Micros
from sitewide.domain.time import HOUR_MS, ManualClock, day_bounds
from sitewide.domain.types import Campaign, Event, EventKind, Product, Shop
from sitewide.engine import Engine
from sitewide.ports import ServiceRecords
from sitewide.storage.memory import MemoryStore
from sitewide.wiring import build_accounts, seeded_engine

DAY = "2026-01-05"
BEFORE = "2026-01-04"


@dataclass
class Market:
    engine: Engine
    accounts: ServiceRecords
    clock: ManualClock


def _click(i: str, ts: int, pid: str, cid: str, price: int) -> Event:
    return Event(
        i, EventKind.CLICK, ts, user_id="u", product_id=pid, request_id=f"r{i}", campaign_id=cid,
        price_micros=Micros(price),
    )  # fmt: skip


def _order(click: Event, value: int) -> Event:
    return Event(
        f"o{click.id}", EventKind.ORDER, click.ts_ms + 60_000, user_id="u", product_id=click.product_id,
        order_value_micros=Micros(value), click_id=click.id,
    )  # fmt: skip


def build_market(shops: list[Shop], products: list[Product], campaigns: list[Campaign]) -> Market:
    t_before, t_day = day_bounds(BEFORE)[0], day_bounds(DAY)[0]
    clock = ManualClock(t_before)
    engine = seeded_engine(MemoryStore(), shops, products, campaigns, clock=clock)
    accounts, _ = build_accounts(engine.store, engine.clock)
    accounts.ensure_merchants(["m1", "m2"])
    ev: list[Event] = []
    for k in range(8):
        c = _click(f"a{k}", t_before + (k + 1) * HOUR_MS, "p00", "c1", 2_000_000)
        ev += [c, _order(c, 12_990_000)] if k % 2 == 0 else [c]
    ev.append(_click("a9", t_before + 10 * HOUR_MS, "p02", "c1", 2_000_000))
    ev.append(_click("b1", t_before + 11 * HOUR_MS, "p01", "c2", 1_000_000))
    engine.record_events(ev)
    clock.now = t_day
    engine.settle_day(BEFORE)
    ev = []
    for k in range(25):
        c = _click(f"d{k}", t_day + 3 * HOUR_MS + k * 180_000, "p00", "c1", 2_000_000)
        ev += [c, _order(c, 12_990_000)] if k % 5 == 0 else [c]
    ev.append(_click("e1", t_day + 12 * HOUR_MS, "p01", "c2", 1_000_000))
    engine.record_events(ev)
    clock.now = t_day + 86_400_000 + HOUR_MS
    engine.settle_day(DAY)
    gone = ProductSignals("p00", "usb drives", "s1", price_micros=12_990_000, stock=0)
    accounts.put_product_signals([gone])
    engine.set_quality([gone], [])
    return Market(engine, accounts, clock)
