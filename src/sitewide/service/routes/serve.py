from __future__ import annotations

from fastapi import APIRouter

from sitewide.domain.types import RequestKind, ServeRequest
from sitewide.service.deps import AccountsDep, EngineDep, OperatorDep, VersionDep
from sitewide.service.present import slot_creative
from sitewide.service.schemas import ErrorOut, ServeBatchIn, ServeBatchOut, ServeIn, ServeOut, SlotOut
from sitewide.service.usecases import serving as uc

router = APIRouter(tags=["serve"], responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}})


def _request(r: ServeIn) -> ServeRequest:
    return ServeRequest(r.request_id, r.user_id, RequestKind.parse(r.kind), r.query, r.slots, r.ts_ms)


@router.post("/serve", response_model=ServeOut, responses={422: {"model": ErrorOut}})
def serve(body: ServeIn, engine: EngineDep, accounts: AccountsDep, _: OperatorDep) -> ServeOut:
    """Platform (operator key): one request → a ranked list; promoted slots carry their campaign and
    per-click price; ``not_shown`` lists the candidates that lost and why."""
    res = uc.serve_one(engine, accounts, _request(body))
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


@router.post("/serve/batch", response_model=ServeBatchOut, responses={422: {"model": ErrorOut}})
def serve_batch(
    body: ServeBatchIn,
    engine: EngineDep,
    accounts: AccountsDep,
    version: VersionDep,
    _: OperatorDep,
) -> ServeBatchOut:
    """Platform (operator key): many requests at once (the simulator's path); slots are indices into
    ``GET /catalogue/ids``. Lost auctions are counted for the merchants' transparency report."""
    sb = uc.serve_batch(engine, accounts, [_request(r) for r in body.requests])
    return ServeBatchOut(
        catalogue_version=version.value,
        product_idx=sb.product_idx.tolist(),
        promoted=sb.promoted.tolist(),
        campaign_idx=sb.campaign_idx.tolist(),
        price_cpc_micros=sb.price_cpc_micros.tolist(),
        pctr=sb.pctr.tolist(),
        pcvr=sb.pcvr.tolist(),
    )
