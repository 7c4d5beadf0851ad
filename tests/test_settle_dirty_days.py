"""Settlement recomputes only dirty days: a day with nothing new reads no events, and events stored ahead of
a run's ``as_of`` still reach back to the days they change once a later run lets them in."""

from __future__ import annotations

from collections.abc import Sequence

from sitewide.domain.money import Micros
from sitewide.domain.time import day_bounds
from sitewide.domain.types import Campaign, Event, EventKind, Product, Shop
from sitewide.storage.memory import MemoryStore
from sitewide.wiring import seeded_engine

D1, D2, D3, D4 = "2026-01-05", "2026-01-06", "2026-01-07", "2026-01-08"


class CountingStore(MemoryStore):
    """Counts the events the settlement reads by time range (what an un-pruned window costs)."""

    def __init__(self) -> None:
        super().__init__()
        self.read = 0

    def events_between(self, start_ms: int, end_ms: int, kinds: Sequence[str] | None = None) -> list[Event]:
        got = super().events_between(start_ms, end_ms, kinds)
        self.read += len(got)
        return got


def click(i: str, day: str, hour: int = 10) -> Event:
    return Event(
        i,
        EventKind.CLICK,
        day_bounds(day)[0] + hour * 3_600_000,
        user_id="u1",
        product_id="p00",
        campaign_id="c1",
        price_micros=Micros(70_000),
    )


def order(i: str, day: str, value: int = 9_000_000) -> Event:
    return Event(
        i,
        EventKind.ORDER,
        day_bounds(day)[0] + 2 * 3_600_000,
        user_id="u1",
        product_id="p00",
        order_value_micros=Micros(value),
    )


def test_a_day_without_events_reads_none(
    shops: list[Shop], products: list[Product], campaigns: list[Campaign]
) -> None:
    store = CountingStore()
    eng = seeded_engine(store, shops, products, campaigns)
    eng.record_events([click(f"k{i}", d, 8 + i) for i, d in enumerate((D1, D2, D3))])
    first = eng.settle(day_bounds(D1)[0], day_bounds(D3)[1])
    assert store.read == 3 and sum(c.spend_micros for c in first.campaigns) == 3 * 70_000
    store.read = 0
    rep = eng.settle_day(D4)  # nothing on D4 and nothing new: the three days behind it are not reopened
    assert store.read == 0
    assert not rep.transactions and not any(c.clicks for c in rep.campaigns)


def test_events_stored_ahead_of_as_of_change_their_days_once_let_in(
    shops: list[Shop], products: list[Product], campaigns: list[Campaign]
) -> None:
    store = MemoryStore()
    eng = seeded_engine(store, shops, products, campaigns)
    eng.record_events([click("k1", D1), order("o1", D2)])  # the order comes after D1's as_of
    eng.settle_day(D1)
    (f1,) = store.day_figures(D1, D1).values()
    assert (f1.clicks, f1.orders) == (1, 0)
    eng.settle_day(D2)  # no new event since the last run; the advance of as_of lets the order in
    (f1,) = store.day_figures(D1, D1).values()
    assert (f1.orders, f1.gross_gmv_micros) == (1, 9_000_000)

    fresh = MemoryStore()  # the same events settled in one run agree
    eng2 = seeded_engine(fresh, shops, products, campaigns)
    eng2.record_events([click("k1", D1), order("o1", D2)])
    eng2.settle(day_bounds(D1)[0], day_bounds(D2)[1])
    assert fresh.day_figures(D1, D2) == store.day_figures(D1, D2)
    assert fresh.balances() == store.balances()
