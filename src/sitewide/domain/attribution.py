"""Last-touch attribution of orders (and their refunds) within a window.

An order is credited to the click it names (``click_id``) when that click exists and precedes it within the
window; otherwise to the latest click by the same user on the same product within the window. Orders with no
qualifying click are organic, unless view-through is on: then the latest promoted impression of the product
to the user within the view-through window earns it. Refunds follow their order (net GMV).

Attribution is chosen without looking at invalid-traffic flags; settlement then gives no credit to a touch
that is invalid (the order becomes organic rather than falling back to an older click), so a day's figures
depend only on that day's own clicks' validity.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sitewide.domain.time import DAY_MS
from sitewide.domain.types import Event, EventKind, ValidationError

DEFAULT_WINDOW_MS = 7 * DAY_MS
LONG_WINDOW_MS = 14 * DAY_MS


@dataclass(frozen=True, slots=True)
class AttributionPolicy:
    """``window_ms``: click-through window (7 days by default, 14 as the long option);
    ``view_through_ms``: 0 = off, else impressions earn orders without a click within this window."""

    window_ms: int = DEFAULT_WINDOW_MS
    view_through_ms: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.window_ms <= 31 * DAY_MS or not 0 <= self.view_through_ms <= 31 * DAY_MS:
            raise ValidationError("attribution windows must lie in (0, 31 days]")

    @property
    def reach_ms(self) -> int:
        """How far after a touch an order can still be credited to it."""
        return max(self.window_ms, self.view_through_ms)


@dataclass(frozen=True, slots=True)
class Attribution:
    order_id: str
    click_id: str | None
    campaign_id: str | None  # None = organic (or an organic click)
    order_value_micros: int
    ts_ms: int


@dataclass(frozen=True, slots=True)
class Touch:
    """The event an order is credited to: a click, or (view-through) a promoted impression."""

    event_id: str
    kind: EventKind
    campaign_id: str | None
    ts_ms: int


class TouchIndex:
    """Clicks (and promoted impressions) by (user, product), sorted by time, for repeated look-ups."""

    def __init__(self, clicks: Iterable[Event], impressions: Iterable[Event] = ()) -> None:
        self.by_id: dict[str, Event] = {}
        self._clicks: dict[tuple[str, str], list[Event]] = {}
        self._views: dict[tuple[str, str], list[Event]] = {}
        for c in clicks:
            if c.kind is EventKind.CLICK:
                self.by_id[c.id] = c
                self._clicks.setdefault((c.user_id, c.product_id), []).append(c)
        for i in impressions:
            if i.kind is EventKind.IMPRESSION and i.campaign_id is not None:
                self._views.setdefault((i.user_id, i.product_id), []).append(i)
        for d in (self._clicks, self._views):
            for lst in d.values():
                lst.sort(key=lambda e: (e.ts_ms, e.id))
        self._cts = {k: [e.ts_ms for e in v] for k, v in self._clicks.items()}
        self._vts = {k: [e.ts_ms for e in v] for k, v in self._views.items()}

    @staticmethod
    def _last(lst: list[Event], ts: list[int], at: int, window: int) -> Event | None:
        i = bisect_right(ts, at) - 1
        if i >= 0 and at - lst[i].ts_ms <= window:
            return lst[i]
        return None

    def touch(
        self, order: Event, policy: AttributionPolicy, named: Mapping[str, Event] | None = None
    ) -> Touch | None:
        """The touch credited with ``order`` (None = organic, no touch at all)."""
        if order.click_id:
            c = self.by_id.get(order.click_id) or (named or {}).get(order.click_id)
            if c is not None and c.kind is EventKind.CLICK and 0 <= order.ts_ms - c.ts_ms <= policy.window_ms:
                return Touch(c.id, EventKind.CLICK, c.campaign_id, c.ts_ms)
        key = (order.user_id, order.product_id)
        lst = self._clicks.get(key)
        if lst:
            c = self._last(lst, self._cts[key], order.ts_ms, policy.window_ms)
            if c is not None:
                return Touch(c.id, EventKind.CLICK, c.campaign_id, c.ts_ms)
        if policy.view_through_ms > 0:
            vl = self._views.get(key)
            if vl:
                v = self._last(vl, self._vts[key], order.ts_ms, policy.view_through_ms)
                if v is not None:
                    return Touch(v.id, EventKind.IMPRESSION, v.campaign_id, v.ts_ms)
        return None


def attribute_orders(
    clicks: Iterable[Event], orders: Iterable[Event], window_ms: int = DEFAULT_WINDOW_MS
) -> list[Attribution]:
    """Attribute each order to a click (see module doc). Clicks may come in any order."""
    idx = TouchIndex(clicks)
    policy = AttributionPolicy(window_ms=window_ms)
    out: list[Attribution] = []
    for o in orders:
        if o.kind is not EventKind.ORDER:
            continue
        t = idx.touch(o, policy)
        out.append(
            Attribution(
                order_id=o.id,
                click_id=t.event_id if t else None,
                campaign_id=t.campaign_id if t else None,
                order_value_micros=int(o.order_value_micros),
                ts_ms=o.ts_ms,
            )
        )
    return out
