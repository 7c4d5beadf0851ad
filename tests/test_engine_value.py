"""The engine's candidate cache (same answers, faster) and its online value calibration (bids follow outcomes)."""

from __future__ import annotations

import numpy as np

from sitewide.domain.money import Micros
from sitewide.domain.time import DAY_MS, day_bounds
from sitewide.domain.types import Campaign, Event, EventKind, Product, Shop
from sitewide.engine import Engine, EngineConfig
from sitewide.ports import RequestBatch
from sitewide.storage.memory import MemoryStore
from sitewide.wiring import seeded_engine

T0 = day_bounds("2026-01-05")[0] + 1_000


def mixed(ts: int, users: list[str]) -> RequestBatch:
    n = len(users)
    kinds = np.array([i % 2 for i in range(n)], dtype=np.int64)
    queries = ["usb flash drive" if k == 0 else "" for k in kinds.tolist()]
    return RequestBatch([f"r{ts}-{i}" for i in range(n)], users, kinds, queries, ts, 6)


def build(shops: list[Shop], products: list[Product], campaigns: list[Campaign], **cfg: object) -> Engine:
    return seeded_engine(MemoryStore(), shops, products, campaigns, EngineConfig(**cfg))  # type: ignore[arg-type]


def test_cached_rows_serve_exactly_what_uncached_ones_do(
    shops: list[Shop], products: list[Product], campaigns: list[Campaign]
) -> None:
    on = build(shops, products, campaigns, calibrate_value=False)
    off = build(shops, products, campaigns, calibrate_value=False, candidate_cache_rows=0)
    users = ["a", "b", "a", "c", "b", "a"]
    for k in range(3):
        b = mixed(T0 + k * 60_000, users)
        x, y = on.serve_batch(b), off.serve_batch(b)
        np.testing.assert_array_equal(x.product_idx, y.product_idx)
        np.testing.assert_array_equal(x.price_cpc_micros, y.price_cpc_micros)
        np.testing.assert_allclose(x.pctr, y.pctr, rtol=1e-6)
        if k == 0:  # a click moves user a's history vector: the cached feed row must follow it
            pid = on.catalogue_ids()[int(x.product_idx[1, 0])]
            for e in (on, off):
                e.record_events([Event("k1", EventKind.CLICK, T0 + 10, user_id="b", product_id=pid)])
    assert len(on.retrieval.cache._slot) > 0  # noqa: SLF001 - the rows really came from the cache


def test_a_campaign_whose_orders_fall_short_of_its_value_bids_less(
    shops: list[Shop], products: list[Product], campaigns: list[Campaign]
) -> None:
    eng = build(shops, products, campaigns, value_prior_orders=2.0)
    b = mixed(T0, [f"u{i}" for i in range(40)])
    first = eng.serve_batch(b)
    bid0 = np.asarray(first.bid).copy()
    camp_ids = eng.campaign_ids()
    events: list[Event] = []
    rows, slots = np.nonzero(first.promoted)
    assert len(rows) > 0
    for n, (r, s) in enumerate(zip(rows.tolist(), slots.tolist(), strict=True)):
        pid = eng.catalogue_ids()[int(first.product_idx[r, s])]
        cid = camp_ids[int(first.campaign_idx[r, s])]
        k = Event(
            f"k{n}",
            EventKind.CLICK,
            T0 + 100 + n,
            user_id=f"u{r}",
            product_id=pid,
            campaign_id=cid,
            position=s + 1,
            price_micros=first.price_cpc_micros[r, s],
        )
        o = Event(
            f"o{n}",
            EventKind.ORDER,
            T0 + 200 + n,
            user_id=f"u{r}",
            product_id=pid,
            order_value_micros=1,
            click_id=k.id,
        )  # worth almost nothing
        events += [k, o]
    eng.record_events(events)
    cat, pos = eng.value_factors()
    assert cat.min() < 0.9 and (pos <= 1.0 + 1e-9).all()
    assert set(eng.value_report()) <= set(camp_ids) and sum(eng.value_report().values()) > 0
    again = eng.serve_batch(mixed(T0 + 1, [f"u{i}" for i in range(40)]))
    bid1 = np.asarray(again.bid)
    live = (bid0 > 0) & (bid1 > 0)
    assert live.any() and (bid1[live] < bid0[live]).mean() > 0.9


def test_a_campaigns_guarantee_window_aims_its_next_days_bidder(
    shops: list[Shop], products: list[Product], campaigns: list[Campaign]
) -> None:
    eng = build(shops, products, campaigns)
    cid = eng.campaign_ids()[0]
    pid = eng.catalogue.ids[0]
    day0 = T0 // DAY_MS
    target = 2.0
    assert eng.values.aim(cid, target, day0) == 1.0  # nothing known yet
    events: list[Event] = []
    for n in range(20):  # day 0: spend 20 × 1 CNY, orders worth 20 CNY: ROI 1 against a target of 2
        k = Event(
            f"k{n}",
            EventKind.CLICK,
            T0 + n,
            user_id="u",
            product_id=pid,
            campaign_id=cid,
            position=1,
            price_micros=Micros(1_000_000),
        )
        o = Event(
            f"o{n}",
            EventKind.ORDER,
            T0 + 100 + n,
            user_id="u",
            product_id=pid,
            order_value_micros=1_000_000,
            click_id=k.id,
        )
        events += [k, o]
    eng.record_events(events)
    assert eng.values.aim(cid, target, day0) == 1.0  # the first day aims at the target
    behind = eng.values.aim(cid, target, day0 + 1)
    assert behind > 1.1  # the rest of the week must make up the first day's deficit (and a margin)
    assert eng.values.aim(cid, target, day0 + 6) > behind  # fewer days left to make it up in
    assert eng.values.aim(cid, target, day0 + 7) == 1.0  # a new window starts afresh
    eng.serve_batch(mixed(T0 + DAY_MS + 1, ["a", "b"]))  # the engine's bidders for the next day use it
    row = eng.campaign_ids().index(cid)
    assert eng.campaigns.pacer.bidders[row].target_roi > float(campaigns[0].target_roi)
    off = build(shops, products, campaigns, window_aim=None)
    off.record_events(events)
    assert off.values.aim(cid, target, day0 + 1) == 1.0
