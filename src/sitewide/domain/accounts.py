"""Who may call the service and the records kept about them beside the money: merchants, principals, API-key
and audit records, appeals against eligibility decisions, and sampled auction losses. Plain values, no I/O; the
Protocols that store them are in :mod:`sitewide.ports` (``Accounts``, ``KeyAdmin``, ``Signals``, ``Appeals``,
``AuctionLosses``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["operator", "merchant"]
AppealKind = Literal["product", "shop"]
AppealStatus = Literal["open", "accepted", "rejected"]


@dataclass(frozen=True, slots=True)
class Merchant:
    id: str
    name: str
    created_ms: int


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the operator (sees everything) or one merchant (sees only its own objects)."""

    role: Role
    merchant_id: str | None = None
    key_prefix: str = ""

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"

    def can_see(self, merchant_id: str) -> bool:
        return self.is_operator or self.merchant_id == merchant_id


@dataclass(frozen=True, slots=True)
class Appeal:
    id: str
    kind: AppealKind
    object_id: str
    merchant_id: str
    message: str
    status: AppealStatus
    resolution: str
    created_ms: int
    resolved_ms: int | None


@dataclass(frozen=True, slots=True)
class LossSample:
    ts_ms: int
    request_id: str
    campaign_id: str
    product_id: str
    reason: str
    rank: int


@dataclass(frozen=True, slots=True)
class KeyInfo:
    prefix: str
    role: str
    merchant_id: str | None
    source: str
    label: str
    created_ms: int
    revoked: bool


@dataclass(frozen=True, slots=True)
class AuditEntry:
    ts_ms: int
    actor: str
    action: str
    key_prefix: str
    detail: str
