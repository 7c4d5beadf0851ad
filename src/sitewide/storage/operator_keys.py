"""Operator keys in the key table, like merchant keys: create, list, revoke, rotate — each change written to an
audit log (``acct_key_audit``).

A key configured at start-up (``SITEWIDE_OPERATOR_KEY``) is registered with source ``config``; registering one
revokes every other configured or bootstrap operator key, so restarting with a new configured key leaves the
old one invalid. Keys created through the API (source ``issued``) are managed explicitly. The last active
operator key cannot be revoked (nobody could administer the service any more): rotate it instead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    update,
)

from sitewide.domain.types import Conflict, NotFound, ValidationError
from sitewide.storage.accounts import AccountStore, keys_t

audit_metadata = MetaData()
audit_t = Table(
    "acct_key_audit",
    audit_metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("ts_ms", BigInteger, nullable=False),
    Column("actor", String(64), nullable=False),  # key prefix of the caller, or "startup"
    Column("action", String(16), nullable=False),  # create, revoke, rotate, configure
    Column("key_prefix", String(32), nullable=False),
    Column("detail", Text, nullable=False),
)


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


def _now_ms() -> int:
    return int(time.time() * 1000)


def _prefix(key: str) -> str:
    return key.split("_", 2)[1]


class OperatorKeys:
    """Operator-key administration over an :class:`AccountStore`'s engine."""

    def __init__(self, accounts: AccountStore) -> None:
        self.accounts = accounts
        self.engine = accounts.engine
        audit_metadata.create_all(self.engine)

    def _audit(self, conn: object, actor: str, action: str, prefix: str, detail: str = "") -> None:
        conn.execute(  # type: ignore[attr-defined]
            insert(audit_t).values(
                ts_ms=_now_ms(), actor=actor, action=action, key_prefix=prefix, detail=detail[:500]
            )
        )

    def configure(self, key: str) -> None:
        """Register the configured operator key and revoke every other configured or bootstrap one."""
        self.accounts.register_key(key, "operator", source="config")
        prefix = _prefix(key)
        with self.engine.begin() as conn:
            old = [
                r[0]
                for r in conn.execute(
                    select(keys_t.c.prefix).where(
                        keys_t.c.role == "operator",
                        keys_t.c.source.in_(["config", "bootstrap"]),
                        keys_t.c.prefix != prefix,
                        ~keys_t.c.revoked,
                    )
                )
            ]
            if old:
                conn.execute(update(keys_t).where(keys_t.c.prefix.in_(old)).values(revoked=True))
            for p in old:
                self._audit(conn, "startup", "revoke", p, f"superseded by the configured key {prefix}")
            if old or not conn.execute(select(audit_t.c.seq).where(audit_t.c.key_prefix == prefix)).first():
                self._audit(conn, "startup", "configure", prefix, "SITEWIDE_OPERATOR_KEY")

    def create(self, actor: str, label: str = "") -> str:
        if len(label) > 200:
            raise ValidationError("label: at most 200 characters")
        key = self.accounts.issue_key("operator", source="issued", label=label)
        with self.engine.begin() as conn:
            self._audit(conn, actor, "create", _prefix(key), label)
        return key

    def keys(self) -> list[KeyInfo]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(keys_t)
                .where(keys_t.c.role == "operator")
                .order_by(keys_t.c.created_ms, keys_t.c.prefix)
            ).all()
        return [
            KeyInfo(
                prefix=r.prefix,
                role=r.role,
                merchant_id=r.merchant_id,
                source=r.source,
                label=r.label,
                created_ms=int(r.created_ms),
                revoked=bool(r.revoked),
            )
            for r in rows
        ]

    def revoke(self, actor: str, prefix: str) -> None:
        with self.engine.begin() as conn:
            r = conn.execute(
                select(keys_t.c.revoked).where(keys_t.c.prefix == prefix, keys_t.c.role == "operator")
            ).first()
            if r is None:
                raise NotFound(f"operator key {prefix} not found")
            if r[0]:
                return
            active = conn.execute(
                select(func.count()).select_from(keys_t).where(keys_t.c.role == "operator", ~keys_t.c.revoked)
            ).scalar_one()
            if active <= 1:
                raise Conflict("the last active operator key cannot be revoked: rotate it instead")
            conn.execute(update(keys_t).where(keys_t.c.prefix == prefix).values(revoked=True))
            self._audit(conn, actor, "revoke", prefix)

    def rotate(self, actor: str, prefix: str) -> str:
        """A new operator key (same label) and the old one revoked; returns the new key (shown once)."""
        with self.engine.connect() as conn:
            r = conn.execute(
                select(keys_t).where(
                    keys_t.c.prefix == prefix, keys_t.c.role == "operator", ~keys_t.c.revoked
                )
            ).first()
        if r is None:
            raise NotFound(f"active operator key {prefix} not found")
        key = self.accounts.issue_key("operator", source="issued", label=r.label)
        with self.engine.begin() as conn:
            conn.execute(update(keys_t).where(keys_t.c.prefix == prefix).values(revoked=True))
            self._audit(conn, actor, "rotate", prefix, f"replaced by {_prefix(key)}")
            self._audit(conn, actor, "create", _prefix(key), f"rotation of {prefix}")
        return key

    def audit(self, limit: int = 100) -> list[AuditEntry]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(audit_t).order_by(audit_t.c.seq.desc()).limit(limit)).all()
        return [AuditEntry(int(r.ts_ms), r.actor, r.action, r.key_prefix, r.detail) for r in rows]


__all__ = ["AuditEntry", "KeyInfo", "OperatorKeys"]
