"""Pydantic bodies of the HTTP API, separate from the domain types. Money is integer micros."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Id = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")]
MicrosInt = Annotated[int, Field(ge=0, le=10**15)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CampaignIn(Strict):
    merchant_id: Id
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    product_ids: Annotated[list[Id], Field(min_length=1, max_length=10_000)]
    target_roi: Annotated[Decimal, Field(gt=0, le=100, max_digits=8, decimal_places=2)]
    daily_budget_micros: Annotated[int, Field(gt=0, le=10**13)]


class CampaignOut(BaseModel):
    id: str
    merchant_id: str
    name: str
    product_ids: list[str]
    target_roi: Decimal
    daily_budget_micros: int
    status: str
    created_ms: int


class ServeIn(Strict):
    request_id: Id
    user_id: Id
    kind: Literal["search", "feed"] = "search"
    query: Annotated[str, StringConstraints(max_length=500)] = ""
    slots: Annotated[int, Field(ge=1, le=50)] = 10
    ts_ms: Annotated[int, Field(ge=0)] = 0


class SlotOut(BaseModel):
    position: int
    product_id: str
    promoted: bool
    campaign_id: str | None
    price_micros: int
    pctr: float
    pcvr: float


class ServeOut(BaseModel):
    request_id: str
    slots: list[SlotOut]
    not_shown: list[tuple[str, str]]


class ServeBatchIn(Strict):
    requests: Annotated[list[ServeIn], Field(min_length=1, max_length=2_000)]


class ServeBatchOut(BaseModel):
    catalogue_version: int
    product_idx: list[list[int]]
    promoted: list[list[bool]]
    campaign_idx: list[list[int]]
    price_cpc_micros: list[list[int]]
    pctr: list[list[float]]
    pcvr: list[list[float]]


class EventIn(Strict):
    id: Id
    kind: Literal["impression", "click", "order", "refund"]
    ts_ms: Annotated[int, Field(gt=0)]
    user_id: Annotated[str, StringConstraints(max_length=128)] = ""
    product_id: Annotated[str, StringConstraints(max_length=128)] = ""
    request_id: Annotated[str, StringConstraints(max_length=128)] = ""
    campaign_id: Id | None = None
    position: Annotated[int, Field(ge=1, le=1000)] | None = None
    price_micros: MicrosInt = 0
    order_value_micros: MicrosInt = 0
    click_id: Id | None = None
    impression_id: Id | None = None
    order_id: Id | None = None


class EventsIn(Strict):
    events: Annotated[list[EventIn], Field(min_length=1, max_length=1_000)]


class EventsOut(BaseModel):
    inserted: int
    duplicates: int


class SettleIn(Strict):
    day: Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$")] | None = None
    start_ms: Annotated[int, Field(ge=0)] | None = None
    end_ms: Annotated[int, Field(gt=0)] | None = None


class CampaignSettlementOut(BaseModel):
    campaign_id: str
    merchant_id: str
    target_roi: Decimal
    clicks: int
    billable_clicks: int
    orders: int
    spend_micros: int
    gmv_micros: int
    roi: float | None
    compensation_micros: int


class SettleOut(BaseModel):
    period: str
    already_settled: bool
    campaigns: list[CampaignSettlementOut]
    transactions: list[str]


class ProductIn(Strict):
    id: Id
    shop_id: Id
    title: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    category: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    price_micros: Annotated[int, Field(gt=0, le=10**13)]
    brand: Annotated[str, StringConstraints(max_length=200)] = ""


class ShopIn(Strict):
    id: Id
    merchant_id: Id
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class CatalogueIn(Strict):
    shops: Annotated[list[ShopIn], Field(max_length=10_000)] = []
    products: Annotated[list[ProductIn], Field(max_length=100_000)] = []


class CatalogueOut(BaseModel):
    shops: int
    products: int
    catalogue_version: int


class ErrorOut(BaseModel):
    detail: str
