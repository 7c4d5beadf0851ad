from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from sitewide.api.schemas import ServeBatchIn, ServeBatchOut, ServeIn, ServeOut
from sitewide.domain.types import RequestKind, ServeRequest
from sitewide.engine import Engine
from sitewide.ports import ServiceRecords
from sitewide.service.deps import AccountsDep, EngineDep, OperatorDep, VersionDep, errors
from sitewide.service.present import serve_out
from sitewide.service.usecases import serving as uc

router = APIRouter(tags=["serve"], responses=errors(401, 403))


def _request(r: ServeIn) -> ServeRequest:
    return ServeRequest(r.request_id, r.user_id, RequestKind.parse(r.kind), r.query, r.slots, r.ts_ms)


def serve_json(body: ServeIn, engine: Engine, accounts: ServiceRecords) -> bytes:
    """The answer to one ``POST /serve`` as JSON bytes (this route's and ``service.hotpath``'s handler)."""
    return serve_out(engine, uc.serve_one(engine, accounts, _request(body))).model_dump_json().encode()


def serve_json_many(bodies: list[ServeIn], engine: Engine, accounts: ServiceRecords) -> list[bytes]:
    """The answers to several ``POST /serve`` bodies, served together (``service.hotpath`` batches the requests
    that arrive at once); each is the JSON :func:`serve_json` gives for its body."""
    results = uc.serve_many(engine, accounts, [_request(b) for b in bodies])
    return [serve_out(engine, r).model_dump_json().encode() for r in results]


def _serve(body: ServeIn, engine: Engine, accounts: ServiceRecords) -> Response:
    return Response(serve_json(body, engine, accounts), media_type="application/json")


@router.post("/serve", response_model=ServeOut, responses=errors(422))
async def serve(body: ServeIn, engine: EngineDep, accounts: AccountsDep, _: OperatorDep) -> Response:
    """Platform (operator key): one request → a ranked list; promoted slots carry their campaign and
    per-click price; ``not_shown`` lists the candidates that lost and why."""
    return await run_in_threadpool(_serve, body, engine, accounts)  # off the event loop, one thread hop


@router.post("/serve/batch", response_model=ServeBatchOut, responses=errors(422))
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
