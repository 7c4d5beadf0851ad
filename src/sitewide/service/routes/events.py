from __future__ import annotations

from fastapi import APIRouter

from sitewide.api.schemas import EventIn, EventsIn, EventsOut
from sitewide.domain.money import Micros
from sitewide.domain.types import Event, EventKind
from sitewide.service.deps import EngineDep, OperatorDep, errors

router = APIRouter(tags=["events"], responses=errors(401, 403))


@router.post("/events", response_model=EventsOut, responses=errors(409, 422))
def post_events(body: EventsIn, engine: EngineDep, _: OperatorDep) -> EventsOut:
    """Platform (operator key): a batch of ≤ 1,000 events. Ids are idempotency keys: a repeat is a no-op, a changed body is 409.
    Retention, which is also the idempotency window: 90 days. Settling a day drops the events of the days more than
    90 days before it and forgets their ids; an event dated before that horizon is 422 (nothing of the batch stored)."""
    evs = [_event(e) for e in body.events]
    r = engine.record_events(evs)
    return EventsOut(inserted=r.inserted, duplicates=r.duplicates)


_KINDS = {k.value: k for k in EventKind}


def _event(e: EventIn) -> Event:
    """The validated body's event as the engine's (the same fields), built directly: a ``model_dump`` and a
    keyword dict per event were ~0.4 ms of a batch of 100's request thread (issue 24)."""
    return Event(
        id=e.id,
        kind=_KINDS[e.kind],
        ts_ms=e.ts_ms,
        user_id=e.user_id,
        product_id=e.product_id,
        request_id=e.request_id,
        campaign_id=e.campaign_id,
        position=e.position,
        price_micros=Micros(e.price_micros),
        order_value_micros=Micros(e.order_value_micros),
        click_id=e.click_id,
        impression_id=e.impression_id,
        order_id=e.order_id,
    )
