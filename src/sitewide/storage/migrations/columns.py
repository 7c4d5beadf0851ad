"""The column kinds the migrations repeat, one helper each (fresh ``Column`` objects per call: a column belongs
to one table). Changing one changes every migration that uses it, so these only ever describe what the
migrations already created: ids are ``VARCHAR(n)``, money, counts and millisecond times ``BIGINT NOT NULL``,
free text ``TEXT NOT NULL``."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

Col = sa.Column[Any]


def key(name: str, length: int = 64) -> Col:
    """A primary-key part: ``VARCHAR(length)``."""
    return sa.Column(name, sa.String(length), primary_key=True)


def ident(name: str, length: int = 64, *, index: bool = False) -> Col:
    """A required id or short code: ``VARCHAR(length) NOT NULL``."""
    return sa.Column(name, sa.String(length), nullable=False, index=index or None)


def text(*names: str) -> list[Col]:
    """Required free text (or a JSON document): ``TEXT NOT NULL`` each."""
    return [sa.Column(n, sa.Text, nullable=False) for n in names]


def bigints(*names: str) -> list[Col]:
    """Required money (micros), counts and times (ms): ``BIGINT NOT NULL`` each."""
    return [sa.Column(n, sa.BigInteger, nullable=False) for n in names]


def event_columns(*, ts_index: bool = False) -> list[Col]:
    """The events table's columns after its id, as 0001 created them (0002 rebuilds the table around the same
    columns, and its downgrade rebuilds 0001's table)."""
    return [
        ident("kind", 16),
        sa.Column("ts_ms", sa.BigInteger, nullable=False, index=ts_index or None),
        ident("user_id", 128),
        ident("product_id"),
        ident("request_id", 128),
        sa.Column("campaign_id", sa.String(64)),
        sa.Column("position", sa.Integer),
        *bigints("price_micros", "order_value_micros"),
        sa.Column("click_id", sa.String(128)),
        sa.Column("impression_id", sa.String(128)),
        sa.Column("order_id", sa.String(128)),
    ]
