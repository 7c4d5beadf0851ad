from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from sitewide.api.reports import (
    AuctionLossesOut,
    CampaignReportOut,
    CampaignStatementOut,
    ReportOut,
    StatementOut,
)
from sitewide.api.schemas import Day, Page
from sitewide.service.deps import (
    AccountsDep,
    CampaignIdQuery,
    EngineDep,
    MerchantIdQuery,
    OperatorDep,
    PrincipalDep,
    StoreDep,
    errors,
)
from sitewide.service.present import losses_out
from sitewide.service.scope import PagingDep, visible_campaign
from sitewide.service.usecases import reports as uc

router = APIRouter(tags=["reports"], responses=errors(401))


@router.get("/reports", response_model=ReportOut, responses=errors(404, 422))
def reports(
    store: StoreDep,
    who: PrincipalDep,
    group_by: Literal["day", "campaign", "product"] = "day",
    campaign_id: CampaignIdQuery = None,
    merchant_id: MerchantIdQuery = None,
    start_day: Annotated[Day | None, Query()] = None,
    end_day: Annotated[Day | None, Query()] = None,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ReportOut:
    """Impressions, clicks, orders, spend, GMV, CTR, CVR, CPC, ROI (GMV ÷ spend), ACoS (spend ÷ GMV) and
    compensation of the caller's campaigns, grouped by day, campaign or product; days are inclusive."""
    items, total, n = uc.campaigns_report(
        store, who, group_by, campaign_id, merchant_id, start_day, end_day, offset, limit
    )
    return ReportOut(
        group_by=group_by,
        rows=items,
        total=total,
        offset=offset,
        limit=limit,
        total_rows=n,
    )


@router.get("/reports/campaigns/{campaign_id}", response_model=CampaignReportOut, responses=errors(404))
def campaign_report(
    campaign_id: str, engine: EngineDep, store: StoreDep, who: PrincipalDep
) -> CampaignReportOut:
    """Per-day impressions, clicks, orders, spend, GMV, ROI vs target and compensation for one campaign."""
    visible_campaign(store, who, campaign_id)
    return CampaignReportOut.model_validate(engine.campaign_report(campaign_id))


@router.get(
    "/campaigns/{campaign_id}/statement",
    response_model=CampaignStatementOut,
    responses=errors(404, 422),
    tags=["campaigns"],
)
def campaign_statement(
    campaign_id: str,
    engine: EngineDep,
    store: StoreDep,
    who: PrincipalDep,
    period: Annotated[Day | None, Query()] = None,
) -> CampaignStatementOut:
    """The numbers settlement used for one campaign: per-day figures with the budget and target of the terms
    in force that day (and which versions), every terms version, the guarantee windows with the contract they
    used, and the ledger legs booked for the campaign. ``period``: one day, or all."""
    visible_campaign(store, who, campaign_id)
    return CampaignStatementOut(engine.statement(campaign_id, period))


@router.get("/statements", response_model=Page[StatementOut], responses=errors(422))
def statements(
    paging: PagingDep,
    store: StoreDep,
    who: PrincipalDep,
    merchant_id: Annotated[str | None, Query(max_length=64, description="required for the operator")] = None,
    period: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[StatementOut]:
    """Settlement statements, newest period first: charges, compensation (ROI guarantee) and ledger entries."""
    rows = uc.statements(store, uc.statements_merchant(who, merchant_id), period)
    return paging.page(rows, lambda r: StatementOut.model_validate(r, from_attributes=True))


@router.get("/ledger/balances", responses=errors(403))
def balances(store: StoreDep, _: OperatorDep) -> dict[str, int]:
    """Operator only: every ledger account's balance."""
    return store.balances()


@router.get(
    "/campaigns/{campaign_id}/auction-losses",
    response_model=AuctionLossesOut,
    responses=errors(404),
    tags=["campaigns"],
)
def auction_losses(
    campaign_id: str,
    store: StoreDep,
    accounts: AccountsDep,
    who: PrincipalDep,
    day: Annotated[Day | None, Query()] = None,
    samples: Annotated[int, Query(ge=0, le=500)] = 50,
) -> AuctionLossesOut:
    """Why the campaign's products were not shown: ``outbid``, ``below_reserve``, ``ineligible``,
    ``budget_exhausted``, ``ad_load_cap``, ``duplicate``, ``lease_pending`` (``serve --workers N``: the budget had
    room but the serving process held no lease slice for it yet or its read of the day's shared spend was stale)
    — counted over every served request, plus the losses of a sample of requests (one in 25 of each batch)."""
    return losses_out(uc.auction_losses(store, accounts, who, campaign_id, day, samples))
