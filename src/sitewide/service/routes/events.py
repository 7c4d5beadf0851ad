from __future__ import annotations

import threading

from fastapi import APIRouter

from sitewide.api.schemas import EventsIn, EventsOut
from sitewide.domain.types import Event, EventKind
from sitewide.service.deps import EngineDep, OperatorDep, errors

# At most this many event batches of a process in the engine at once; the others wait on the semaphore, blocked
# (not in the GIL's queue). FastAPI runs the route on its 40-thread pool: a burst of batches put dozens of threads
# in the GIL's queue, and the one holding the engine's lock (feeding a batch) or the state lock (a /serve auction)
# got one switch interval in N: holds of 40-220 ms for ~2 ms of work, the soak's stalls (issue 24). Four keep
# the store's round trips of several batches overlapped (a pool of 2 threads cut PostgreSQL's ingestion).
EVENT_BATCHES_AT_ONCE = 4
_in_engine = threading.BoundedSemaphore(EVENT_BATCHES_AT_ONCE)
router = APIRouter(tags=["events"], responses=errors(401, 403))


@router.post("/events", response_model=EventsOut, responses=errors(409, 422))
def post_events(body: EventsIn, engine: EngineDep, _: OperatorDep) -> EventsOut:
    """Platform (operator key): a batch of ≤ 1,000 events. Ids are idempotency keys: a repeat is a no-op, a changed body is 409.
    Retention, which is also the idempotency window: 90 days. Settling a day drops the events of the days more than
    90 days before it and forgets their ids; an event dated before that horizon is 422 (nothing of the batch stored)."""
    evs = [Event(**{**e.model_dump(), "kind": EventKind(e.kind)}) for e in body.events]  # same fields
    with _in_engine:
        r = engine.record_events(evs)
    return EventsOut(inserted=r.inserted, duplicates=r.duplicates)
