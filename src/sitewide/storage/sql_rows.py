"""Rows ↔ domain dataclasses for the SQL adapters, by the dataclass's field types: money and counts as int,
``Decimal`` as exact text, enums by value, tuples as JSON lists; a column is named like its field unless
``renamed`` says otherwise (``window`` → ``window_key``). And the one way to append a versioned document."""

from __future__ import annotations

import json
import types
from collections.abc import Callable, Hashable
from dataclasses import fields
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any, TypeVar, Union, cast, get_args, get_origin, get_type_hints

from sqlalchemy import Table, func, insert, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from sitewide.domain.types import Conflict

T = TypeVar("T")


def encode(v: object) -> object:
    """One field's value as its column's."""
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, Enum):
        return v.value
    if isinstance(v, tuple):
        return json.dumps([list(x) if isinstance(x, tuple) else x for x in v])
    return v


def to_row(
    obj: Any, renamed: dict[str, str] | None = None, skip: tuple[str, ...] = (), **extra: object
) -> dict[str, object]:
    """The columns of dataclass ``obj`` but the ``skip`` fields (stored elsewhere), plus ``extra`` ones (e.g.
    the run that wrote them)."""
    names = renamed or {}
    cols = {
        names.get(f.name, f.name): encode(getattr(obj, f.name)) for f in fields(obj) if f.name not in skip
    }
    return cols | extra


def _json_tuple(nested: bool) -> Callable[[Any], object]:
    def decode(v: Any) -> object:
        return tuple(tuple(x) if nested else x for x in json.loads(str(v)))

    return decode


def _decimal(v: Any) -> Decimal:
    return Decimal(str(v))


def _converter(t: Any) -> Callable[[Any], object] | None:
    """How one field's column value becomes the field's (None: as stored)."""
    origin = get_origin(t)
    if origin in (Union, types.UnionType):  # optional columns come back as stored
        return None
    if origin is tuple:
        return _json_tuple(get_origin(get_args(t)[0]) is tuple)
    base = getattr(t, "__supertype__", t)  # NewType (Micros) → int
    if base is Decimal:
        return _decimal
    if isinstance(base, type) and issubclass(base, Enum | bool | int):
        return cast(Callable[[Any], object], base)
    return None


@cache
def _decoders(cls: Any) -> tuple[tuple[str, Callable[[Any], object] | None], ...]:
    """Per field: its name and converter, worked out once per class (rows are decoded by the thousand)."""
    hints = get_type_hints(cls)
    return tuple((f.name, _converter(hints[f.name])) for f in fields(cls))


def from_row(cls: type[T], r: object, renamed: dict[str, str] | None = None, **given: object) -> T:
    """A ``cls`` from a result row that has a column per field, but the ``given`` ones."""
    m = r._mapping  # type: ignore[attr-defined]
    names, got = renamed or {}, dict(given)
    for name, conv in _decoders(cast(Hashable, cls)):
        if name not in given:
            v = m[names.get(name, name)]
            got[name] = v if conv is None or v is None else conv(v)
    return cls(**got)


WINDOW_KEY = {"window": "window_key"}  # LedgerEntry and GuaranteeEvaluation: "window" is an SQL keyword


def append_version(
    engine: Engine, table: Table, owner: tuple[str, str], make: Callable[[int], tuple[T, str]]
) -> T:
    """Store ``make(n + 1)`` — the object and its JSON document — as version n + 1 of ``owner`` (column,
    id), n being its highest stored version. Two writers may race for the same version: the loser retries with
    the next one, five times at most (then Conflict)."""
    col, owner_id = owner
    for _ in range(5):
        try:
            with engine.begin() as conn:
                last = conn.execute(
                    select(func.max(table.c.version)).where(table.c[col] == owner_id)
                ).scalar()
                version = int(last or 0) + 1
                obj, doc = make(version)
                conn.execute(insert(table).values({col: owner_id, "version": version, "document": doc}))
            return obj
        except IntegrityError:
            continue
    raise Conflict(f"{table.name} of {owner_id}: too many concurrent versions, try again")


def autocommit(engine: Engine) -> Connection:
    """A connection for statements that need no transaction of several (a read, or one self-contained write),
    in autocommit: no BEGIN before them, no ROLLBACK after them. On PostgreSQL the ROLLBACK that ends a plain
    ``engine.connect()`` block makes psycopg drop every statement it had prepared on that connection
    (``DEALLOCATE ALL``: it cannot tell which survived the transaction), so one such read per event batch (the
    campaigns' version) kept the batch's fixed-text claim, insert and spend statements from ever being
    prepared: PostgreSQL parsed and planned all three on every batch (issue 24). One statement sees one
    snapshot either way."""
    return engine.connect().execution_options(isolation_level="AUTOCOMMIT")
