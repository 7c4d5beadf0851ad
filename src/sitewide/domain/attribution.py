"""Last-touch click attribution of orders (and their refunds) within a window.

An order is credited to the click it names (``click_id``) when that click exists and precedes it within the
window; otherwise to the latest click by the same user on the same product within the window. Orders with no
qualifying click are organic. Refunds follow their order.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass

from sitewide.domain.types import Event, EventKind

DAY_MS = 86_400_000
DEFAULT_WINDOW_MS = 7 * DAY_MS


@dataclass(frozen=True, slots=True)
class Attribution:
    order_id: str
    click_id: str | None
    campaign_id: str | None  # None = organic (or an organic click)
    order_value_micros: int
    ts_ms: int


def attribute_orders(
    clicks: Iterable[Event], orders: Iterable[Event], window_ms: int = DEFAULT_WINDOW_MS
) -> list[Attribution]:
    """Attribute each order to a click (see module doc). Clicks may come in any order."""
    by_id: dict[str, Event] = {}
    by_key: dict[tuple[str, str], list[Event]] = {}
    for c in clicks:
        if c.kind is not EventKind.CLICK:
            continue
        by_id[c.id] = c
        by_key.setdefault((c.user_id, c.product_id), []).append(c)
    for lst in by_key.values():
        lst.sort(key=lambda e: (e.ts_ms, e.id))
    stamps = {k: [e.ts_ms for e in v] for k, v in by_key.items()}

    out: list[Attribution] = []
    for o in orders:
        if o.kind is not EventKind.ORDER:
            continue
        click: Event | None = None
        named = by_id.get(o.click_id) if o.click_id else None
        if named is not None and 0 <= o.ts_ms - named.ts_ms <= window_ms:
            click = named
        else:
            key = (o.user_id, o.product_id)
            lst = by_key.get(key, [])
            if lst:
                i = bisect_right(stamps[key], o.ts_ms) - 1
                if i >= 0 and o.ts_ms - lst[i].ts_ms <= window_ms:
                    click = lst[i]
        out.append(
            Attribution(
                order_id=o.id,
                click_id=click.id if click else None,
                campaign_id=click.campaign_id if click else None,
                order_value_micros=int(o.order_value_micros),
                ts_ms=o.ts_ms,
            )
        )
    return out
