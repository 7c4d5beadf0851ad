from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Request

from sitewide.domain.types import RequestKind, ServeRequest
from sitewide.ports import RequestBatch
from sitewide.service.deps import EngineDep
from sitewide.service.schemas import ServeBatchIn, ServeBatchOut, ServeIn, ServeOut, SlotOut

router = APIRouter(tags=["serve"])


@router.post("/serve", response_model=ServeOut)
def serve(body: ServeIn, engine: EngineDep) -> ServeOut:
    """One request → a ranked list; promoted slots carry their campaign and per-click price."""
    res = engine.serve(
        ServeRequest(
            body.request_id, body.user_id, RequestKind(body.kind), body.query, body.slots, body.ts_ms
        )
    )
    return ServeOut(
        request_id=res.request_id,
        slots=[
            SlotOut(
                position=s.position,
                product_id=s.product_id,
                promoted=s.promoted,
                campaign_id=s.campaign_id,
                price_micros=int(s.price_micros),
                pctr=s.pctr,
                pcvr=s.pcvr,
            )
            for s in res.slots
        ],
        not_shown=list(res.losers),
    )


@router.post("/serve/batch", response_model=ServeBatchOut)
def serve_batch(body: ServeBatchIn, engine: EngineDep, request: Request) -> ServeBatchOut:
    """Many requests at once (the simulator's path); slots are indices into ``GET /catalogue/ids``."""
    slots = max(r.slots for r in body.requests)
    ts = max(r.ts_ms for r in body.requests) or engine.clock.now_ms()
    sb = engine.serve_batch(
        RequestBatch(
            request_ids=[r.request_id for r in body.requests],
            user_ids=[r.user_id for r in body.requests],
            kinds=np.array([0 if r.kind == "search" else 1 for r in body.requests], dtype=np.int64),
            queries=[r.query for r in body.requests],
            ts_ms=ts,
            slots=slots,
        )
    )
    return ServeBatchOut(
        catalogue_version=request.app.state.catalogue_version,
        product_idx=sb.product_idx.tolist(),
        promoted=sb.promoted.tolist(),
        campaign_idx=sb.campaign_idx.tolist(),
        price_cpc_micros=sb.price_cpc_micros.tolist(),
        pctr=sb.pctr.tolist(),
        pcvr=sb.pcvr.tolist(),
    )
