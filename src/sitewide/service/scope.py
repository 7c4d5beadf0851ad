"""Who may see what. A merchant sees only objects of its own shops; others' objects are "not found" (404),
so that ids of other merchants' objects cannot even be confirmed to exist. Reads go through the ``Store``
port the composition root hands to the app, never through the engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Query

from sitewide.api.schemas import Page
from sitewide.domain.accounts import Principal
from sitewide.domain.types import Campaign, NotFound, Product, Shop
from sitewide.ports import Store

T = TypeVar("T")
R = TypeVar("R")


def visible_shop(store: Store, who: Principal, shop_id: str) -> Shop:
    s = store.get_shop(shop_id)
    if s is None or not who.can_see(s.merchant_id):
        raise NotFound(f"shop {shop_id} not found")
    return s


def shop_owners(store: Store) -> dict[str, str]:
    return {s.id: s.merchant_id for s in store.list_shops()}


def visible_product(store: Store, who: Principal, product_id: str) -> tuple[Product, str]:
    p = store.get_product(product_id)
    owner = None
    if p is not None:
        s = store.get_shop(p.shop_id)
        owner = s.merchant_id if s else None
    if p is None or owner is None or not who.can_see(owner):
        raise NotFound(f"product {product_id} not found")
    return p, owner


def visible_campaign(store: Store, who: Principal, campaign_id: str) -> Campaign:
    c = store.get_campaign(campaign_id)
    if c is None or not who.can_see(c.merchant_id):
        raise NotFound(f"campaign {campaign_id} not found")
    return c


def owner_filter(who: Principal, merchant_id: str | None) -> str | None:
    """The merchant whose objects a list shows: a merchant's own; the operator's choice (None: all)."""
    return merchant_id if who.is_operator else who.merchant_id


def page(items: list[T], offset: int, limit: int) -> tuple[list[T], int]:
    return items[offset : offset + limit], len(items)


@dataclass(frozen=True, slots=True)
class Paging:
    """``offset`` and ``limit`` of a list request (the query parameters of every list endpoint)."""

    offset: int
    limit: int

    def page(self, items: list[T], out: Callable[[T], R]) -> Page[R]:
        """One page of ``items``, each rendered by ``out``, with the total that matched."""
        part, total = page(items, self.offset, self.limit)
        return Page(items=[out(x) for x in part], total=total, offset=self.offset, limit=self.limit)


def paging(
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> Paging:
    return Paging(offset, limit)


PagingDep = Annotated[Paging, Depends(paging)]
