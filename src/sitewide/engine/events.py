"""Event intake: validation, the rules that need the store, idempotent storage, and feeding what learns
online (the pacer, the experiments, the value calibrator, the feed's user vectors, the creative rotation)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sitewide.domain.creative_bandit import CreativeRotation
from sitewide.domain.terms import CampaignTerms, EventRejected, check_event_references
from sitewide.domain.types import Event, EventKind, ValidationError
from sitewide.engine.campaigns import CAMPAIGNS, CampaignBook
from sitewide.engine.catalogue import Catalogue
from sitewide.engine.config import MAX_EVENTS_PER_CALL
from sitewide.engine.retrieval import Retrieval
from sitewide.engine.value import ValueBook
from sitewide.ports import EventReceipt, Store


@dataclass(eq=False)
class EventIntake:
    store: Store
    catalogue: Catalogue
    campaigns: CampaignBook
    retrieval: Retrieval
    values: ValueBook
    creatives: CreativeRotation
    # the campaigns' terms histories read so far, under the store's campaigns version they were read at (read
    # before them, so never newer than they are): every batch re-read 50 campaigns' histories, ~1/4 of the
    # events handler's CPU on PostgreSQL (issue 24, profiled); now one read of the version counter, which every
    # change of a campaign's terms bumps in its own transaction, so the check is as fresh as a full read
    _terms_cache: tuple[int, dict[str, list[CampaignTerms]]] = field(
        default_factory=lambda: (-1, {}), init=False, repr=False
    )

    def _terms(self, cids: list[str]) -> dict[str, list[CampaignTerms]]:
        """The terms histories of ``cids`` known to the store (unknown ids left out), from the cache while the
        store's campaigns version is the one they were read at. Threads share it: a thread replaces the whole
        (version, histories) pair for a new version, or adds to the histories of the version it read."""
        version = self.store.store_version(CAMPAIGNS)
        at, known = self._terms_cache
        if at != version:
            known = {}
        if missing := [c for c in cids if c not in known]:
            known.update(self.store.campaign_terms(missing))
            if at != version:
                self._terms_cache = (version, known)
        return {c: known[c] for c in cids if c in known}

    def _validate(self, e: Event) -> None:
        if not e.id or len(e.id) > 128:
            raise ValidationError("event id must be 1..128 characters")
        if not isinstance(e.kind, EventKind):
            raise ValidationError(f"event {e.id}: unknown kind {e.kind!r}")
        if e.ts_ms <= 0 or e.ts_ms >= 1 << 50:
            raise ValidationError(f"event {e.id}: ts_ms must be a positive epoch-ms timestamp")
        if max(int(e.price_micros), int(e.order_value_micros)) > 10**15:
            raise ValidationError(f"event {e.id}: amount above 10^15 micros")
        if e.kind is EventKind.ORDER and not e.click_id and not (e.user_id and e.product_id):
            raise ValidationError(f"event {e.id}: an order needs click_id or user_id and product_id")
        if (
            e.kind in (EventKind.IMPRESSION, EventKind.CLICK, EventKind.ORDER)
            and e.product_id not in self.catalogue.row
        ):
            raise ValidationError(f"event {e.id}: unknown product {e.product_id!r}")
        if (
            e.campaign_id is not None
            and e.campaign_id not in self.campaigns.row
            and not self.campaigns.known_elsewhere(e.campaign_id)
        ):
            raise ValidationError(f"event {e.id}: unknown campaign {e.campaign_id!r}")
        if e.price_micros < 0 or e.order_value_micros < 0:
            raise ValidationError(f"event {e.id}: amounts must be ≥ 0")
        if e.kind is EventKind.REFUND and not e.order_id:
            raise ValidationError(f"event {e.id}: a refund needs order_id")

    def _check_references(self, events: Sequence[Event]) -> None:
        """The rules that need the store (see :func:`sitewide.domain.terms.check_event_references`)."""
        cids = sorted({e.campaign_id for e in events if e.campaign_id})
        named = sorted(
            (
                {e.click_id for e in events if e.kind is EventKind.ORDER and e.click_id}
                | {e.order_id for e in events if e.kind is EventKind.REFUND and e.order_id}
            )
            - {e.id for e in events}
        )
        check_event_references(
            events,
            self._terms(cids) if cids else {},
            self.store.get_events(named) if named else {},
        )

    def check(self, events: Sequence[Event]) -> None:
        """Raise ValidationError naming the first event that breaks a rule (nothing is stored then)."""
        if len(events) > MAX_EVENTS_PER_CALL:
            raise ValidationError(f"at most {MAX_EVENTS_PER_CALL} events per call, got {len(events)}")
        for e in events:
            self._validate(e)
        try:
            self._check_references(events)
        except EventRejected:
            # a retry of an event already stored is a duplicate, not a new fact: the rules judged it when it was
            # first accepted, and a campaign edited since (even within the same millisecond, which puts the new
            # terms in force at the event's own time) must not turn an idempotent retry into an error
            stored = self.store.get_events(sorted({e.id for e in events}))
            fresh = [e for e in events if e.id not in stored]
            if len(fresh) == len(events):
                raise
            self._check_references(fresh)

    def store_batch(self, events: Sequence[Event]) -> EventReceipt:
        """Store a checked batch idempotently and add its new clicks' cost to the day's shared spend: the
        store's own transactions, needing no engine lock (two batches naming one id are serialised by the
        store, which reports the id as inserted to one of them), so requests are served meanwhile."""
        receipt = self.store.append_events(events)
        fresh = set(receipt.inserted_ids)
        self.campaigns.share_spend([e for e in events if e.id in fresh])
        return receipt

    def feed(self, events: Sequence[Event], receipt: EventReceipt) -> EventReceipt:
        """Feed a stored batch's new events to what learns online (under the engine's locks)."""
        if any(e.campaign_id is not None and e.campaign_id not in self.campaigns.row for e in events):
            self.campaigns.follow(now=True)  # one created by another process: load it before feeding
        fresh = set(receipt.inserted_ids)
        for e in events:
            if e.id not in fresh:
                continue
            fresh.discard(e.id)
            self.campaigns.feed(e)
            self.values.feed(e)
            if e.kind is EventKind.CLICK:
                self.retrieval.remember_click(e.user_id, e.product_id)
            self.creatives.feedback(e.kind.value, e.id, e.request_id, e.product_id, e.click_id)
        return receipt
