"""Bodies of the native auction-only call, ``POST /auctions`` (see :mod:`sitewide.engine.auctions`)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, model_validator

from sitewide.api.schemas import EventId, Id, Name, Strict

MAX_AUCTIONS = 5
MAX_SLOTS = 50
MAX_PRODUCTS = 10_000


def one_source(ids: object, category: object, query: str | None, *, both: str, neither: str) -> None:
    """An auction's candidates come from product ids or a category, not both, or from a query alone: the rule
    of the native and the compat auction bodies (each words its own error)."""
    if ids is not None and category is not None:
        raise ValueError(both)
    if ids is None and category is None and not query:
        raise ValueError(neither)


class AuctionIn(Strict):
    """One auction: candidates by ``product_ids``, or a ``category``, or a ``query`` (a query together with ids or a
    category orders the candidates by relevance to it). ``auction_id`` is generated when absent."""

    auction_id: EventId | None = None
    slots: Annotated[int, Field(ge=1, le=MAX_SLOTS)]
    user_id: Annotated[str, StringConstraints(max_length=128)] = ""
    product_ids: Annotated[list[Id], Field(min_length=1, max_length=MAX_PRODUCTS)] | None = None
    category: Name | None = None
    query: Annotated[str, StringConstraints(max_length=500)] = ""
    ts_ms: Annotated[int, Field(ge=0, le=10**14)] = 0

    @model_validator(mode="after")
    def _one_source(self) -> AuctionIn:
        one_source(
            self.product_ids,
            self.category,
            self.query,
            both="give product_ids or category, not both",
            neither="give product_ids, category or query",
        )
        return self


class AuctionsIn(Strict):
    auctions: Annotated[list[AuctionIn], Field(min_length=1, max_length=MAX_AUCTIONS)]


class WinnerOut(BaseModel):
    """A winning ad. Its later events name ``request_id`` = the auction id, ``product_id``, ``campaign_id``,
    ``position`` = ``rank`` and the click's ``price_micros`` (as for ``/serve``'s promoted slots)."""

    rank: int
    product_id: str
    campaign_id: str
    price_micros: int = Field(description="GSP price per click, integer micros")
    resolved_bid_id: str = Field(description="signed token of this win (what the compat events refer to)")


class AuctionOut(BaseModel):
    auction_id: str
    winners: list[WinnerOut]


class AuctionsOut(BaseModel):
    auctions: list[AuctionOut]
