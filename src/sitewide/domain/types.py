"""Dataclasses for the concepts in DESIGN.md. Money fields are integer micros (``*_micros``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from enum import IntEnum, StrEnum
from typing import Generic, TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt

from sitewide.domain.money import Micros

# numpy array aliases, defined once for the whole package (import them from here)
IntArray: TypeAlias = npt.NDArray[np.int64]
FloatArray: TypeAlias = npt.NDArray[np.float64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]
Int8Array: TypeAlias = npt.NDArray[np.int8]
ObjectArray: TypeAlias = npt.NDArray[np.object_]


class DomainError(Exception):
    """Base of the typed errors the domain raises; the service maps them to 4xx."""


class ValidationError(DomainError):
    """Input that breaks a domain rule (negative budget, ROI ≤ 0, unknown product, ...)."""


def optional_float(name: str, value: float | None, lo: float, hi: float) -> float | None:
    """A measured input that may be missing: ``None`` and NaN mean missing; anything else must be a finite
    number (Python or numpy) in ``[lo, hi]``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValidationError(f"{name} must be a number or None, got {type(value).__name__}")
    v = float(value)
    if math.isnan(v):
        return None
    if not math.isfinite(v) or v < lo or v > hi:
        raise ValidationError(f"{name} must lie in [{lo}, {hi}], got {value!r}")
    return v


N = TypeVar("N", int, float)


@dataclass(frozen=True, slots=True)
class Estimate(Generic[N]):
    """A point estimate with its interval at a level the record states: ``low ≤ value ≤ high``; ``high`` is
    ``None`` while the data bound it only from below. ``Estimate[int]`` for money (integer micros)."""

    value: N
    low: N
    high: N | None

    def contains(self, x: float) -> bool:
        return self.low <= x and (self.high is None or x <= self.high)


def check_int(name: str, value: int, *, minimum: int | None = 0) -> int:
    """A counted input: an integer (Python or numpy, not bool) of at least ``minimum`` (no bound when None)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValidationError(f"{name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValidationError(f"{name} must be ≥ {minimum}, got {value}")
    return int(value)


def optional_int(name: str, value: int | None, *, minimum: int | None = 0) -> int | None:
    """A counted input that may be missing (``None``), else as :func:`check_int`."""
    return None if value is None else check_int(name, value, minimum=minimum)


def check_roi(name: str, value: float) -> float:
    """A target ROI (GMV ÷ ad spend): a finite number > 0."""
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValidationError(f"{name} must be a finite number > 0, got {value!r}")
    return value


class NotFound(DomainError):
    """A referenced object does not exist (or is not visible to the caller)."""


class Conflict(DomainError):
    """A repeated idempotency key with a different body, or a state change that is not allowed."""


# ids of merchants, shops, products and campaigns: letters, digits, "_", "." and "-" (no ":" — ledger account
# names are built from merchant ids, and "tA" must never be a prefix of another merchant's account)
ID_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
ID_PATTERN = r"^[A-Za-z0-9_.\-]+$"


def check_id(kind: str, value: str, max_len: int = 64) -> str:
    """``value`` if it is a valid id of ``kind``; ValidationError otherwise."""
    if not 1 <= len(value) <= max_len or not set(value) <= ID_ALPHABET:
        raise ValidationError(f"{kind} id {value!r}: 1..{max_len} of A-Z a-z 0-9 _ . - only")
    return value


class CampaignStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


class EventKind(StrEnum):
    IMPRESSION = "impression"
    CLICK = "click"
    ORDER = "order"
    REFUND = "refund"


class RequestKind(IntEnum):
    """What a request asks for; the value is the code in batched arrays (``RequestBatch.kinds``)."""

    SEARCH = 0
    FEED = 1

    @property
    def label(self) -> str:
        """The API's name: ``"search"`` or ``"feed"``."""
        return self.name.lower()

    @classmethod
    def parse(cls, label: str) -> RequestKind:
        try:
            return cls[label.upper()]
        except KeyError:
            raise ValidationError(f"unknown request kind {label!r}; expected 'search' or 'feed'") from None


@dataclass(frozen=True, slots=True)
class Shop:
    id: str
    merchant_id: str
    name: str


@dataclass(frozen=True, slots=True)
class Product:
    id: str
    shop_id: str
    title: str
    category: str
    price_micros: Micros
    brand: str = ""


@dataclass(frozen=True, slots=True)
class Campaign:
    id: str
    merchant_id: str
    name: str
    product_ids: tuple[str, ...]
    target_roi: Decimal
    daily_budget_micros: Micros
    status: CampaignStatus = CampaignStatus.ACTIVE
    created_ms: int = 0


@dataclass(frozen=True, slots=True)
class Event:
    """One tracked event. ``id`` is the caller's idempotency key.

    impression: request_id, user_id, product_id, position, campaign_id (None for organic),
                price_micros = the auction's per-click price for promoted slots.
    click:      as impression, plus ``impression_id`` when known.
    order:      user_id, product_id, order_value_micros, ``click_id`` when the caller knows it.
    refund:     ``order_id`` and the refunded amount in ``order_value_micros``.
    """

    id: str
    kind: EventKind
    ts_ms: int
    user_id: str = ""
    product_id: str = ""
    request_id: str = ""
    campaign_id: str | None = None
    position: int | None = None
    price_micros: Micros = Micros(0)
    order_value_micros: Micros = Micros(0)
    click_id: str | None = None
    impression_id: str | None = None
    order_id: str | None = None

    def body(self) -> tuple[object, ...]:
        """Everything but the id: two events with the same id must have the same body."""
        return (
            self.kind.value,
            self.ts_ms,
            self.user_id,
            self.product_id,
            self.request_id,
            self.campaign_id,
            self.position,
            int(self.price_micros),
            int(self.order_value_micros),
            self.click_id,
            self.impression_id,
            self.order_id,
        )


@dataclass(frozen=True, slots=True)
class ServeRequest:
    request_id: str
    user_id: str
    kind: RequestKind = RequestKind.SEARCH
    query: str = ""
    slots: int = 10
    ts_ms: int = 0


@dataclass(frozen=True, slots=True)
class SlotResult:
    position: int
    product_id: str
    promoted: bool
    campaign_id: str | None
    price_micros: Micros  # per click, 0 for organic
    pctr: float
    pcvr: float
    score: float
    variant: str | None = None  # what an experiment shows for this product to this user (creative/title)
    creative_id: str | None = (
        None  # the approved creative chosen for a promoted slot (sitewide.domain.creative)
    )


@dataclass(frozen=True, slots=True)
class ServeResult:
    request_id: str
    slots: tuple[SlotResult, ...]
    losers: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # (product_id, reason)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One leg of a double-entry transaction. ``amount_micros`` > 0 is a debit, < 0 a credit.

    ``merchant_id``, ``campaign_id``, ``day`` (the UTC day the money is for: a charge's click day, a
    compensation's window end) and ``window`` (a guarantee window key) are stored as columns: statements and
    reports select by them. ``memo`` is text for people only."""

    txn_id: str
    account: str
    amount_micros: Micros
    memo: str = ""
    merchant_id: str | None = None
    campaign_id: str | None = None
    day: str | None = None
    window: str | None = None


@dataclass(frozen=True, slots=True)
class Transaction:
    id: str
    kind: str  # "settlement", "compensation", "correction", ...
    period: str  # e.g. "2026-11-23" — with kind, the idempotency key of a settlement run
    ts_ms: int
    entries: tuple[LedgerEntry, ...]

    def balanced(self) -> bool:
        return sum(e.amount_micros for e in self.entries) == 0
