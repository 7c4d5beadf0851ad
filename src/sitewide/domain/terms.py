"""Effective-dated campaign terms: every change to what money depends on is a new version with its start time.

A campaign's *terms* are the fields that settlement, the guarantee and event validation read: target ROI,
daily budget, status and products. The store keeps every version (``CampaignTerms``, version 1 from the
campaign's ``created_ms``); an edit that changes any of them appends version n + 1 in force from the time of
the edit. A name change is not a new version.

**The terms of a day** (:func:`terms_for_day`): a day is settled and judged by the versions in force at any
moment of that UTC day, folded so that no edit can reach back into the part of a day already bought:

- the budget cap of the day is the *highest* budget in force during the day (an edit that lowers the budget at
  23:59 does not un-charge the clicks bought before it; one that raises it lets the rest of the day spend up to
  the new budget, and never more);
- the target ROI the guarantee judges the day against is the *lowest* target in force during the day (raising
  the target after a poor morning does not buy compensation for that morning).

So a change takes full effect from the next UTC day, and a day that has ended can never change. A day before
the first version uses the first version (there is no earlier promise to keep).

**Liveness** (:func:`live_at`): a promoted event is valid when the version in force at its timestamp is active
and holds the product.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from sitewide.domain.time import DAY_MS
from sitewide.domain.types import Campaign, CampaignStatus, Event, EventKind, ValidationError


@dataclass(frozen=True, slots=True)
class CampaignTerms:
    """One version of a campaign's money terms, in force from ``effective_ms`` until the next version."""

    campaign_id: str
    version: int
    effective_ms: int
    target_roi: Decimal
    daily_budget_micros: int
    status: CampaignStatus
    product_ids: tuple[str, ...]

    @classmethod
    def of(cls, campaign: Campaign, version: int, effective_ms: int) -> CampaignTerms:
        return cls(
            campaign_id=campaign.id,
            version=version,
            effective_ms=effective_ms,
            target_roi=campaign.target_roi,
            daily_budget_micros=int(campaign.daily_budget_micros),
            status=campaign.status,
            product_ids=tuple(campaign.product_ids),
        )

    def same_terms(self, campaign: Campaign) -> bool:
        """Whether ``campaign`` carries exactly these terms (so that storing it needs no new version)."""
        return (
            self.target_roi == campaign.target_roi
            and self.daily_budget_micros == int(campaign.daily_budget_micros)
            and self.status is campaign.status
            and self.product_ids == tuple(campaign.product_ids)
        )


def initial_terms(campaign: Campaign) -> CampaignTerms:
    """Version 1, in force from the campaign's creation."""
    return CampaignTerms.of(campaign, 1, max(campaign.created_ms, 0))


@dataclass(frozen=True, slots=True)
class DayTerms:
    """The terms one UTC day is settled and judged by (see the module docstring for the fold)."""

    campaign_id: str
    day: int  # day index (days since 1970-01-01)
    target_roi: Decimal  # lowest target in force during the day
    daily_budget_micros: int  # highest budget in force during the day
    versions: tuple[int, ...]  # the versions in force during the day, oldest first


def in_force_at(history: Sequence[CampaignTerms], ts_ms: int) -> CampaignTerms | None:
    """The version in force at ``ts_ms`` (the newest with ``effective_ms ≤ ts_ms``); None before the first.
    ``history`` is ordered by version (and so by ``effective_ms``)."""
    i = bisect_right([t.effective_ms for t in history], ts_ms) - 1
    return history[i] if i >= 0 else None


def terms_for_day(history: Sequence[CampaignTerms], day: int) -> DayTerms:
    """Fold the versions in force at any moment of ``day``: highest budget, lowest target."""
    if not history:
        raise ValueError("a campaign has at least one terms version")
    start, end = day * DAY_MS, (day + 1) * DAY_MS
    first = in_force_at(history, start) or history[0]
    during = [first, *(t for t in history if start < t.effective_ms < end and t.version > first.version)]
    return DayTerms(
        campaign_id=first.campaign_id,
        day=day,
        target_roi=min(t.target_roi for t in during),
        daily_budget_micros=max(t.daily_budget_micros for t in during),
        versions=tuple(t.version for t in during),
    )


def live_at(history: Sequence[CampaignTerms], ts_ms: int, product_id: str) -> bool:
    """Whether a promoted event at ``ts_ms`` on ``product_id`` falls under an active version holding it."""
    t = in_force_at(history, ts_ms)
    return t is not None and t.status is CampaignStatus.ACTIVE and product_id in t.product_ids


class EventRejected(ValidationError):
    """An event breaks a reference rule; ``rule`` names it (the API answers 422 with the message)."""

    def __init__(self, event_id: str, rule: str, why: str) -> None:
        super().__init__(f"event {event_id} rejected, rule {rule}: {why}; nothing of the batch was stored")
        self.event_id = event_id
        self.rule = rule


def check_event_references(
    events: Sequence[Event],
    terms: Mapping[str, Sequence[CampaignTerms]],
    stored: Mapping[str, Event],
) -> None:
    """Raise :class:`EventRejected` for the first event of a batch that breaks a rule:

    - ``campaign_live``: an impression, click or order naming a campaign must fall under an active version of
      that campaign holding the product, at the event's time (``terms``: the campaigns' histories);
    - ``order_names_a_click``: an order's ``click_id``, when given, must be a known click (of this batch or
      ``stored``); an order without one is organic (attributed by user and product, if at all);
    - ``refund_names_an_order``: a refund's ``order_id`` must be a known order (this batch or ``stored``).
    """
    batch = {e.id: e for e in events}

    def known(ref: str, kind: EventKind) -> bool:
        e = batch.get(ref) or stored.get(ref)
        return e is not None and e.kind is kind

    for e in events:
        if e.campaign_id is not None and e.kind in (EventKind.IMPRESSION, EventKind.CLICK, EventKind.ORDER):
            if not live_at(terms.get(e.campaign_id, ()), e.ts_ms, e.product_id):
                raise EventRejected(
                    e.id,
                    "campaign_live",
                    f"campaign {e.campaign_id} was not live with product {e.product_id!r} at ts_ms {e.ts_ms} "
                    "(not created yet, paused, or the product not in it)",
                )
        if e.kind is EventKind.ORDER and e.click_id and not known(e.click_id, EventKind.CLICK):
            raise EventRejected(e.id, "order_names_a_click", f"unknown click {e.click_id!r}")
        if e.kind is EventKind.REFUND and not (e.order_id and known(e.order_id, EventKind.ORDER)):
            raise EventRejected(e.id, "refund_names_an_order", f"unknown order {e.order_id!r}")


__all__ = [
    "EventRejected",
    "check_event_references","CampaignTerms", "DayTerms", "in_force_at", "initial_terms", "live_at", "terms_for_day"]
