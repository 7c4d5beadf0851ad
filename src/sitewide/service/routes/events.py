from __future__ import annotations

from fastapi import APIRouter

from sitewide.api.schemas import EventsIn, EventsOut
from sitewide.domain.types import Event, EventKind
from sitewide.service.deps import EngineDep, OperatorDep, errors

router = APIRouter(tags=["events"], responses=errors(401, 403))


@router.post("/events", response_model=EventsOut, responses=errors(409, 422))
def post_events(body: EventsIn, engine: EngineDep, _: OperatorDep) -> EventsOut:
    """Platform (operator key): a batch of ≤ 1,000 events. Ids are idempotency keys: a repeat is a no-op, a changed body is 409.
    Retention, which is also the idempotency window: 90 days. Settling a day drops the events of the days more than
    90 days before it and forgets their ids; an event dated before that horizon is 422 (nothing of the batch stored)."""
    evs = [Event(**{**e.model_dump(), "kind": EventKind(e.kind)}) for e in body.events]  # same fields
    r = engine.record_events(evs)
    return EventsOut(inserted=r.inserted, duplicates=r.duplicates)
