from __future__ import annotations

from fastapi import APIRouter

from sitewide.api.reports import SettleIn, SettleOut
from sitewide.service.deps import EngineDep, OperatorDep, errors
from sitewide.service.present import settle_out
from sitewide.service.usecases import settlement as uc

router = APIRouter(tags=["settlement"], responses=errors(401, 403))


@router.post("/settle", response_model=SettleOut, responses=errors(422))
def settle(body: SettleIn, engine: EngineDep, _: OperatorDep) -> SettleOut:
    """Operator only: settle a day (``day``) or a period (``start_ms`` and ``end_ms``), by default
    yesterday; idempotent per period. A period that has not ended is 422 unless ``preview`` (books nothing)."""
    rep = uc.settle(engine, body.day, body.start_ms, body.end_ms, body.preview)
    return settle_out(rep)
