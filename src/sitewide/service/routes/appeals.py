from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from sitewide.api.schemas import AppealIn, AppealOut, Page, ResolveIn
from sitewide.service.deps import AccountsDep, OperatorDep, PrincipalDep, StoreDep, errors
from sitewide.service.present import appeal_out
from sitewide.service.scope import PagingDep
from sitewide.service.usecases import appeals as uc

router = APIRouter(tags=["appeals"], responses=errors(401))


@router.post("/appeals", status_code=201, response_model=AppealOut, responses=errors(404, 422))
def create_appeal(body: AppealIn, store: StoreDep, accounts: AccountsDep, who: PrincipalDep) -> AppealOut:
    """Contest a product's eligibility or a shop's score. The appeal is recorded with the object's owner and
    stays open until the operator resolves it."""
    return appeal_out(uc.create_appeal(store, accounts, who, body.kind, body.object_id, body.message))


@router.get("/appeals", response_model=Page[AppealOut])
def list_appeals(
    paging: PagingDep,
    accounts: AccountsDep,
    who: PrincipalDep,
    status: Literal["open", "accepted", "rejected"] | None = None,
    object_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[AppealOut]:
    """The caller's appeals (the operator's: all), newest first."""
    return paging.page(uc.list_appeals(accounts, who, status, object_id), appeal_out)


@router.get("/appeals/{appeal_id}", response_model=AppealOut, responses=errors(404))
def get_appeal(appeal_id: str, accounts: AccountsDep, who: PrincipalDep) -> AppealOut:
    return appeal_out(uc.get_appeal(accounts, who, appeal_id))


@router.post("/appeals/{appeal_id}/resolve", response_model=AppealOut, responses=errors(403, 404, 409))
def resolve_appeal(body: ResolveIn, appeal_id: str, accounts: AccountsDep, _: OperatorDep) -> AppealOut:
    """Operator only: accept or reject an open appeal with a written resolution (once; a second resolution
    is 409). Accepting records the decision; the operator corrects the signals with ``PUT /products/signals``
    or ``PUT /shops/metrics``."""
    return appeal_out(accounts.resolve_appeal(appeal_id, body.decision, body.resolution))
