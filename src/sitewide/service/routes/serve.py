from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Request

from sitewide.domain.accounts import LossSample
from sitewide.domain.auction import Reason
from sitewide.domain.time import day_of
from sitewide.domain.types import RequestKind, ServeRequest
from sitewide.engine import Engine
from sitewide.ports import RequestBatch, ServedBatch, ServiceRecords
from sitewide.service.deps import AccountsDep, EngineDep, OperatorDep
from sitewide.service.schemas import ErrorOut, ServeBatchIn, ServeBatchOut, ServeIn, ServeOut, SlotOut
from sitewide.service.schemas_creative import SlotCreativeOut

router = APIRouter(tags=["serve"], responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}})

SAMPLE_EVERY = 25  # one request in this many keeps its per-candidate loss reasons (auction transparency)


def record_losses(
    engine: Engine, accounts: ServiceRecords, sb: ServedBatch, request_ids: list[str], ts_ms: int, every: int
) -> None:
    """Count, per (campaign, product, reason), the live ads that were not shown; keep every ``every``-th
    request's losses as samples."""
    cand, reason = sb.candidates, sb.reason
    camp = sb.candidate_campaign  # the campaign each candidate bid for, as the engine chose it
    if cand is None or reason is None or camp is None:
        return
    if cand.size == 0:
        return
    lost = (camp >= 0) & (reason != Reason.SHOWN) & (reason != Reason.PADDING)
    if not lost.any():
        return
    ids = list(engine.campaign_ids())
    pids = engine.catalogue_ids()
    rr, cc = np.nonzero(lost)
    key = np.stack([camp[rr, cc], cand[rr, cc], reason[rr, cc].astype(np.int64)], axis=1)
    uniq, counts = np.unique(key, axis=0, return_counts=True)
    totals = {
        (ids[int(k[0])], pids[int(k[1])], Reason(int(k[2])).name.lower()): int(n)
        for k, n in zip(uniq, counts, strict=True)
    }
    samples = [
        LossSample(
            ts_ms=ts_ms,
            request_id=request_ids[int(r)],
            campaign_id=ids[int(camp[r, c])],
            product_id=pids[int(cand[r, c])],
            reason=Reason(int(reason[r, c])).name.lower(),
            rank=int(c) + 1,
        )
        for r, c in zip(rr, cc, strict=True)
        if int(r) % every == 0
    ]
    accounts.add_losses(day_of(ts_ms), totals, samples)


@router.post("/serve", response_model=ServeOut, responses={422: {"model": ErrorOut}})
def serve(body: ServeIn, engine: EngineDep, accounts: AccountsDep, _: OperatorDep) -> ServeOut:
    """Platform (operator key): one request → a ranked list; promoted slots carry their campaign and
    per-click price; ``not_shown`` lists the candidates that lost and why."""
    ts = body.ts_ms or engine.clock.now_ms()
    res = engine.serve(
        ServeRequest(body.request_id, body.user_id, RequestKind.parse(body.kind), body.query, body.slots, ts)
    )
    camp_of = engine.product_campaigns()
    row = {p: i for i, p in enumerate(engine.catalogue_ids())}
    ids = list(engine.campaign_ids())
    samples = [
        LossSample(ts, body.request_id, ids[int(camp_of[row[pid]])], pid, why, 0)
        for pid, why in res.losers
        if pid in row and camp_of[row[pid]] >= 0
    ]
    totals: dict[tuple[str, str, str], int] = {}
    for s in samples:
        k = (s.campaign_id, s.product_id, s.reason)
        totals[k] = totals.get(k, 0) + 1
    accounts.add_losses(day_of(ts), totals, samples)
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
                variant=s.variant,
                creative=slot_creative(engine, s.creative_id),
            )
            for s in res.slots
        ],
        not_shown=list(res.losers),
    )


def slot_creative(engine: Engine, creative_id: str | None) -> SlotCreativeOut | None:
    if creative_id is None:
        return None
    c = engine.creatives.get(creative_id)
    d = c.draft
    url = f"/creatives/banners/{c.banner}" if c.banner else None
    return SlotCreativeOut(id=c.id, title=d.title, points=list(d.points), lang=d.lang.value, banner_url=url)


@router.post("/serve/batch", response_model=ServeBatchOut, responses={422: {"model": ErrorOut}})
def serve_batch(
    body: ServeBatchIn, engine: EngineDep, accounts: AccountsDep, request: Request, _: OperatorDep
) -> ServeBatchOut:
    """Platform (operator key): many requests at once (the simulator's path); slots are indices into
    ``GET /catalogue/ids``. Lost auctions are counted for the merchants' transparency report."""
    slots = max(r.slots for r in body.requests)
    ts = max(r.ts_ms for r in body.requests) or engine.clock.now_ms()
    rids = [r.request_id for r in body.requests]
    sb = engine.serve_batch(
        RequestBatch(
            request_ids=rids,
            user_ids=[r.user_id for r in body.requests],
            kinds=np.array([0 if r.kind == "search" else 1 for r in body.requests], dtype=np.int64),
            queries=[r.query for r in body.requests],
            ts_ms=ts,
            slots=slots,
        )
    )
    record_losses(engine, accounts, sb, rids, ts, getattr(request.app.state, "sample_every", SAMPLE_EVERY))
    return ServeBatchOut(
        catalogue_version=request.app.state.catalogue_version,
        product_idx=sb.product_idx.tolist(),
        promoted=sb.promoted.tolist(),
        campaign_idx=sb.campaign_idx.tolist(),
        price_cpc_micros=sb.price_cpc_micros.tolist(),
        pctr=sb.pctr.tolist(),
        pcvr=sb.pcvr.tolist(),
    )
