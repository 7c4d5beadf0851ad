"""POST /events: how many batches of one process are in the engine at once (issue 24's GIL convoy)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from sitewide.api.schemas import EventsIn
from sitewide.domain.types import Event
from sitewide.ports import EventReceipt
from sitewide.service.routes import events as route


class SlowEngine:
    """Stands in for the engine: each batch takes 50 ms (the store's round trips) and the most batches inside
    at once is counted."""

    def __init__(self) -> None:
        self.inside = self.most = 0
        self.lock = threading.Lock()

    def record_events(self, evs: list[Event]) -> EventReceipt:
        with self.lock:
            self.inside += 1
            self.most = max(self.most, self.inside)
        time.sleep(0.05)
        with self.lock:
            self.inside -= 1
        return EventReceipt(inserted=len(evs), duplicates=0, inserted_ids=tuple(e.id for e in evs))


def test_a_burst_of_batches_enters_the_engine_a_few_at_a_time() -> None:
    """FastAPI's pool would run 20 batches side by side, every one of them wanting the GIL; the route lets
    EVENT_BATCHES_AT_ONCE in (more than one: the store's round trips still overlap) and answers them all."""
    engine = SlowEngine()
    bodies = [
        EventsIn.model_validate({"events": [{"id": f"e{i}", "kind": "impression", "ts_ms": 1}]})
        for i in range(20)
    ]
    with ThreadPoolExecutor(20) as pool:
        outs = list(pool.map(lambda b: route.post_events(b, cast(Any, engine), cast(Any, None)), bodies))
    assert [o.inserted for o in outs] == [1] * 20
    assert engine.most == route.EVENT_BATCHES_AT_ONCE > 1
