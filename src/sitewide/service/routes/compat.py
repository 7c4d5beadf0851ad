"""The retail-media compatible routes: ``POST /compat/v2/auctions`` and ``POST /compat/v2/events``.

A marketplace integrated with the common retail-media "auctions + events" API switches by changing its base URL
and key. Auctions run on the engine's auction-only path (:mod:`sitewide.engine.auctions`); events become the
native events ``POST /events`` stores (same validation, idempotency and attribution, settled the same way):

- an impression or click with a ``resolvedBidId`` is the native promoted event of that win (auction id as
  ``request_id``, product, campaign, rank as ``position``, the win's per-click price); with an ``entity`` instead
  it is an organic event of that product;
- a purchase is one native order per item (``order_value_micros`` = unit price × quantity, in micros), attributed
  by the attribution module to the user's clicks on the product like any native order;
- event ids are the idempotency keys: the native id is ``impression:<id>``, ``click:<id>`` and
  ``purchase:<id>:<item index>``, so that the three lists may reuse each other's ids.

Errors are a JSON array of ``{errCode, docUrl, message}`` with the statuses that API documents: 400 (unparsable,
empty, an unknown resolved bid id, a reused event id with another body), 403 (missing, invalid or non-operator
key), 404/405 (no such route), 422 (the body does not match the model). Success of events is 204.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException  # FastAPI's is a subclass

from sitewide.api.compat import (
    CompatAuctionsIn,
    CompatAuctionsOut,
    CompatError,
    CompatEventsIn,
    CompatInteraction,
    CompatResult,
    CompatWinner,
    epoch_ms,
)
from sitewide.domain.money import MoneyError
from sitewide.domain.types import Conflict, Event, EventKind, NotFound, ValidationError
from sitewide.engine.auctions import AuctionRequest, BidCodec
from sitewide.service.deps import EngineDep, OperatorDep
from sitewide.service.routes.auctions import CodecDep, new_auction_id

PREFIX = "/compat/v2"


class CompatFailure(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_body(status: int, code: str, message: str) -> JSONResponse:
    body = [CompatError(errCode=code, message=message).model_dump()]
    return JSONResponse(status_code=status, content=body)


def _validation_code(errors: list[dict[str, Any]]) -> tuple[int, str]:
    """Status and ``errCode`` of a body that did not validate (the first error decides)."""
    e = errors[0] if errors else {}
    kind, loc, msg = str(e.get("type", "")), [str(x) for x in e.get("loc", ())], str(e.get("msg", ""))
    if kind == "json_invalid":
        return 400, "invalid_json"
    if loc == ["body"] and kind == "missing":
        return 400, "empty_request"
    if loc[-1:] == ["auctions"]:
        return 422, "too_many_auctions" if kind == "too_long" else "missing_auctions"
    if loc[-1:] == ["slots"] and kind in ("missing", "greater_than_equal"):
        return 422, "missing_slots" if kind == "missing" else "too_few_slots"
    if "missing context" in msg:
        return 422, "missing_context"
    if "empty request" in msg:
        return 400, "empty_request"
    return 422, "bad_request"


def error_response(exc: Exception) -> JSONResponse | None:
    """The compat error for an exception raised while handling a compat route (None: not ours to answer)."""
    if isinstance(exc, CompatFailure):
        return error_body(exc.status, exc.code, exc.message)
    if isinstance(exc, RequestValidationError):
        errs = list(exc.errors())
        status, code = _validation_code(errs)
        parts = [
            f"{'.'.join(str(x) for x in e.get('loc', ()) if x != 'body')}: {e.get('msg')}" for e in errs[:5]
        ]
        return error_body(status, code, "; ".join(parts) or "invalid request")
    if isinstance(exc, HTTPException):
        if exc.status_code in (401, 403):
            return error_body(403, "invalid_api_key", str(exc.detail))
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request")
        return error_body(exc.status_code, code, str(exc.detail))
    if isinstance(exc, ValidationError | MoneyError):
        return error_body(422, "bad_request", str(exc))
    if isinstance(exc, Conflict):
        return error_body(400, "invalid_operation", str(exc))
    if isinstance(exc, NotFound):
        return error_body(404, "not_found", str(exc))
    return None


class CompatRoute(APIRoute):
    """Answers every failure inside a compat route (body validation and authentication included) with the
    compat error array instead of the native ``{"detail": ...}``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                answer = error_response(exc)
                if answer is None:
                    raise
                return answer

        return run


ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": list[CompatError], "description": d}
    for s, d in [(400, "bad request"), (403, "invalid API key"), (422, "body does not match the model")]
}
router = APIRouter(tags=["compat"], route_class=CompatRoute, responses=ERRORS)


