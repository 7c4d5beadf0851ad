"""Operator keys: create, list, revoke and rotate (operator only), with the audit log of every change."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from sitewide.api import fields_of
from sitewide.api.schemas import KeyAuditOut, KeyOut, OperatorKeyIn, OperatorKeyOut, RevokedOut
from sitewide.service.deps import KeysDep, OperatorDep, errors

router = APIRouter(
    prefix="/operator/keys",
    tags=["operator keys"],
    responses=errors(401, 403),
)


@router.post("", status_code=201, response_model=KeyOut)
def create_key(body: OperatorKeyIn, keys: KeysDep, who: OperatorDep) -> KeyOut:
    """A new operator key (shown once)."""
    return KeyOut(api_key=keys.create(who.key_prefix, body.label))


@router.get("", response_model=list[OperatorKeyOut])
def list_keys(keys: KeysDep, _: OperatorDep) -> list[OperatorKeyOut]:
    """Every operator key, revoked ones too (prefixes only; keys are stored hashed)."""
    return [fields_of(OperatorKeyOut, k) for k in keys.keys()]


@router.delete("/{prefix}", response_model=RevokedOut, responses=errors(404, 409))
def revoke_key(prefix: str, keys: KeysDep, who: OperatorDep) -> RevokedOut:
    """Revoke an operator key at once (idempotent); the last active one cannot be revoked (409)."""
    keys.revoke(who.key_prefix, prefix)
    return RevokedOut(revoked=prefix)


@router.post("/{prefix}/rotate", status_code=201, response_model=KeyOut, responses=errors(404))
def rotate_key(prefix: str, keys: KeysDep, who: OperatorDep) -> KeyOut:
    """A new key in place of an active one, which is revoked in the same step (the new key is shown once)."""
    return KeyOut(api_key=keys.rotate(who.key_prefix, prefix))


@router.get("/audit", response_model=list[KeyAuditOut])
def audit(
    keys: KeysDep, _: OperatorDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[KeyAuditOut]:
    """The key changes, newest first."""
    return [fields_of(KeyAuditOut, a) for a in keys.audit(limit)]
