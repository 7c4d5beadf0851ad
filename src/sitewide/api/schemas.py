"""Pydantic bodies of the HTTP API, separate from the domain types. Money is integer micros."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from sitewide.api.creative import SlotCreativeOut
from sitewide.domain.shop_score import FactorScore
from sitewide.domain.types import ID_PATTERN

Id = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=ID_PATTERN)]  # no ":"
EventId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")]
MicrosInt = Annotated[int, Field(ge=0, le=10**15)]
Day = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$")]
# text people read back: no control characters (NUL, ...), no bidirectional overrides/isolates (they let a
# name display as something else), not only spaces
UNSAFE_TEXT = frozenset(chr(c) for c in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), 0x200E, 0x200F,
                                         *range(0x202A, 0x202F), *range(0x2066, 0x206A)])  # fmt: skip


def _safe_text(v: str) -> str:
    if not v.strip():
        raise ValueError("must not be empty or only spaces")
    bad = sorted({f"U+{ord(ch):04X}" for ch in v if ch in UNSAFE_TEXT})
    if bad:
        raise ValueError(
            f"control or bidirectional-override characters are not allowed: {', '.join(bad[:5])}"
        )
    return v


Name = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(_safe_text)]

# campaign limits (validated at the boundary; documented in the OpenAPI schema)
MIN_TARGET_ROI = Decimal("0.10")
MAX_TARGET_ROI = Decimal("100")
MIN_DAILY_BUDGET_MICROS = 10_000  # 0.01 CNY
MAX_DAILY_BUDGET_MICROS = 10**13  # 10 million CNY
TargetRoi = Annotated[Decimal, Field(ge=MIN_TARGET_ROI, le=MAX_TARGET_ROI, max_digits=8, decimal_places=2)]
Budget = Annotated[
    int, Field(ge=MIN_DAILY_BUDGET_MICROS, le=MAX_DAILY_BUDGET_MICROS, strict=True)
]  # no "100000"

T = TypeVar("T")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HealthOut(BaseModel):
    status: str


class Page(BaseModel, Generic[T]):
    """One page of a list: ``items``, the ``total`` matching the filters, and the ``offset``/``limit`` used."""

    items: list[T]
    total: int
    offset: int
    limit: int


class ErrorOut(BaseModel):
    detail: str


# merchants and keys ---------------------------------------------------------------------------------
class MerchantIn(Strict):
    id: Id
    name: Name


class MerchantOut(BaseModel):
    id: str
    name: str
    created_ms: int


class MerchantCreated(BaseModel):
    merchant: MerchantOut
    api_key: str = Field(description="shown once; only its SHA-256 is stored")


class KeyOut(BaseModel):
    api_key: str = Field(description="shown once; only its SHA-256 is stored")


# operator keys ------------------------------------------------------------------------------------
class OperatorKeyIn(BaseModel):
    label: Annotated[str, Field(max_length=200)] = ""


class OperatorKeyOut(BaseModel):
    prefix: str
    source: str = Field(description="issued (API), config (SITEWIDE_OPERATOR_KEY) or bootstrap (first start)")
    label: str
    created_ms: int
    revoked: bool


class RevokedOut(BaseModel):
    revoked: str = Field(description="the prefix of the key revoked")


class KeyAuditOut(BaseModel):
    ts_ms: int
    actor: str = Field(description="the key prefix that made the change, or 'startup'")
    action: str
    key_prefix: str
    detail: str


class MeOut(BaseModel):
    role: str
    merchant_id: str | None


# catalogue ------------------------------------------------------------------------------------------
class ProductIn(Strict):
    id: Id
    shop_id: Id
    title: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    category: Name
    price_micros: Annotated[int, Field(gt=0, le=10**13)]
    brand: Annotated[str, StringConstraints(max_length=200)] = ""


class ProductOut(BaseModel):
    id: str
    shop_id: str
    merchant_id: str
    title: str
    category: str
    price_micros: int
    brand: str
    eligible: bool


class ProductsIn(Strict):
    products: Annotated[list[ProductIn], Field(min_length=1, max_length=10_000)]


class ImportOut(BaseModel):
    products: int
    catalogue_version: int


class ShopIn(Strict):
    id: Id
    merchant_id: Id
    name: Name


class ShopCreate(Strict):
    id: Id
    name: Name
    merchant_id: Id | None = Field(
        None, description="required for the operator; a merchant's own id otherwise"
    )


class ShopOut(BaseModel):
    id: str
    merchant_id: str
    name: str


class CatalogueIn(Strict):
    shops: Annotated[list[ShopIn], Field(max_length=10_000)] = []
    products: Annotated[list[ProductIn], Field(max_length=100_000)] = []


class CatalogueOut(BaseModel):
    shops: int
    products: int
    catalogue_version: int


class CatalogueIdsOut(BaseModel):
    """The order of products ``/serve/batch`` indexes into, and of campaigns for its ``campaign_idx``."""

    catalogue_version: int
    product_ids: list[str]
    campaign_ids: list[str]


# quality: signals, eligibility, shop score ---------------------------------------------------------
class ProductSignalsIn(Strict):
    product_id: Id
    rating: Annotated[float, Field(ge=0, le=5)] | None = None
    review_count: Annotated[int, Field(ge=0, le=10**9)] = 0
    return_rate: Annotated[float, Field(ge=0, le=1)] | None = None
    sales_30d: Annotated[int, Field(ge=0, le=10**9)] | None = None
    stock: Annotated[int, Field(ge=-(10**9), le=10**9)] | None = None


class SignalsIn(Strict):
    products: Annotated[list[ProductSignalsIn], Field(min_length=1, max_length=100_000)]


class ShopMetricsIn(Strict):
    shop_id: Id
    on_time_share: Annotated[float, Field(ge=0, le=1)] | None = None
    delivery_days: Annotated[float, Field(ge=0, le=365)] | None = None
    response_hours: Annotated[float, Field(ge=0, le=10_000)] | None = None
    dispute_rate: Annotated[float, Field(ge=0, le=1)] | None = None
    avg_rating: Annotated[float, Field(ge=0, le=5)] | None = None
    review_count: Annotated[int, Field(ge=0, le=10**9)] = 0
    return_rate: Annotated[float, Field(ge=0, le=1)] | None = None
    order_count: Annotated[int, Field(ge=0, le=10**9)] | None = None


class MetricsIn(Strict):
    shops: Annotated[list[ShopMetricsIn], Field(min_length=1, max_length=10_000)]


class StoredOut(BaseModel):
    stored: int


class ReasonOut(BaseModel):
    rule: str
    version: int
    passed: bool
    code: str
    message: str
    numbers: dict[str, int | float | str | None]


class EligibilityOut(BaseModel):
    product_id: str
    eligible: bool
    policy_version: str
    reasons: list[ReasonOut]
    failed: list[str] = Field(description="the codes of the rules that failed")


class ShopScoreOut(BaseModel):
    shop_id: str
    scored: bool = Field(description="false when no service metrics are known for the shop")
    score: float | None
    multiplier: float
    config_version: str | None
    factors: list[FactorScore]  # the domain's record: name, raw, used, sub_score, weight, contribution, note


# appeals --------------------------------------------------------------------------------------------
class AppealIn(Strict):
    kind: Literal["product", "shop"]
    object_id: Id
    message: Annotated[str, StringConstraints(min_length=1, max_length=2_000)]


class ResolveIn(Strict):
    decision: Literal["accepted", "rejected"]
    resolution: Annotated[str, StringConstraints(min_length=1, max_length=2_000)]


class AppealOut(BaseModel):
    id: str
    kind: str
    object_id: str
    merchant_id: str
    message: str
    status: str
    resolution: str
    created_ms: int
    resolved_ms: int | None


# campaigns ------------------------------------------------------------------------------------------
class CampaignIn(Strict):
    merchant_id: Id | None = Field(
        None, description="required for the operator; a merchant's own id otherwise"
    )
    name: Name
    product_ids: Annotated[list[Id], Field(min_length=1, max_length=10_000)]
    target_roi: TargetRoi
    daily_budget_micros: Budget
    created_ms: Annotated[int, Field(ge=0, le=10**14)] | None = Field(
        None, description="operator only: when the campaign started (replays, simulations); default now"
    )


class CampaignPatch(Strict):
    name: Name | None = None
    product_ids: Annotated[list[Id], Field(min_length=1, max_length=10_000)] | None = None
    target_roi: TargetRoi | None = None
    daily_budget_micros: Budget | None = None
    status: Literal["active", "paused"] | None = None


class CampaignOut(BaseModel):
    id: str
    merchant_id: str
    name: str
    product_ids: list[str]
    target_roi: Decimal
    daily_budget_micros: int
    status: str
    created_ms: int


# serving and events ---------------------------------------------------------------------------------
class ServeIn(Strict):
    request_id: EventId
    user_id: EventId
    kind: Literal["search", "feed"] = "search"
    query: Annotated[str, StringConstraints(max_length=500)] = ""
    slots: Annotated[int, Field(ge=1, le=50)] = 10
    ts_ms: Annotated[int, Field(ge=0, le=10**14)] = 0


class SlotOut(BaseModel):
    position: int
    product_id: str
    promoted: bool
    campaign_id: str | None
    price_micros: int
    pctr: float
    pcvr: float
    variant: str | None = None  # a running creative experiment's arm for this user (creative/title/image)
    creative: SlotCreativeOut | None = None  # the approved creative chosen for a promoted slot


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
    id: EventId
    kind: Literal["impression", "click", "order", "refund"]
    ts_ms: Annotated[int, Field(gt=0, le=10**14)]
    user_id: Annotated[str, StringConstraints(max_length=128)] = ""
    product_id: Annotated[str, StringConstraints(max_length=64)] = ""
    request_id: Annotated[str, StringConstraints(max_length=128)] = ""
    campaign_id: Id | None = None
    position: Annotated[int, Field(ge=1, le=1000)] | None = None
    price_micros: MicrosInt = 0
    order_value_micros: MicrosInt = 0
    click_id: EventId | None = None
    impression_id: EventId | None = None
    order_id: EventId | None = None


class EventsIn(Strict):
    events: Annotated[list[EventIn], Field(min_length=1, max_length=1_000)]


class EventsOut(BaseModel):
    inserted: int
    duplicates: int
