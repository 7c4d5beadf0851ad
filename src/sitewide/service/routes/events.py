from __future__ import annotations

from fastapi import APIRouter

from sitewide.api.schemas import ErrorOut, EventsIn, EventsOut
from sitewide.domain.types import Event, EventKind
from sitewide.service.deps import EngineDep, OperatorDep

router = APIRouter(tags=["events"], responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}})


@router.post(
    "/events", response_model=EventsOut, responses={409: {"model": ErrorOut}, 422: {"model": ErrorOut}}
)
def post_events(body: EventsIn, engine: EngineDep, _: OperatorDep) -> EventsOut:
    """Platform (operator key): a batch of ≤ 1,000 events. Ids are idempotency keys: a repeat is a no-op, a changed body is 409."""
    evs = [Event(**{**e.model_dump(), "kind": EventKind(e.kind)}) for e in body.events]  # same fields
    r = engine.record_events(evs)
    return EventsOut(inserted=r.inserted, duplicates=r.duplicates)
