"""Appeals: a merchant contests a product's eligibility or a shop's score; the operator resolves."""

from __future__ import annotations

from sitewide.domain.accounts import Appeal, AppealKind, Principal
from sitewide.domain.types import NotFound
from sitewide.ports import ServiceRecords, Store
from sitewide.service.scope import visible_product, visible_shop


def create_appeal(
    store: Store, accounts: ServiceRecords, who: Principal, kind: AppealKind, object_id: str, message: str
) -> Appeal:
    """Recorded with the object's owner (the object must be visible to the caller); open until resolved."""
    if kind == "product":
        _, owner = visible_product(store, who, object_id)
    else:
        owner = visible_shop(store, who, object_id).merchant_id
    return accounts.create_appeal(kind, object_id, owner, message)


def list_appeals(
    accounts: ServiceRecords, who: Principal, status: str | None = None, object_id: str | None = None
) -> list[Appeal]:
    """The caller's appeals (the operator's: all), newest first."""
    return accounts.list_appeals(None if who.is_operator else who.merchant_id, status, object_id)


def get_appeal(accounts: ServiceRecords, who: Principal, appeal_id: str) -> Appeal:
    a = accounts.get_appeal(appeal_id)
    if a is None or not who.can_see(a.merchant_id):
        raise NotFound(f"appeal {appeal_id} not found")
    return a