@router.post(f"{PREFIX}/auctions", response_model=CompatAuctionsOut)
def compat_auctions(
    body: CompatAuctionsIn, engine: EngineDep, codec: CodecDep, _: OperatorDep
) -> CompatAuctionsOut:
    """Retail-media compatible batched auctions (1–5, type ``listings``): candidates by ``products.ids``, a
    ``category.id`` or a ``searchQuery``; ranked winners with a ``resolvedBidId`` each. ``qualityScores`` and
    ``geoTargeting`` are accepted and not used."""
    reqs = [
        AuctionRequest(
            auction_id=new_auction_id(),
            slots=a.slots,
            user_id=a.opaqueUserId or "",
            product_ids=tuple(a.products.ids) if a.products else (),
            category=a.category.id if a.category else None,
            query=a.searchQuery or "",
        )
        for a in body.auctions
    ]
    out = engine.auctions(reqs)
    return CompatAuctionsOut(
        results=[
            CompatResult(
                winners=[
                    CompatWinner(
                        rank=w.rank, id=w.product_id, resolvedBidId=codec.encode(w), campaignId=w.campaign_id
                    )
                    for w in o.winners
                ]
            )
            for o in out
        ]
    )


def _interaction(kind: EventKind, e: CompatInteraction, codec: BidCodec) -> Event:
    ts, user = epoch_ms(e.occurredAt), e.opaqueUserId
    eid = f"{kind.value}:{e.id}"
    if e.resolvedBidId is not None:
        try:
            bid = codec.decode(e.resolvedBidId)
        except ValidationError as exc:
            raise CompatFailure(400, "invalid_auction_id", f"{kind.value} {e.id}: {exc}") from exc
        return Event(
            eid,
            kind,
            ts,
            user_id=user,
            product_id=bid.product_id,
            request_id=bid.auction_id,
            campaign_id=bid.campaign_id,
            position=bid.rank,
            price_micros=bid.price_micros,  # type: ignore[arg-type]
        )
    assert e.entity is not None  # the model requires one of the two
    position = e.placement.position if e.placement is not None else None
    return Event(eid, kind, ts, user_id=user, product_id=e.entity.id, position=position)


def native_events(body: CompatEventsIn, codec: BidCodec) -> list[Event]:
    """The native events a compat events body stands for (see the module docstring)."""
    out = [_interaction(EventKind.IMPRESSION, e, codec) for e in body.impressions]
    out += [_interaction(EventKind.CLICK, e, codec) for e in body.clicks]
    for p in body.purchases:
        ts = epoch_ms(p.occurredAt)
        for n, item in enumerate(p.items):
            value = int(Decimal(str(item.unitPrice)) * 1_000_000) * item.quantity
            out.append(
                Event(
                    f"purchase:{p.id}:{n}",
                    EventKind.ORDER,
                    ts,
                    user_id=p.opaqueUserId,
                    product_id=item.productId,
                    order_value_micros=value,  # type: ignore[arg-type]
                )
            )
    return out


@router.post(
    f"{PREFIX}/events",
    status_code=204,
    response_class=Response,
    responses={204: {"description": "all events were recorded (repeats of recorded ids are no-ops)"}},
)
def compat_events(body: CompatEventsIn, engine: EngineDep, codec: CodecDep, _: OperatorDep) -> Response:
    """Retail-media compatible batched events: ``impressions``, ``clicks`` (promoted with a ``resolvedBidId``,
    organic with an ``entity``) and ``purchases`` (items with quantity and unit price). Each event's ``id`` is
    its idempotency key; a batch with a bad event stores nothing."""
    engine.record_events(native_events(body, codec))
    return Response(status_code=204)
