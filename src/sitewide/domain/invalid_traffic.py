"""Invalid-traffic (IVT) rules: which clicks are not billable, and the named rule that says why.

The rules are functions of the *set* of events known, never of their arrival order, so settlement stays
convergent: a late impression can make a click billable again, a late click can turn a burst into a flood.

Rules (checked in this order; a click carries the first that fires):

- ``bot_user``: the user is on the policy's bot list, or clicked more than ``bot_max_clicks_per_day`` times
  (all campaigns) in one UTC day — every click of that user on that day is flagged.
- ``click_without_impression``: the click names an ``impression_id`` that is not a recorded impression of
  the same user, product and campaign at most ``impression_max_age_ms`` before the click; with
  ``require_impression`` a click that names no impression is flagged too.
- ``click_flood``: more than ``flood_max_clicks`` clicks by one user on one campaign within
  ``flood_window_ms``; the clicks beyond the limit (in time order) are flagged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from sitewide.domain.time import DAY_MS
from sitewide.domain.types import Event, EventKind, ValidationError


class IvtRule(StrEnum):
    BOT_USER = "bot_user"
    CLICK_WITHOUT_IMPRESSION = "click_without_impression"
    CLICK_FLOOD = "click_flood"


@dataclass(frozen=True, slots=True)
class IvtPolicy:
    bot_user_ids: frozenset[str] = field(default_factory=frozenset)
    bot_max_clicks_per_day: int = 1_000
    flood_max_clicks: int = 5
    flood_window_ms: int = 60_000
    require_impression: bool = False
    impression_max_age_ms: int = DAY_MS

    def __post_init__(self) -> None:
        if self.bot_max_clicks_per_day < 1 or self.flood_max_clicks < 1:
            raise ValidationError("IVT limits must be ≥ 1")
        if not 0 < self.flood_window_ms <= DAY_MS or not 0 <= self.impression_max_age_ms <= DAY_MS:
            raise ValidationError("IVT windows must lie in (0, 1 day]")


def flag_clicks(
    clicks: Iterable[Event], impressions: Mapping[str, Event], policy: IvtPolicy
) -> dict[str, IvtRule]:
    """Invalid clicks → rule. ``clicks`` must hold whole UTC days (the bot rule counts a day) and the
    ``flood_window_ms`` before the first click judged; ``impressions`` maps id → impression event."""
    cl = sorted((c for c in clicks if c.kind is EventKind.CLICK), key=lambda e: (e.ts_ms, e.id))
    out: dict[str, IvtRule] = {}
    per_user_day: dict[tuple[str, int], int] = {}
    for c in cl:
        k = (c.user_id, c.ts_ms // DAY_MS)
        per_user_day[k] = per_user_day.get(k, 0) + 1
    for c in cl:
        if (
            c.user_id in policy.bot_user_ids
            or per_user_day[(c.user_id, c.ts_ms // DAY_MS)] > policy.bot_max_clicks_per_day
        ):
            out[c.id] = IvtRule.BOT_USER
            continue
        if c.impression_id is not None:
            imp = impressions.get(c.impression_id)
            if (
                imp is None
                or imp.kind is not EventKind.IMPRESSION
                or imp.user_id != c.user_id
                or imp.product_id != c.product_id
                or imp.campaign_id != c.campaign_id
                or not 0 <= c.ts_ms - imp.ts_ms <= policy.impression_max_age_ms
            ):
                out[c.id] = IvtRule.CLICK_WITHOUT_IMPRESSION
                continue
        elif policy.require_impression:
            out[c.id] = IvtRule.CLICK_WITHOUT_IMPRESSION
            continue
    streams: dict[tuple[str, str | None], list[Event]] = {}
    for c in cl:
        streams.setdefault((c.user_id, c.campaign_id), []).append(c)
    w = policy.flood_window_ms
    for s in streams.values():
        lo = 0
        for i, c in enumerate(s):
            while s[lo].ts_ms <= c.ts_ms - w:
                lo += 1
            if i - lo + 1 > policy.flood_max_clicks and c.id not in out:
                out[c.id] = IvtRule.CLICK_FLOOD
    return out


def impressions_by_id(events: Sequence[Event]) -> dict[str, Event]:
    return {e.id: e for e in events if e.kind is EventKind.IMPRESSION}
