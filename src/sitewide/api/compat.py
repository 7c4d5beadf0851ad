"""Bodies of the retail-media compatible routes, ``/compat/v2/auctions`` and ``/compat/v2/events``.

The shape follows the widely used public "auctions + events" retail-media API (camelCase field names, batched
auctions of type ``listings``, ``resolvedBidId`` tying events to a win, errors as a JSON array of
``{errCode, docUrl, message}``); see docs/compat.md for the side-by-side with the native API and what is
accepted but not used. Unknown fields are ignored, as a client of that API may send more than this engine reads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from sitewide.api.auctions import MAX_AUCTIONS, MAX_PRODUCTS, MAX_SLOTS, one_source

MAX_EVENTS = 1_000  # impressions + clicks + purchase items per call (the native batch limit)
DOC_URL = "docs/compat.md#errors"

Text = Annotated[str, StringConstraints(min_length=1, max_length=128)]
EventKey = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:\-]+$")]


class Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class CompatProducts(Lenient):
    ids: Annotated[
        list[Annotated[str, StringConstraints(min_length=1, max_length=64)]],
        Field(min_length=1, max_length=MAX_PRODUCTS),
    ]
    qualityScores: (
        Annotated[list[Annotated[float, Field(ge=0, le=1)]], Field(max_length=MAX_PRODUCTS)] | None
    ) = None

    @model_validator(mode="after")
    def _aligned(self) -> CompatProducts:
        if self.qualityScores is not None and len(self.qualityScores) != len(self.ids):
            raise ValueError("qualityScores must have one score per product id")
        return self


class CompatCategory(Lenient):
    id: Text


class CompatGeo(Lenient):
    location: Text


class CompatAuction(Lenient):
    """One sponsored-listings auction: exactly one of ``products`` and ``category``, or a ``searchQuery``."""

    type: Literal["listings"]
    slots: Annotated[int, Field(ge=1, le=MAX_SLOTS)]
    products: CompatProducts | None = None
    category: CompatCategory | None = None
    searchQuery: Annotated[str, StringConstraints(max_length=500)] | None = None
    opaqueUserId: Annotated[str, StringConstraints(max_length=128)] | None = None
    geoTargeting: CompatGeo | None = None  # (accepted; this engine does not target by place)

    @model_validator(mode="after")
    def _context(self) -> CompatAuction:
        one_source(
            self.products,
            self.category,
            self.searchQuery,
            both="exactly one of products and category may be set",
            neither="missing context: give products, a category or a searchQuery",
        )
        return self


class CompatAuctionsIn(Lenient):
    auctions: Annotated[list[CompatAuction], Field(min_length=1, max_length=MAX_AUCTIONS)]


class CompatWinner(BaseModel):
    rank: int
    type: Literal["product"] = "product"
    id: str
    resolvedBidId: str
    campaignId: str


class CompatResult(BaseModel):
    resultType: Literal["listings"] = "listings"
    winners: list[CompatWinner]
    error: bool = False


class CompatAuctionsOut(BaseModel):
    results: list[CompatResult]


class CompatEntity(Lenient):
    id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    type: Literal["product"] = "product"


class CompatPlacement(Lenient):
    path: Annotated[str, StringConstraints(max_length=2_000)] | None = None
    position: Annotated[int, Field(ge=1, le=1_000)] | None = None


class CompatInteraction(Lenient):
    """An impression or a click: a promoted one names its ``resolvedBidId``, an organic one its ``entity``."""

    id: EventKey
    occurredAt: AwareDatetime
    opaqueUserId: Text
    resolvedBidId: Annotated[str, StringConstraints(min_length=1, max_length=2_000)] | None = None
    entity: CompatEntity | None = None
    placement: CompatPlacement | None = None

    @model_validator(mode="after")
    def _target(self) -> CompatInteraction:
        if self.resolvedBidId is None and self.entity is None:
            raise ValueError("an interaction needs a resolvedBidId (promoted) or an entity (organic)")
        return self


class CompatItem(Lenient):
    productId: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    quantity: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    unitPrice: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]  # (currency units)
    vendorId: Annotated[str, StringConstraints(max_length=128)] | None = None


class CompatPurchase(Lenient):
    id: EventKey
    occurredAt: AwareDatetime
    opaqueUserId: Text
    items: Annotated[list[CompatItem], Field(min_length=1, max_length=MAX_EVENTS)]


class CompatEventsIn(Lenient):
    impressions: Annotated[list[CompatInteraction], Field(max_length=MAX_EVENTS)] = []
    clicks: Annotated[list[CompatInteraction], Field(max_length=MAX_EVENTS)] = []
    purchases: Annotated[list[CompatPurchase], Field(max_length=MAX_EVENTS)] = []

    @model_validator(mode="after")
    def _size(self) -> CompatEventsIn:
        n = len(self.impressions) + len(self.clicks) + sum(len(p.items) for p in self.purchases)
        if n == 0:
            raise ValueError("empty request: send impressions, clicks or purchases")
        if n > MAX_EVENTS:
            raise ValueError(f"at most {MAX_EVENTS} impressions, clicks and purchase items per call, got {n}")
        return self


class CompatError(BaseModel):
    errCode: str
    docUrl: str = DOC_URL
    message: str | None = None


def epoch_ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)
