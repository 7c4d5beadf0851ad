"""Accounts and the service's own records: merchants, hashed API keys, quality signals, the eligibility pool's
history, appeals and auction loss samples.

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
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict

from sqlalchemy import (
    Table,
    create_engine,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool

from sitewide.domain.accounts import Appeal, AppealKind, AppealStatus, LossSample, Merchant, Principal, Role
from sitewide.domain.eligibility import EligibilityDecision, PoolChange, ProductSignals
from sitewide.domain.eligibility_rules import RuleResult
from sitewide.domain.shop_score import ShopMetrics
from sitewide.domain.types import Conflict, NotFound, ValidationError, check_id
from sitewide.ports import Clock
from sitewide.storage.migrate import upgrade
from sitewide.storage.schema import tables
from sitewide.storage.sql_rows import autocommit, from_row


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class AccountStore:
    """Merchants, API keys, signals, appeals and auction-loss samples on one SQLAlchemy engine.

    Auction losses are buffered in the process (:meth:`add_losses` sums counts per key in memory) and written in
    one upsert and one insert per flush: by a background flusher every ``loss_flush_s`` seconds or as soon as
    the buffer holds ``MAX_BUFFERED`` keys (never on a request's thread, unless the flusher falls 4x behind),
    before every read of them (:meth:`losses`, :meth:`loss_samples`: this process reads its own counts), and on
    :meth:`close`. Serving processes then no
    longer take the same rows' locks on every request (each /serve used to upsert its losers' counts)."""

    MAX_SAMPLES = 50_000  # oldest samples are dropped beyond this
    MAX_BUFFERED = 20_000  # buffered (day, campaign, product, reason) keys that force a flush

    def __init__(self, engine: Engine, clock: Clock, loss_flush_s: float = 1.0) -> None:
        """Brings the database to the newest schema (the account tables are migration 0007's) and reads its
        tables; every timestamp comes from ``clock``. ``loss_flush_s``: the longest a loss count waits in
        memory (0: written by every call, unbuffered)."""
        self.engine = engine
        self.clock = clock
        upgrade(engine)
        self.t = tables(engine)
        self.loss_flush_s = loss_flush_s
        self._loss_lock = threading.Lock()  # guards the buffers below
        self._flush_lock = (
            threading.Lock()
        )  # one flush at a time (a flush's rows reach the database in order)
        self._counts: dict[tuple[str, str, str, str], int] = {}
        self._samples: list[LossSample] = []
        self._flusher: threading.Thread | None = None
        self._closed = threading.Event()
        self._wake = threading.Event()  # set: the buffer is full, the flusher writes now
        self.key_cache_s = 1.0  # how long an accepted key is accepted again without a database read
        self._accepted: dict[str, tuple[Principal, float]] = {}  # key → (principal, monotonic time accepted)
        self._key_version = 0

    @classmethod
    def in_memory(cls, clock: Clock) -> AccountStore:
        eng = create_engine(
            "sqlite://", future=True, poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
        return cls(eng, clock)

    # merchants -------------------------------------------------------------------------------------
    def create_merchant(self, merchant_id: str, name: str) -> Merchant:
        check_id("merchant", merchant_id)
        m = Merchant(merchant_id, name, self.clock.now_ms())
        with self.engine.begin() as conn:
            if conn.execute(
                select(self.t.merchants.c.id).where(self.t.merchants.c.id == merchant_id)
            ).first():
                raise Conflict(f"merchant {merchant_id} already exists")
            conn.execute(insert(self.t.merchants).values(**asdict(m)))
        return m

    def ensure_merchants(self, ids: Iterable[str]) -> None:
        """Register merchants referenced by imported shops (name = id) when they are not known yet."""
        want = set(ids)
        if not want:
            return
        with self.engine.begin() as conn:
            have = {
                r[0]
                for r in conn.execute(select(self.t.merchants.c.id).where(self.t.merchants.c.id.in_(want)))
            }
            rows = [{"id": i, "name": i, "created_ms": self.clock.now_ms()} for i in sorted(want - have)]
            if rows:
                conn.execute(insert(self.t.merchants), rows)

    def get_merchant(self, merchant_id: str) -> Merchant | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(self.t.merchants).where(self.t.merchants.c.id == merchant_id)).first()
        return from_row(Merchant, r) if r else None

    def list_merchants(self) -> list[Merchant]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(self.t.merchants).order_by(self.t.merchants.c.id)).all()
        return [from_row(Merchant, r) for r in rows]

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
            r = conn.execute(select(self.t.keys).where(self.t.keys.c.prefix == prefix)).first()
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
                insert(self.t.keys).values(
                    prefix=_prefix_of(key),
                    sha256=hash_key(key),
                    role=role,
                    merchant_id=merchant_id,
                    created_ms=self.clock.now_ms(),
                    revoked=False,
                    source=source,
                    label=label,
                )
            )

    def has_operator_key(self) -> bool:
        with self.engine.connect() as conn:
            q = (
                select(func.count())
                .select_from(self.t.keys)
                .where(self.t.keys.c.role == "operator", ~self.t.keys.c.revoked)
            )
            return bool(conn.execute(q).scalar_one())

    def authenticated(self, key: str) -> Principal | None:
        """:meth:`authenticate`'s answer for a key it accepted within ``key_cache_s``, without reading the
        database (None: ask :meth:`authenticate`). Every key change through this store or its
        :class:`~sitewide.storage.operator_keys.OperatorKeys` forgets the accepted keys at once; a change made
        by another process is seen within ``key_cache_s``."""
        hit = self._accepted.get(key)
        if hit is None or time.monotonic() - hit[1] > self.key_cache_s:
            return None
        return hit[0]

    def keys_changed(self) -> None:
        """Forget the accepted keys (a key was revoked or rotated; call it after the change committed)."""
        self._key_version += 1
        self._accepted = {}

    def authenticate(self, key: str) -> Principal | None:
        version = self._key_version
        p = self._authenticate(key)
        # not kept when a key changed while this read ran (it may have read the row before the change)
        if p is not None and self.key_cache_s > 0 and version == self._key_version:
            accepted = dict(self._accepted) if len(self._accepted) < 10_000 else {}
            accepted[key] = (p, time.monotonic())
            self._accepted = accepted  # replaced whole: readers on other threads see the old or the new
        return p

    def _authenticate(self, key: str) -> Principal | None:
        prefix = _prefix_of(key)
        if prefix is None:
            return None
        with autocommit(self.engine) as conn:  # once a key_cache_s per key, on the serving engine's pool
            r = conn.execute(select(self.t.keys).where(self.t.keys.c.prefix == prefix)).first()
        if r is None:
            return None
        m = r._mapping
        if m["revoked"] or not hmac.compare_digest(m["sha256"], hash_key(key)):
            return None
        return Principal(role=m["role"], merchant_id=m["merchant_id"], key_prefix=prefix)

    def revoke_keys(self, merchant_id: str) -> int:
        with self.engine.begin() as conn:
            res = conn.execute(
                update(self.t.keys)
                .where(self.t.keys.c.merchant_id == merchant_id, ~self.t.keys.c.revoked)
                .values(revoked=True)
            )
        self.keys_changed()  # after the commit: no one caches a key read before it
        return int(res.rowcount)

    # quality signals -------------------------------------------------------------------------------
    def put_product_signals(self, signals: Sequence[ProductSignals]) -> None:
        self._put(
            self.t.product_signals, "product_id", [(s.product_id, json.dumps(asdict(s))) for s in signals]
        )

    def put_shop_metrics(self, metrics: Sequence[ShopMetrics]) -> None:
        self._put(self.t.shop_metrics, "shop_id", [(m.shop_id, json.dumps(asdict(m))) for m in metrics])

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
            rows = conn.execute(select(self.t.product_signals.c.body)).all()
        return [ProductSignals(**json.loads(r[0])) for r in rows]

    def shop_metrics(self) -> list[ShopMetrics]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(self.t.shop_metrics.c.body)).all()
        return [ShopMetrics(**json.loads(r[0])) for r in rows]

    # the pool's history ----------------------------------------------------------------------------
    def add_pool_changes(self, decisions: Sequence[EligibilityDecision]) -> list[PoolChange]:
        """Record that each product left the pool (its failed rules kept) or came back, now."""
        now = self.clock.now_ms()
        out = [PoolChange(now, d.product_id, d.eligible, d.policy_version, d.failures) for d in decisions]
        if out:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(self.t.pool_changes),
                    [
                        {
                            "ts_ms": c.ts_ms,
                            "product_id": c.product_id,
                            "eligible": int(c.eligible),
                            "policy_version": c.policy_version,
                            "failures": json.dumps([asdict(r) for r in c.failures]),
                        }
                        for c in out
                    ],
                )
        return out

    def pool_changes(self, product_ids: Sequence[str] | None = None, limit: int = 200) -> list[PoolChange]:
        t = self.t.pool_changes
        q = select(t).order_by(t.c.ts_ms.desc(), t.c.seq.desc()).limit(limit)
        if product_ids is not None:
            q = q.where(t.c.product_id.in_(list(product_ids)))
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return [
            PoolChange(
                int(m["ts_ms"]),
                m["product_id"],
                bool(m["eligible"]),
                m["policy_version"],
                tuple(RuleResult(**r) for r in json.loads(m["failures"])),
            )
            for m in (r._mapping for r in rows)
        ]

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
            created_ms=self.clock.now_ms(),
            resolved_ms=None,
        )
        with self.engine.begin() as conn:
            conn.execute(insert(self.t.appeals).values(**asdict(a)))
        return a

    def get_appeal(self, appeal_id: str) -> Appeal | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(self.t.appeals).where(self.t.appeals.c.id == appeal_id)).first()
        return from_row(Appeal, r) if r else None

    def list_appeals(
        self, merchant_id: str | None = None, status: str | None = None, object_id: str | None = None
    ) -> list[Appeal]:
        q = select(self.t.appeals).order_by(self.t.appeals.c.created_ms.desc(), self.t.appeals.c.id)
        if merchant_id is not None:
            q = q.where(self.t.appeals.c.merchant_id == merchant_id)
        if status is not None:
            q = q.where(self.t.appeals.c.status == status)
        if object_id is not None:
            q = q.where(self.t.appeals.c.object_id == object_id)
        with self.engine.connect() as conn:
            return [from_row(Appeal, r) for r in conn.execute(q).all()]

    def resolve_appeal(self, appeal_id: str, status: AppealStatus, resolution: str) -> Appeal:
        """Close an open appeal once; resolving it again is a conflict (the first decision stands)."""
        with self.engine.begin() as conn:
            res = conn.execute(
                update(self.t.appeals)
                .where(self.t.appeals.c.id == appeal_id, self.t.appeals.c.status == "open")
                .values(status=status, resolution=resolution, resolved_ms=self.clock.now_ms())
            )
            if res.rowcount == 0:
                exists = conn.execute(
                    select(self.t.appeals.c.id).where(self.t.appeals.c.id == appeal_id)
                ).first()
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
        """Add ``(campaign, product, reason) → count`` for ``day`` and keep the sampled requests' losses (buffered:
        see the class)."""
        if not counts and not samples:
            return
        with self._loss_lock:
            buf = self._counts
            for (c, p, r), n in counts.items():
                key = (day, c, p, r)
                buf[key] = buf.get(key, 0) + n
            self._samples.extend(samples)
            # the request's own thread writes only when unbuffered or when the buffer is full: the interval's
            # writes are the background flusher's, so that no request waits on a flush of a second's losses
            buffered = self.loss_flush_s > 0
            # a full buffer wakes the flusher: the caller (the serving event loop among them) does not wait on
            # a database write; only a buffer the flusher cannot drain (MAX_BUFFERED x 4: the database down or
            # slower than the losses come) is written by the caller itself, so that memory stays bounded
            inline = not buffered or len(buf) >= 4 * self.MAX_BUFFERED
            if buffered and self._flusher is None:
                self._flusher = threading.Thread(target=self._flush_loop, name="loss-flusher", daemon=True)
                self._flusher.start()
            if buffered and not inline and len(buf) >= self.MAX_BUFFERED:
                self._wake.set()
        if inline:
            self.flush_losses()

    def _flush_loop(self) -> None:
        while True:
            self._wake.wait(self.loss_flush_s)
            self._wake.clear()
            if self._closed.is_set():
                return
            if self._counts or self._samples:
                try:
                    self.flush_losses()
                except Exception:  # noqa: BLE001 - the counts stay buffered; the next flush retries them
                    continue

    def flush_losses(self) -> None:
        """Write the buffered loss counts (one upsert that adds to the stored ones) and samples (one insert), in
        one transaction. Idempotent: what a flush wrote leaves the buffer, so a second flush writes nothing; when
        the write fails the rows go back into the buffer (summed with what came meanwhile) and the error is
        raised."""
        with self._flush_lock:
            with self._loss_lock:
                counts, samples = self._counts, self._samples
                self._counts, self._samples = {}, []
            if not counts and not samples:
                return
            try:
                self._write_losses(counts, samples)
            except BaseException:
                with self._loss_lock:
                    for k, n in self._counts.items():
                        counts[k] = counts.get(k, 0) + n
                    self._counts = counts
                    self._samples = samples + self._samples
                raise

    def _write_losses(self, counts: dict[tuple[str, str, str, str], int], samples: list[LossSample]) -> None:
        t = self.t.losses
        rows = [
            {"day": d, "campaign_id": c, "product_id": p, "reason": r, "count": n}
            for (d, c, p, r), n in sorted(counts.items())  # one order: two writers never deadlock
        ]
        with self.engine.begin() as conn:
            if rows:  # one statement: concurrent writers add to the same keys without a lost race
                ins = postgresql.insert(t) if self.engine.dialect.name == "postgresql" else sqlite.insert(t)
                conn.execute(
                    ins.on_conflict_do_update(
                        index_elements=["day", "campaign_id", "product_id", "reason"],
                        set_={"count": t.c.count + ins.excluded["count"]},
                    ),
                    rows,
                )
            if samples:
                conn.execute(insert(self.t.samples), [asdict(s) for s in samples])
                top = conn.execute(select(func.max(self.t.samples.c.seq))).scalar_one()
                if top is not None and top > self.MAX_SAMPLES:
                    conn.execute(delete(self.t.samples).where(self.t.samples.c.seq <= top - self.MAX_SAMPLES))

    def close(self) -> None:
        """Write what is buffered and stop the background flusher (a clean shutdown loses no loss count)."""
        self._closed.set()
        self._wake.set()
        self.loss_flush_s = 0.0  # what comes after is written by each call
        self.flush_losses()

    def losses(self, campaign_id: str) -> list[tuple[str, str, str, int]]:
        """``(day, product_id, reason, count)`` rows of one campaign."""
        self.flush_losses()
        q = (
            select(
                self.t.losses.c.day, self.t.losses.c.product_id, self.t.losses.c.reason, self.t.losses.c.count
            )
            .where(self.t.losses.c.campaign_id == campaign_id)
            .order_by(self.t.losses.c.day, self.t.losses.c.product_id, self.t.losses.c.reason)
        )
        with self.engine.connect() as conn:
            return [(r[0], r[1], r[2], int(r[3])) for r in conn.execute(q).all()]

    def loss_samples(self, campaign_id: str, limit: int = 50) -> list[LossSample]:
        self.flush_losses()
        q = (
            select(self.t.samples)
            .where(self.t.samples.c.campaign_id == campaign_id)
            .order_by(self.t.samples.c.seq.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return [from_row(LossSample, r) for r in rows]


def _prefix_of(key: str) -> str | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "sw" or not parts[2]:
        return None
    p = parts[1]
    if not 8 <= len(p) <= 32 or any(ch not in "0123456789abcdef" for ch in p):
        return None
    return p


__all__ = ["AccountStore", "hash_key"]
