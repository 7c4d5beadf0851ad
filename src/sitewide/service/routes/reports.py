from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from sitewide.domain.ledger import merchant_accounts
from sitewide.domain.types import ValidationError
from sitewide.engine.reports import CampaignReport, CampaignStatement
from sitewide.service import forecast as fc
from sitewide.service.deps import AccountsDep, EngineDep, OperatorDep, PrincipalDep
from sitewide.service.reporting import campaign_days, merchant_statements, report
from sitewide.service.schemas import (
    AuctionLossesOut,
    Day,
    ErrorOut,
    ForecastOut,
    ForecastPoint,
    LossByProductOut,
    LossReasonOut,
    LossSampleOut,
    Page,
    ReportOut,
    ReportRow,
    StatementOut,
)
from sitewide.service.scope import page, visible_campaign

router = APIRouter(tags=["reports"], responses={401: {"model": ErrorOut}})


@router.get(
    "/reports", response_model=ReportOut, responses={404: {"model": ErrorOut}, 422: {"model": ErrorOut}}
)
def reports(
    engine: EngineDep,
    who: PrincipalDep,
    group_by: Literal["day", "campaign", "product"] = "day",
    campaign_id: Annotated[str | None, Query(max_length=64)] = None,
    merchant_id: Annotated[str | None, Query(max_length=64, description="operator only")] = None,
    start_day: Annotated[Day | None, Query()] = None,
    end_day: Annotated[Day | None, Query()] = None,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ReportOut:
    """Impressions, clicks, orders, spend, GMV, CTR, CVR, CPC, ROI (GMV ÷ spend), ACoS (spend ÷ GMV) and
    compensation of the caller's campaigns, grouped by day, campaign or product; days are inclusive."""
    for name, d in (("start_day", start_day), ("end_day", end_day)):
        if d is not None:
            try:
                datetime.strptime(d, "%Y-%m-%d")
            except ValueError as exc:
                raise ValidationError(f"{name}: {d} is not a calendar day") from exc
    if start_day and end_day and start_day > end_day:
        raise ValidationError("start_day: must not be after end_day")
    if campaign_id is not None:
        camps = [visible_campaign(engine, who, campaign_id)]
    else:
        owner = merchant_id if who.is_operator else who.merchant_id
        camps = engine.store.list_campaigns(owner)
    rows, total = report(engine, camps, group_by, start_day, end_day)
    items, n = page(rows, offset, limit)
    return ReportOut(
        group_by=group_by,
        rows=[ReportRow.model_validate(r) for r in items],
        total=ReportRow.model_validate(total),
        offset=offset,
        limit=limit,
        total_rows=n,
    )


@router.get("/reports/campaigns/{campaign_id}", responses={404: {"model": ErrorOut}})
def campaign_report(campaign_id: str, engine: EngineDep, who: PrincipalDep) -> CampaignReport:
    """Per-day impressions, clicks, orders, spend, GMV, ROI vs target and compensation for one campaign."""
    visible_campaign(engine, who, campaign_id)
    return engine.campaign_report(campaign_id)


@router.get(
    "/campaigns/{campaign_id}/statement",
    responses={404: {"model": ErrorOut}, 422: {"model": ErrorOut}},
    tags=["campaigns"],
)
def campaign_statement(
    campaign_id: str, engine: EngineDep, who: PrincipalDep, period: Annotated[Day | None, Query()] = None
) -> CampaignStatement:
    """The numbers settlement used for one campaign: per-day figures with the budget and target of the terms
    in force that day (and which versions), every terms version, the guarantee windows with the contract they
    used, and the ledger legs booked for the campaign. ``period``: one day, or all."""
    visible_campaign(engine, who, campaign_id)
    return engine.statement(campaign_id, period)


@router.get("/statements", response_model=Page[StatementOut], responses={422: {"model": ErrorOut}})
def statements(
    engine: EngineDep,
    who: PrincipalDep,
    merchant_id: Annotated[str | None, Query(max_length=64, description="required for the operator")] = None,
    period: Annotated[str | None, Query(max_length=64)] = None,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Page[StatementOut]:
    """Settlement statements, newest period first: charges, compensation (ROI guarantee) and ledger entries."""
    if who.is_operator:
        if merchant_id is None:
            raise ValidationError("merchant_id: required for the operator")
        mid = merchant_id
    else:
        assert who.merchant_id is not None
        mid = who.merchant_id
    cash_credit = merchant_accounts(mid)
    rows = merchant_statements(mid, engine.store.ledger_entries(merchant_id=mid, accounts=cash_credit))
    if period is not None:
        rows = [r for r in rows if r.period == period]
    items, total = page(rows, offset, limit)
    return Page(
        items=[StatementOut.model_validate(r.as_dict()) for r in items], total=total, offset=offset, limit=limit
    )


@router.get("/ledger/balances", responses={403: {"model": ErrorOut}})
def balances(engine: EngineDep, _: OperatorDep) -> dict[str, int]:
    """Operator only: every ledger account's balance."""
    return engine.store.balances()


@router.get(
    "/campaigns/{campaign_id}/auction-losses",
    response_model=AuctionLossesOut,
    responses={404: {"model": ErrorOut}},
    tags=["campaigns"],
)
def auction_losses(
    campaign_id: str,
    engine: EngineDep,
    accounts: AccountsDep,
    who: PrincipalDep,
    day: Annotated[Day | None, Query()] = None,
    samples: Annotated[int, Query(ge=0, le=500)] = 50,
) -> AuctionLossesOut:
    """Why the campaign's products were not shown: ``outbid``, ``below_reserve``, ``ineligible``,
    ``budget_exhausted``, ``ad_load_cap``, ``duplicate`` — counted over every served request, plus the losses
    of a sample of requests (one in 25 of each batch)."""
    visible_campaign(engine, who, campaign_id)
    rows = [r for r in accounts.losses(campaign_id) if day is None or r[0] == day]
    by_reason: dict[str, int] = {}
    by_product: dict[tuple[str, str], int] = {}
    for _, pid, reason, n in rows:
        by_reason[reason] = by_reason.get(reason, 0) + n
        by_product[(pid, reason)] = by_product.get((pid, reason), 0) + n
    return AuctionLossesOut(
        campaign_id=campaign_id,
        by_reason=[
            LossReasonOut(reason=r, count=n) for r, n in sorted(by_reason.items(), key=lambda x: -x[1])
        ],
        by_product=[
            LossByProductOut(product_id=p, reason=r, count=n)
            for (p, r), n in sorted(by_product.items(), key=lambda x: (-x[1], x[0]))
        ],
        samples=[
            LossSampleOut(
                ts_ms=s.ts_ms, request_id=s.request_id, product_id=s.product_id, reason=s.reason, rank=s.rank
            )
            for s in accounts.loss_samples(campaign_id, samples)
        ],
    )


def _days(engine: EngineDep, campaign_ids: list[str]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for cid in campaign_ids:
        out.extend((d.spend_micros, d.gmv_micros) for d in campaign_days(engine, cid))
    return out


@router.get(
    "/forecast", response_model=ForecastOut, responses={404: {"model": ErrorOut}, 422: {"model": ErrorOut}}
)
def forecast(
    engine: EngineDep,
    who: PrincipalDep,
    target_roi: Annotated[Decimal, Query(ge=Decimal("0.10"), le=100, max_digits=8, decimal_places=2)],
    daily_budget_micros: Annotated[int, Query(ge=10_000, le=10**13)],
    campaign_id: Annotated[str | None, Query(max_length=64)] = None,
    merchant_id: Annotated[str | None, Query(max_length=64, description="operator only")] = None,
) -> ForecastOut:
    """Spend → GMV curve for a target ROI: ``GMV = a · spend^b`` fitted on settled campaign-days (curvature
    pooled over the market, level from the campaign, else the merchant, else the market); see
    ``sitewide.service.forecast``."""
    own: list[str] = []
    mid = merchant_id if who.is_operator else who.merchant_id
    if campaign_id is not None:
        c = visible_campaign(engine, who, campaign_id)
        own, mid = [c.id], c.merchant_id
    all_camps = engine.store.list_campaigns()
    merchant = [c.id for c in all_camps if c.merchant_id == mid and c.id not in own]
    f = fc.forecast(
        float(target_roi),
        daily_budget_micros,
        _days(engine, own),
        _days(engine, merchant),
        _days(engine, [c.id for c in all_camps]),
    )
    return ForecastOut(
        model="gmv = a * spend^b (log-log least squares, b pooled over the market)",
        a=f.a,
        b=f.b,
        points_used=f.points_used,
        basis=f.basis,
        target_roi=f.target_roi,
        max_spend_micros=f.max_spend_micros,
        expected_spend_micros=f.expected_spend_micros,
        expected_gmv_micros=f.expected_gmv_micros,
        curve=[ForecastPoint(spend_micros=s, gmv_micros=g, roi=(g / s if s else 0.0)) for s, g in f.curve],
    )
