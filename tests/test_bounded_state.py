"""What an engine keeps per click is bounded (issue 24's soak: RSS grew ~175 bytes per click): today's click ids
(for the pacer's order feedback) past ``CLICK_MEMORY`` and the users' history vectors past ``USER_MEMORY`` are
forgotten oldest first; a forgotten user is served as a cold one."""

from __future__ import annotations

import time
import tracemalloc
from decimal import Decimal

import pytest

from sitewide.domain.money import Micros
from sitewide.domain.time import DAY_MS, ManualClock
from sitewide.domain.types import Campaign, Event, EventKind, Product, Shop
from sitewide.engine import campaigns as campaign_book
from sitewide.engine import retrieval
from sitewide.storage.memory import MemoryStore
from sitewide.wiring import seeded_engine


def test_clicks_and_user_vectors_are_forgotten_oldest_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(campaign_book, "CLICK_MEMORY", 2)
    monkeypatch.setattr(retrieval, "USER_MEMORY", 2)
    now = (int(time.time() * 1000) // DAY_MS) * DAY_MS + 3_600_000
    engine = seeded_engine(
        MemoryStore(),
        [Shop("s0", "m0", "shop")],
        [Product(f"p{i}", "s0", f"widget {i}", "cat", Micros(9_000_000)) for i in range(3)],
        [Campaign("c1", "m0", "c1", ("p0", "p1", "p2"), Decimal("3"), Micros(100_000_000))],
        clock=ManualClock(now),
    )

    def click(i: int, user: str) -> Event:
        return Event(
            f"k{i}", EventKind.CLICK, now + i, user_id=user, product_id="p1", campaign_id="c1",
            price_micros=Micros(10_000),
        )

    def order(i: int, on: str) -> Event:
        return Event(
            f"o{i}", EventKind.ORDER, now + 10 + i, user_id="a", product_id="p1", click_id=on,
            order_value_micros=Micros(1_000_000),
        )

    engine.campaigns.advance(now)
    engine.record_events([click(1, "a"), click(2, "b"), click(3, "a"), click(4, "c")])
    assert len(engine.campaigns.clicks) == 2
    pacer = engine.campaigns.pacer
    engine.record_events([order(1, "k1"), order(2, "k2")])  # k1, k2 forgotten: the pacer's GMV does not move
    assert int(pacer.gmv[0]) == 0
    engine.record_events([order(3, "k3"), order(4, "k4")])  # remembered: each order's value reaches c1
    assert int(pacer.gmv[0]) == 2_000_000
    assert list(engine.retrieval._user_vec) == ["a", "c"]  # b clicked least recently


def test_click_memory_runs_answer_like_a_dict_and_forget_oldest_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clicks past the dict go to sorted runs (merged as they come): every remembered click answers its own
    campaign, through any number of runs and both generations; the oldest half-cap is forgotten."""
    monkeypatch.setattr(campaign_book, "CLICK_RUN", 3)
    monkeypatch.setattr(campaign_book, "CLICK_MEMORY", 40)
    clicks = campaign_book.ClickMemory()
    for i in range(101):
        clicks.remember(f"k{i}", f"c{i % 7}")
    assert len(clicks) == 21  # the older generation (20) and the newer (1)
    for i in range(80, 101):
        assert clicks.campaign(f"k{i}") == f"c{i % 7}"
    assert all(clicks.campaign(f"k{i}") is None for i in range(80))
    assert clicks.campaign("never") is None


def test_click_memory_costs_under_20_bytes_a_click() -> None:
    """~12 bytes a click in numpy runs (a dict of hashes to campaign ids cost 70-88: most of a 10-minute soak's RSS
    growth, issue 24)."""
    clicks = campaign_book.ClickMemory()
    ids = [f"soak-e{n}-{i}" for n in range(20_000) for i in range(0, 100, 20)]
    tracemalloc.start()
    try:
        for k, cid in enumerate(ids):
            clicks.remember(cid, f"c{k % 50}")
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert held / len(ids) < 20
    assert clicks.campaign(ids[0]) == "c0" and clicks.campaign(ids[-1]) == f"c{(len(ids) - 1) % 50}"
