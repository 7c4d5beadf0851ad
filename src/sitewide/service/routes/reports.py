from __future__ import annotations

from fastapi import APIRouter

from sitewide.service.deps import EngineDep
from sitewide.service.schemas import ErrorOut

router = APIRouter(tags=["reports"])


@router.get("/reports/campaigns/{campaign_id}", responses={404: {"model": ErrorOut}})
def campaign_report(campaign_id: str, engine: EngineDep) -> dict[str, object]:
    """Per-day impressions, clicks, orders, spend, GMV, ROI vs target and compensation for one campaign."""
    return engine.campaign_report(campaign_id)


@router.get("/ledger/balances")
def balances(engine: EngineDep) -> dict[str, int]:
    return engine.store.balances()
