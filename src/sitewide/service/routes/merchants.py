from __future__ import annotations

from fastapi import APIRouter

from sitewide.api.schemas import KeyOut, MeOut, MerchantCreated, MerchantIn, MerchantOut, Page
from sitewide.domain.types import NotFound
from sitewide.service.deps import AccountsDep, OperatorDep, PrincipalDep, errors
from sitewide.service.present import merchant_out
from sitewide.service.scope import PagingDep

router = APIRouter(tags=["merchants"], responses=errors(401))


@router.get("/me", response_model=MeOut)
def me(who: PrincipalDep) -> MeOut:
    """Who the presented key belongs to."""
    return MeOut(role=who.role, merchant_id=who.merchant_id)


@router.post("/merchants", status_code=201, response_model=MerchantCreated, responses=errors(403, 409, 422))
def create_merchant(body: MerchantIn, accounts: AccountsDep, _: OperatorDep) -> MerchantCreated:
    """Operator only: register a merchant and return its first API key (shown once)."""
    m = accounts.create_merchant(body.id, body.name)
    return MerchantCreated(merchant=merchant_out(m), api_key=accounts.issue_key("merchant", m.id))


@router.get("/merchants", response_model=Page[MerchantOut], responses=errors(403))
def list_merchants(
    paging: PagingDep,
    accounts: AccountsDep,
    _: OperatorDep,
) -> Page[MerchantOut]:
    return paging.page(accounts.list_merchants(), merchant_out)


@router.get("/merchants/{merchant_id}", response_model=MerchantOut, responses=errors(404))
def get_merchant(merchant_id: str, accounts: AccountsDep, who: PrincipalDep) -> MerchantOut:
    m = accounts.get_merchant(merchant_id)
    if m is None or not who.can_see(m.id):
        raise NotFound(f"merchant {merchant_id} not found")
    return merchant_out(m)


@router.post(
    "/merchants/{merchant_id}/keys",
    status_code=201,
    response_model=KeyOut,
    responses=errors(403, 404),
)
def issue_key(merchant_id: str, accounts: AccountsDep, _: OperatorDep) -> KeyOut:
    """Operator only: a new API key for a merchant (existing keys keep working until revoked)."""
    return KeyOut(api_key=accounts.issue_key("merchant", merchant_id))


@router.delete("/merchants/{merchant_id}/keys", responses=errors(403, 404))
def revoke_keys(merchant_id: str, accounts: AccountsDep, _: OperatorDep) -> dict[str, int]:
    """Operator only: revoke every key of a merchant."""
    if accounts.get_merchant(merchant_id) is None:
        raise NotFound(f"merchant {merchant_id} not found")
    return {"revoked": accounts.revoke_keys(merchant_id)}
