from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from sitewide.domain.accounts import Appeal
from sitewide.domain.types import NotFound
from sitewide.service.deps import AccountsDep, EngineDep, OperatorDep, PrincipalDep
from sitewide.service.schemas import AppealIn, AppealOut, ErrorOut, Page, ResolveIn
from sitewide.service.scope import page, visible_product, visible_shop

router = APIRouter(tags=["appeals"], responses={401: {"model": ErrorOut}})


def appeal_out(a: Appeal) -> AppealOut:
    return AppealOut(
        id=a.id,
        kind=a.kind,
        object_id=a.object_id,
        merchant_id=a.merchant_id,
        message=a.message,
        status=a.status,
        resolution=a.resolution,
        created_ms=a.created_ms,
        resolved_ms=a.resolved_ms,
    )


@router.post(
    "/appeals",
    status_code=201,
    response_model=AppealOut,
    responses={404: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)
def create_appeal(body: AppealIn, engine: EngineDep, accounts: AccountsDep, who: PrincipalDep) -> AppealOut:
    """Contest a product's eligibility or a shop's score. The appeal is recorded with the object's owner and
    stays open until the operator resolves it."""
    if body.kind == "product":
        _, owner = visible_product(engine, who, body.object_id)
    else:
        owner = visible_shop(engine, who, body.object_id).merchant_id
    return appeal_out(accounts.create_appeal(body.kind, body.object_id, owner, body.message))


@router.get("/appeals", response_model=Page[AppealOut])
def list_appeals(
    accounts: AccountsDep,
    who: PrincipalDep,
    status: Literal["open", "accepted", "rejected"] | None = None,
    object_id: Annotated[str | None, Query(max_length=64)] = None,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Page[AppealOut]:
    """The caller's appeals (the operator's: all), newest first."""
    rows = accounts.list_appeals(None if who.is_operator else who.merchant_id, status, object_id)
    items, total = page(rows, offset, limit)
    return Page(items=[appeal_out(a) for a in items], total=total, offset=offset, limit=limit)


@router.get("/appeals/{appeal_id}", response_model=AppealOut, responses={404: {"model": ErrorOut}})
def get_appeal(appeal_id: str, accounts: AccountsDep, who: PrincipalDep) -> AppealOut:
    a = accounts.get_appeal(appeal_id)
    if a is None or not who.can_see(a.merchant_id):
        raise NotFound(f"appeal {appeal_id} not found")
    return appeal_out(a)


@router.post(
    "/appeals/{appeal_id}/resolve",
    response_model=AppealOut,
    responses={403: {"model": ErrorOut}, 404: {"model": ErrorOut}, 409: {"model": ErrorOut}},
)
def resolve_appeal(body: ResolveIn, appeal_id: str, accounts: AccountsDep, _: OperatorDep) -> AppealOut:
    """Operator only: accept or reject an open appeal with a written resolution (once; a second resolution
    is 409). Accepting records the decision; the operator corrects the signals with ``PUT /products/signals``
    or ``PUT /shops/metrics``."""
    return appeal_out(accounts.resolve_appeal(appeal_id, body.decision, body.resolution))
