from __future__ import annotations

from fastapi import APIRouter

from sitewide.api.schemas import ErrorOut, EventsIn, EventsOut
from sitewide.domain.money import Micros
from sitewide.domain.types import Event, EventKind
from sitewide.service.deps import EngineDep, OperatorDep

router = APIRouter(tags=["events"], responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}})


@router.post(
    "/events", response_model=EventsOut, responses={409: {"model": ErrorOut}, 422: {"model": ErrorOut}}
)
def post_events(body: EventsIn, engine: EngineDep, _: OperatorDep) -> EventsOut:
    """Platform (operator key): a batch of ≤ 1,000 events. Ids are idempotency keys: a repeat is a no-op, a changed body is 409."""
    evs = [
        Event(
            id=e.id,
            kind=EventKind(e.kind),
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
        for e in body.events
    ]
    r = engine.record_events(evs)
    return EventsOut(inserted=r.inserted, duplicates=r.duplicates)
