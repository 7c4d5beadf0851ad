"""Accounts and the service's own records: merchants, hashed API keys, quality signals, appeals and auction
loss samples.

These live in their own tables (own ``MetaData``, names prefixed ``acct_``) so that the ``Store`` port stays
about money and events. :class:`AccountStore` runs on any SQLAlchemy engine: the ``SqlStore``'s own (one
SQLite file or PostgreSQL database for everything) or, for tests and the in-memory store, a private SQLite
in memory (:meth:`AccountStore.in_memory`).

API keys look like ``sw_<prefix>_<secret>``. Only the prefix (for lookup) and the SHA-256 of the whole key are
stored; the key itself is returned once, when it is created. SHA-256 (not a slow KDF) is enough because the
keys are 192-bit random strings, not human passwords.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool

from sitewide.domain.eligibility import ProductSignals
from sitewide.domain.shop_score import ShopMetrics
from sitewide.domain.types import Conflict, NotFound, ValidationError, check_id

Role = Literal["operator", "merchant"]
AppealKind = Literal["product", "shop"]
AppealStatus = Literal["open", "accepted", "rejected"]

metadata = MetaData()

merchants_t = Table(
    "acct_merchants",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)
keys_t = Table(
    "acct_api_keys",
    metadata,
    Column("prefix", String(32), primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("merchant_id", String(64), index=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
    # how the key came to be: "issued" (API/CLI), "config" (SITEWIDE_OPERATOR_KEY), "bootstrap" (first start)
    Column("source", String(16), nullable=False, default="issued", server_default="issued"),
    Column("label", Text, nullable=False, default="", server_default=""),
)
KEY_COLUMNS_ADDED = ("source", "label")  # columns added after the first release: ALTERed into old tables
product_signals_t = Table(
    "acct_product_signals",
    metadata,
    Column("product_id", String(64), primary_key=True),
    Column("body", Text, nullable=False),  # JSON of ProductSignals
)
shop_metrics_t = Table(
    "acct_shop_metrics",
    metadata,
    Column("shop_id", String(64), primary_key=True),
    Column("body", Text, nullable=False),  # JSON of ShopMetrics
)
appeals_t = Table(
    "acct_appeals",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("object_id", String(64), nullable=False),
    Column("merchant_id", String(64), nullable=False, index=True),
    Column("message", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("resolution", Text, nullable=False, default=""),
    Column("created_ms", BigInteger, nullable=False),
    Column("resolved_ms", BigInteger),
)
losses_t = Table(
    "acct_auction_losses",
    metadata,
    Column("day", String(10), primary_key=True),
    Column("campaign_id", String(64), primary_key=True),
    Column("product_id", String(64), primary_key=True),
    Column("reason", String(32), primary_key=True),
    Column("count", BigInteger, nullable=False),
)
samples_t = Table(
    "acct_auction_samples",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("ts_ms", BigInteger, nullable=False),
    Column("request_id", String(128), nullable=False),
    Column("campaign_id", String(64), nullable=False, index=True),
    Column("product_id", String(64), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("rank", Integer, nullable=False),  # position in the retrieval list, 1-based; 0 = not known
)


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


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _now_ms() -> int:
    return int(time.time() * 1000)


class AccountStore:
    """Merchants, API keys, signals, appeals and auction-loss samples on one SQLAlchemy engine."""

    MAX_SAMPLES = 50_000  # oldest samples are dropped beyond this

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)
        have = {c["name"] for c in inspect(engine).get_columns(keys_t.name)}
        with engine.begin() as conn:
            for col in KEY_COLUMNS_ADDED:
                if col not in have:
                    kind = "VARCHAR(16)" if col == "source" else "TEXT"
                    default = "'issued'" if col == "source" else "''"
                    conn.execute(
                        text(f"ALTER TABLE {keys_t.name} ADD COLUMN {col} {kind} NOT NULL DEFAULT {default}")
                    )

    @classmethod
    def in_memory(cls) -> AccountStore:
        eng = create_engine(
            "sqlite://", future=True, poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
        return cls(eng)

    # merchants -------------------------------------------------------------------------------------
    def create_merchant(self, merchant_id: str, name: str) -> Merchant:
        check_id("merchant", merchant_id)
        m = Merchant(merchant_id, name, _now_ms())
        with self.engine.begin() as conn:
            if conn.execute(select(merchants_t.c.id).where(merchants_t.c.id == merchant_id)).first():
                raise Conflict(f"merchant {merchant_id} already exists")
            conn.execute(insert(merchants_t).values(**asdict(m)))
        return m

    def ensure_merchants(self, ids: Iterable[str]) -> None:
        """Register merchants referenced by imported shops (name = id) when they are not known yet."""
        want = set(ids)
        if not want:
            return
        with self.engine.begin() as conn:
            have = {r[0] for r in conn.execute(select(merchants_t.c.id).where(merchants_t.c.id.in_(want)))}
            rows = [{"id": i, "name": i, "created_ms": _now_ms()} for i in sorted(want - have)]
            if rows:
                conn.execute(insert(merchants_t), rows)

    def get_merchant(self, merchant_id: str) -> Merchant | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(merchants_t).where(merchants_t.c.id == merchant_id)).first()
        return Merchant(**r._mapping) if r else None

    def list_merchants(self) -> list[Merchant]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(merchants_t).order_by(merchants_t.c.id)).all()
        return [Merchant(**r._mapping) for r in rows]

    # API keys --------------------------------------------------------------------------------------
    def issue_key(
        self, role: Role, merchant_id: str | None = None, source: str = "issued", label: str = ""
    ) -> str:
        """Create a key and return it; only its hash is kept."""
        if role == "merchant" and (merchant_id is None or self.get_merchant(merchant_id) is None):
            raise NotFound(f"merchant {merchant_id} not found")
        prefix = secrets.token_hex(6)
        key = f"sw_{prefix}_{secrets.token_urlsafe(24)}"
        self._store_key(key, role, merchant_id if role == "merchant" else None, source, label)
        return key

    def register_key(
        self, key: str, role: Role, merchant_id: str | None = None, source: str = "issued"
    ) -> None:
        """Register a key chosen outside (e.g. a configured operator key); a repeat is a no-op."""
        prefix = _prefix_of(key)
        if prefix is None:
            raise ValidationError("an API key looks like sw_<prefix>_<secret> (prefix: 8-32 hex characters)")
        with self.engine.connect() as conn:
            r = conn.execute(select(keys_t).where(keys_t.c.prefix == prefix)).first()
        if r is not None:
            if not hmac.compare_digest(r._mapping["sha256"], hash_key(key)) or r._mapping["role"] != role:
                raise Conflict("a different key with this prefix is already registered")
            return
        self._store_key(key, role, merchant_id, source)

    def _store_key(
        self, key: str, role: Role, merchant_id: str | None, source: str = "issued", label: str = ""
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(keys_t).values(
                    prefix=_prefix_of(key),
                    sha256=hash_key(key),
                    role=role,
                    merchant_id=merchant_id,
                    created_ms=_now_ms(),
                    revoked=False,
                    source=source,
                    label=label,
                )
            )

    def has_operator_key(self) -> bool:
        with self.engine.connect() as conn:
            q = select(func.count()).select_from(keys_t).where(keys_t.c.role == "operator", ~keys_t.c.revoked)
            return bool(conn.execute(q).scalar_one())

    def authenticate(self, key: str) -> Principal | None:
        prefix = _prefix_of(key)
        if prefix is None:
            return None
        with self.engine.connect() as conn:
            r = conn.execute(select(keys_t).where(keys_t.c.prefix == prefix)).first()
        if r is None:
            return None
        m = r._mapping
        if m["revoked"] or not hmac.compare_digest(m["sha256"], hash_key(key)):
            return None
        return Principal(role=m["role"], merchant_id=m["merchant_id"], key_prefix=prefix)

    def revoke_keys(self, merchant_id: str) -> int:
        with self.engine.begin() as conn:
            res = conn.execute(
                update(keys_t)
                .where(keys_t.c.merchant_id == merchant_id, ~keys_t.c.revoked)
                .values(revoked=True)
            )
        return int(res.rowcount)

    # quality signals -------------------------------------------------------------------------------
    def put_product_signals(self, signals: Sequence[ProductSignals]) -> None:
        self._put(product_signals_t, "product_id", [(s.product_id, json.dumps(asdict(s))) for s in signals])

    def put_shop_metrics(self, metrics: Sequence[ShopMetrics]) -> None:
        self._put(shop_metrics_t, "shop_id", [(m.shop_id, json.dumps(asdict(m))) for m in metrics])

    def _put(self, table: Table, key: str, rows: list[tuple[str, str]]) -> None:
        if not rows:
            return
        ids = [r[0] for r in rows]
        with self.engine.begin() as conn:
            for lo in range(0, len(ids), 500):
                conn.execute(delete(table).where(table.c[key].in_(ids[lo : lo + 500])))
            conn.execute(insert(table), [{key: i, "body": b} for i, b in dict(rows).items()])

    def product_signals(self) -> list[ProductSignals]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(product_signals_t.c.body)).all()
        return [ProductSignals(**json.loads(r[0])) for r in rows]

    def shop_metrics(self) -> list[ShopMetrics]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(shop_metrics_t.c.body)).all()
        return [ShopMetrics(**json.loads(r[0])) for r in rows]

    # appeals ---------------------------------------------------------------------------------------
    def create_appeal(self, kind: AppealKind, object_id: str, merchant_id: str, message: str) -> Appeal:
        a = Appeal(
            id=f"a-{uuid.uuid4().hex[:12]}",
            kind=kind,
            object_id=object_id,
            merchant_id=merchant_id,
            message=message,
            status="open",
            resolution="",
            created_ms=_now_ms(),
            resolved_ms=None,
        )
        with self.engine.begin() as conn:
            conn.execute(insert(appeals_t).values(**asdict(a)))
        return a

    def get_appeal(self, appeal_id: str) -> Appeal | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(appeals_t).where(appeals_t.c.id == appeal_id)).first()
        return Appeal(**r._mapping) if r else None

    def list_appeals(
        self, merchant_id: str | None = None, status: str | None = None, object_id: str | None = None
    ) -> list[Appeal]:
        q = select(appeals_t).order_by(appeals_t.c.created_ms.desc(), appeals_t.c.id)
        if merchant_id is not None:
            q = q.where(appeals_t.c.merchant_id == merchant_id)
        if status is not None:
            q = q.where(appeals_t.c.status == status)
        if object_id is not None:
            q = q.where(appeals_t.c.object_id == object_id)
        with self.engine.connect() as conn:
            return [Appeal(**r._mapping) for r in conn.execute(q).all()]

    def resolve_appeal(self, appeal_id: str, status: AppealStatus, resolution: str) -> Appeal:
        """Close an open appeal once; resolving it again is a conflict (the first decision stands)."""
        with self.engine.begin() as conn:
            res = conn.execute(
                update(appeals_t)
                .where(appeals_t.c.id == appeal_id, appeals_t.c.status == "open")
                .values(status=status, resolution=resolution, resolved_ms=_now_ms())
            )
            if res.rowcount == 0:
                exists = conn.execute(select(appeals_t.c.id).where(appeals_t.c.id == appeal_id)).first()
                if exists is None:
                    raise NotFound(f"appeal {appeal_id} not found")
                raise Conflict(f"appeal {appeal_id} is already resolved")
        out = self.get_appeal(appeal_id)
        assert out is not None
        return out

    # auction transparency --------------------------------------------------------------------------
    def add_losses(
        self, day: str, counts: dict[tuple[str, str, str], int], samples: Sequence[LossSample]
    ) -> None:
        """Add ``(campaign, product, reason) → count`` for ``day`` and keep the sampled requests' losses."""
        if not counts and not samples:
            return
        with self.engine.begin() as conn:
            for (camp, prod, reason), n in counts.items():
                key = (
                    (losses_t.c.day == day)
                    & (losses_t.c.campaign_id == camp)
                    & (losses_t.c.product_id == prod)
                    & (losses_t.c.reason == reason)
                )
                res = conn.execute(update(losses_t).where(key).values(count=losses_t.c.count + n))
                if res.rowcount == 0:
                    conn.execute(
                        insert(losses_t).values(
                            day=day, campaign_id=camp, product_id=prod, reason=reason, count=n
                        )
                    )
            if samples:
                conn.execute(insert(samples_t), [asdict(s) for s in samples])
                top = conn.execute(select(func.max(samples_t.c.seq))).scalar_one()
                if top is not None and top > self.MAX_SAMPLES:
                    conn.execute(delete(samples_t).where(samples_t.c.seq <= top - self.MAX_SAMPLES))

    def losses(self, campaign_id: str) -> list[tuple[str, str, str, int]]:
        """``(day, product_id, reason, count)`` rows of one campaign."""
        q = (
            select(losses_t.c.day, losses_t.c.product_id, losses_t.c.reason, losses_t.c.count)
            .where(losses_t.c.campaign_id == campaign_id)
            .order_by(losses_t.c.day, losses_t.c.product_id, losses_t.c.reason)
        )
        with self.engine.connect() as conn:
            return [(r[0], r[1], r[2], int(r[3])) for r in conn.execute(q).all()]

    def loss_samples(self, campaign_id: str, limit: int = 50) -> list[LossSample]:
        q = (
            select(samples_t)
            .where(samples_t.c.campaign_id == campaign_id)
            .order_by(samples_t.c.seq.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return [LossSample(**{k: v for k, v in r._mapping.items() if k != "seq"}) for r in rows]


def _prefix_of(key: str) -> str | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "sw" or not parts[2]:
        return None
    p = parts[1]
    if not 8 <= len(p) <= 32 or any(ch not in "0123456789abcdef" for ch in p):
        return None
    return p


__all__ = ["AccountStore", "Appeal", "LossSample", "Merchant", "Principal", "hash_key"]
