"""``POST /auctions``: the auction-only call (the caller's candidates, the engine's ads, resolved bid ids)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from sitewide.api.auctions import AuctionIn, AuctionOut, AuctionsIn, AuctionsOut, WinnerOut
from sitewide.engine import Engine
from sitewide.engine.auctions import AuctionOutcome, AuctionRequest, BidCodec
from sitewide.service.deps import EngineDep, OperatorDep, errors, from_state

router = APIRouter(tags=["serve"], responses=errors(401, 403))
CodecDep = Annotated[BidCodec, Depends(from_state("bid_codec"))]


def new_auction_id() -> str:
    return f"auc_{uuid.uuid4().hex}"


def _request(a: AuctionIn) -> AuctionRequest:
    return AuctionRequest(
        auction_id=a.auction_id or new_auction_id(),
        slots=a.slots,
        user_id=a.user_id,
        product_ids=tuple(a.product_ids or ()),
        category=a.category,
        query=a.query,
        ts_ms=a.ts_ms,
    )


def auction_out(o: AuctionOutcome, codec: BidCodec) -> AuctionOut:
    return AuctionOut(
        auction_id=o.auction_id,
        winners=[
            WinnerOut(
                rank=w.rank,
                product_id=w.product_id,
                campaign_id=w.campaign_id,
                price_micros=w.price_micros,
                resolved_bid_id=codec.encode(w),
            )
            for w in o.winners
        ],
    )


def auctions_json(body: AuctionsIn, engine: Engine, codec: BidCodec) -> bytes:
    """The answer to one ``POST /auctions`` as JSON bytes (this route's and ``service.hotpath``'s handler)."""
    out = engine.auctions([_request(a) for a in body.auctions])
    return AuctionsOut(auctions=[auction_out(o, codec) for o in out]).model_dump_json().encode()


def _auctions(body: AuctionsIn, engine: Engine, codec: BidCodec) -> Response:
    return Response(auctions_json(body, engine, codec), media_type="application/json")


@router.post("/auctions", response_model=AuctionsOut, responses=errors(422))
async def auctions(body: AuctionsIn, engine: EngineDep, codec: CodecDep, _: OperatorDep) -> Response:
    """Platform (operator key): 1–5 auctions over the caller's candidates (product ids, a category or a
    query), priced against the live campaigns like ``/serve`` (bids, pacing, GSP, reserve) with every slot an
    ad slot. Winners are ranked; report their impressions and clicks through ``/events`` with
    ``request_id`` = ``auction_id``, ``position`` = ``rank`` and the winner's ``campaign_id`` and
    ``price_micros``."""
    return await run_in_threadpool(_auctions, body, engine, codec)  # off the event loop, one thread hop
