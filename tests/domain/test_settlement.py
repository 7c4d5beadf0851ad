from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from sitewide.domain.attribution import DAY_MS, attribute_orders
from sitewide.domain.money import Micros
from sitewide.domain.settlement import compensation_due, settle_period
from sitewide.domain.types import Campaign, Event, EventKind

CAMP = Campaign("c1", "m1", "x", ("p1",), Decimal("4"), Micros(1_000_000))


def click(i: int, ts: int, price: int, user: str = "u") -> Event:
    return Event(
        f"k{i}",
        EventKind.CLICK,
        ts,
        user_id=user,
        product_id="p1",
        campaign_id="c1",
        price_micros=Micros(price),
    )


def order(i: int, ts: int, value: int, user: str = "u", click_id: str | None = None) -> Event:
    return Event(
        f"o{i}",
        EventKind.ORDER,
        ts,
        user_id=user,
        product_id="p1",
        order_value_micros=Micros(value),
        click_id=click_id,
    )


def test_orders_attribute_to_the_last_click_within_the_window() -> None:
    clicks = [click(1, 100, 10), click(2, 200, 10)]
    (a,) = attribute_orders(clicks, [order(1, 300, 5)])
    assert a.click_id == "k2" and a.campaign_id == "c1"
    (late,) = attribute_orders(clicks, [order(2, 200 + 8 * DAY_MS, 5)])
    assert late.campaign_id is None


def test_charges_are_capped_at_the_daily_budget() -> None:
    clicks = [click(i, 10 + i, 300_000) for i in range(10)]  # 3.0 of clicks against a 1.0 budget
    rep = settle_period("d", 0, DAY_MS, 1, {"c1": CAMP}, clicks, [])
    (row,) = rep.campaigns
    assert row.raw_spend_micros == 3_000_000
    assert row.spend_micros == 900_000 <= CAMP.daily_budget_micros
    assert row.billable_clicks == 3


def test_compensation_when_roi_misses_target() -> None:
    # spend 1.0, GMV 2.0, target 4 -> owed 1.0 - 2.0/4 = 0.5
    assert compensation_due(1_000_000, 2_000_000, Decimal("4")) == 500_000
    assert compensation_due(1_000_000, 4_000_000, Decimal("4")) == 0
    assert compensation_due(1_000_000, 0, Decimal("4")) == 1_000_000


@settings(max_examples=60, deadline=None)
@given(
    prices=st.lists(st.integers(1, 400_000), min_size=0, max_size=30),
    values=st.lists(st.integers(0, 5_000_000), min_size=0, max_size=10),
)
def test_every_settlement_transaction_sums_to_zero(prices: list[int], values: list[int]) -> None:
    clicks = [click(i, 10 + i, p) for i, p in enumerate(prices)]
    orders = [order(i, 100 + i, v) for i, v in enumerate(values)]
    rep = settle_period("d", 0, DAY_MS, 1, {"c1": CAMP}, clicks, attribute_orders(clicks, orders))
    for t in rep.transactions:
        assert t.balanced()
        assert all(isinstance(e.amount_micros, int) for e in t.entries)
    for row in rep.campaigns:
        assert 0 <= row.spend_micros <= CAMP.daily_budget_micros
        assert 0 <= row.compensation_micros <= row.spend_micros
