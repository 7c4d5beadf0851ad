"""Operator keys in the key table, like merchant keys: create, list, revoke, rotate — each change written to an
audit log (``acct_key_audit``).

A key configured at start-up (``SITEWIDE_OPERATOR_KEY``) is registered with source ``config``; registering one
revokes every other configured or bootstrap operator key, so restarting with a new configured key leaves the
old one invalid. Keys created through the API (source ``issued``) are managed explicitly. The last active
operator key cannot be revoked (nobody could administer the service any more): rotate it instead.
"""

from __future__ import annotations

from sqlalchemy import (
    func,
    insert,
    select,
    update,
)

from sitewide.domain.accounts import AuditEntry, KeyInfo
from sitewide.domain.types import Conflict, NotFound, ValidationError
from sitewide.storage.accounts import AccountStore
from sitewide.storage.sql_rows import from_row


def _prefix(key: str) -> str:
    return key.split("_", 2)[1]


class OperatorKeys:
    """Operator-key administration over an :class:`AccountStore`'s engine."""

    def __init__(self, accounts: AccountStore) -> None:
        self.accounts = accounts
        self.engine = accounts.engine
        self.t = accounts.t

    def _audit(self, conn: object, actor: str, action: str, prefix: str, detail: str = "") -> None:
        conn.execute(  # type: ignore[attr-defined]
            insert(self.t.key_audit).values(
                ts_ms=self.accounts.clock.now_ms(),
                actor=actor,
                action=action,
                key_prefix=prefix,
                detail=detail[:500],
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
                    select(self.t.keys.c.prefix).where(
                        self.t.keys.c.role == "operator",
                        self.t.keys.c.source.in_(["config", "bootstrap"]),
                        self.t.keys.c.prefix != prefix,
                        ~self.t.keys.c.revoked,
                    )
                )
            ]
            if old:
                conn.execute(update(self.t.keys).where(self.t.keys.c.prefix.in_(old)).values(revoked=True))
            for p in old:
                self._audit(conn, "startup", "revoke", p, f"superseded by the configured key {prefix}")
            if (
                old
                or not conn.execute(
                    select(self.t.key_audit.c.seq).where(self.t.key_audit.c.key_prefix == prefix)
                ).first()
            ):
                self._audit(conn, "startup", "configure", prefix, "SITEWIDE_OPERATOR_KEY")
        self.accounts.keys_changed()  # after the commit: no one caches a key read before it

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
                select(self.t.keys)
                .where(self.t.keys.c.role == "operator")
                .order_by(self.t.keys.c.created_ms, self.t.keys.c.prefix)
            ).all()
        return [from_row(KeyInfo, r) for r in rows]

    def revoke(self, actor: str, prefix: str) -> None:
        with self.engine.begin() as conn:
            r = conn.execute(
                select(self.t.keys.c.revoked).where(
                    self.t.keys.c.prefix == prefix, self.t.keys.c.role == "operator"
                )
            ).first()
            if r is None:
                raise NotFound(f"operator key {prefix} not found")
            if r[0]:
                return
            active = conn.execute(
                select(func.count())
                .select_from(self.t.keys)
                .where(self.t.keys.c.role == "operator", ~self.t.keys.c.revoked)
            ).scalar_one()
            if active <= 1:
                raise Conflict("the last active operator key cannot be revoked: rotate it instead")
            conn.execute(update(self.t.keys).where(self.t.keys.c.prefix == prefix).values(revoked=True))
            self._audit(conn, actor, "revoke", prefix)
        self.accounts.keys_changed()

    def rotate(self, actor: str, prefix: str) -> str:
        """A new operator key (same label) and the old one revoked; returns the new key (shown once)."""
        with self.engine.connect() as conn:
            r = conn.execute(
                select(self.t.keys).where(
                    self.t.keys.c.prefix == prefix, self.t.keys.c.role == "operator", ~self.t.keys.c.revoked
                )
            ).first()
        if r is None:
            raise NotFound(f"active operator key {prefix} not found")
        key = self.accounts.issue_key("operator", source="issued", label=r.label)
        with self.engine.begin() as conn:
            conn.execute(update(self.t.keys).where(self.t.keys.c.prefix == prefix).values(revoked=True))
            self._audit(conn, actor, "rotate", prefix, f"replaced by {_prefix(key)}")
            self._audit(conn, actor, "create", _prefix(key), f"rotation of {prefix}")
        self.accounts.keys_changed()
        return key

    def audit(self, limit: int = 100) -> list[AuditEntry]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(self.t.key_audit).order_by(self.t.key_audit.c.seq.desc()).limit(limit)
            ).all()
        return [from_row(AuditEntry, r) for r in rows]


__all__ = ["OperatorKeys"]
