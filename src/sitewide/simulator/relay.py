"""A market engine that passes the simulator's calls on to another one.

The base of the adapters that stand between the story and an engine to watch some calls or send them
elsewhere: the what-if recorder (:mod:`sitewide.whatif`) counts what was shown and ordered, the demo's
in-process market (:mod:`sitewide.demo`) records lost auctions and settles through the API. Each overrides
only the calls it changes; the rest pass through as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

from sitewide.domain.types import Event
from sitewide.ports import EventReceipt, MarketEngine, RequestBatch, ServedBatch, Settlement

M = TypeVar("M", bound=MarketEngine)


class MarketRelay(Generic[M]):
    """A :class:`~sitewide.ports.MarketEngine` over ``engine``: every call goes to it unchanged."""

    def __init__(self, engine: M) -> None:
        self.engine = engine

    def catalogue_ids(self) -> Sequence[str]:
        return self.engine.catalogue_ids()

    def campaign_ids(self) -> Sequence[str]:
        return self.engine.campaign_ids()

    def serve_batch(self, batch: RequestBatch) -> ServedBatch:
        return self.engine.serve_batch(batch)

    def record_events(self, events: Sequence[Event]) -> EventReceipt:
        return self.engine.record_events(events)

    def settle(self, start_ms: int, end_ms: int) -> Settlement:
        return self.engine.settle(start_ms, end_ms)
