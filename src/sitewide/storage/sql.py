"""SQL :class:`~sitewide.ports.Store` on SQLAlchemy 2 Core: SQLite (embedded default) and PostgreSQL.

Money columns are ``BigInteger`` micros. Every public write runs in one transaction: a batch of events or a
settlement's transactions is stored whole or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine

from sitewide.domain.money import Micros
from sitewide.domain.types import (
    Campaign,
    CampaignStatus,
    Conflict,
    Event,
    EventKind,
    LedgerEntry,
    Product,
    Shop,
    Transaction,
)
from sitewide.ports import EventReceipt

metadata = MetaData()

shops = Table(
    "shops",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("merchant_id", String(64), nullable=False, index=True),
    Column("name", Text, nullable=False),
)
products = Table(
    "products",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("shop_id", String(64), nullable=False, index=True),
    Column("title", Text, nullable=False),
    Column("category", Text, nullable=False),
    Column("brand", Text, nullable=False, default=""),
    Column("price_micros", BigInteger, nullable=False),
)
campaigns = Table(
    "campaigns",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("merchant_id", String(64), nullable=False, index=True),
    Column("name", Text, nullable=False),
    Column("product_ids", Text, nullable=False),  # JSON list
    Column("target_roi", String(32), nullable=False),  # Decimal as text, exact
    Column("daily_budget_micros", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)
events = Table(
    "events",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("ts_ms", BigInteger, nullable=False, index=True),
    Column("user_id", String(128), nullable=False),
    Column("product_id", String(64), nullable=False),
    Column("request_id", String(128), nullable=False),
    Column("campaign_id", String(64)),
    Column("position", Integer),
    Column("price_micros", BigInteger, nullable=False),
    Column("order_value_micros", BigInteger, nullable=False),
    Column("click_id", String(128)),
    Column("impression_id", String(128)),
    Column("order_id", String(128)),
)
served = Table(
    "served",
    metadata,
    Column("campaign_id", String(64), primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("impressions", BigInteger, nullable=False),
)
transactions = Table(
    "transactions",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(160), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("period", String(64), nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
)
entries = Table(
    "ledger_entries",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("txn_id", String(160), nullable=False, index=True),
    Column("account", String(160), nullable=False, index=True),
    Column("amount_micros", BigInteger, nullable=False),
    Column("memo", Text, nullable=False),
)

_EVENT_COLS = (
    "kind",
    "ts_ms",
    "user_id",
    "product_id",
    "request_id",
    "campaign_id",
    "position",
    "price_micros",
    "order_value_micros",
    "click_id",
    "impression_id",
    "order_id",
)


def _event_row(e: Event) -> dict[str, object]:
    return {"id": e.id, **dict(zip(_EVENT_COLS, e.body(), strict=True))}


def _event_from_row(r: object) -> Event:
    m = r._mapping  # type: ignore[attr-defined]
    return Event(
        id=m["id"],
        kind=EventKind(m["kind"]),
        ts_ms=int(m["ts_ms"]),
        user_id=m["user_id"],
        product_id=m["product_id"],
        request_id=m["request_id"],
        campaign_id=m["campaign_id"],
        position=m["position"],
        price_micros=Micros(int(m["price_micros"])),
        order_value_micros=Micros(int(m["order_value_micros"])),
        click_id=m["click_id"],
        impression_id=m["impression_id"],
        order_id=m["order_id"],
    )


def _campaign_from_row(r: object) -> Campaign:
    m = r._mapping  # type: ignore[attr-defined]
    return Campaign(
        id=m["id"],
        merchant_id=m["merchant_id"],
        name=m["name"],
        product_ids=tuple(json.loads(m["product_ids"])),
        target_roi=Decimal(m["target_roi"]),
        daily_budget_micros=Micros(int(m["daily_budget_micros"])),
        status=CampaignStatus(m["status"]),
        created_ms=int(m["created_ms"]),
    )


def _campaign_row(c: Campaign) -> dict[str, object]:
    return {
        "id": c.id,
        "merchant_id": c.merchant_id,
        "name": c.name,
        "product_ids": json.dumps(list(c.product_ids)),
        "target_roi": str(c.target_roi),
        "daily_budget_micros": int(c.daily_budget_micros),
        "status": c.status.value,
        "created_ms": c.created_ms,
    }


class SqlStore:
    """A Store on any SQLAlchemy URL. ``SqlStore.sqlite(path)`` is the embedded default."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)

    @classmethod
    def sqlite(cls, path: str | Path) -> SqlStore:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        eng = create_engine(f"sqlite:///{p}", future=True)

        @event.listens_for(eng, "connect")
        def _pragmas(dbapi_conn: object, _record: object) -> None:
            cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=10000")
            cur.close()

        return cls(eng)

    @classmethod
    def from_url(cls, url: str) -> SqlStore:
        if url.startswith("sqlite:///"):
            return cls.sqlite(url.removeprefix("sqlite:///"))
        return cls(create_engine(url, future=True))

    # catalogue -------------------------------------------------------------------------------------
    def _upsert(self, conn: Connection, table: Table, rows: list[dict[str, object]]) -> None:
        if not rows:
            return
        ids = [r["id"] for r in rows]
        existing: set[object] = set()
        for i in range(0, len(ids), 500):
            existing |= {
                r[0] for r in conn.execute(select(table.c.id).where(table.c.id.in_(ids[i : i + 500])))
            }
        new = [r for r in rows if r["id"] not in existing]
        if new:
            conn.execute(insert(table), new)
        for r in rows:
            if r["id"] in existing:
                conn.execute(update(table).where(table.c.id == r["id"]).values(**r))

    def upsert_shops(self, items: Iterable[Shop]) -> None:
        rows: list[dict[str, object]] = [
            {"id": s.id, "merchant_id": s.merchant_id, "name": s.name} for s in items
        ]
        with self.engine.begin() as conn:
            self._upsert(conn, shops, rows)

    def upsert_products(self, items: Iterable[Product]) -> None:
        rows: list[dict[str, object]] = [
            {
                "id": p.id,
                "shop_id": p.shop_id,
                "title": p.title,
                "category": p.category,
                "brand": p.brand,
                "price_micros": int(p.price_micros),
            }
            for p in items
        ]
        with self.engine.begin() as conn:
            self._upsert(conn, products, rows)

    @staticmethod
    def _product(m: object) -> Product:
        r = m._mapping  # type: ignore[attr-defined]
        return Product(
            id=r["id"],
            shop_id=r["shop_id"],
            title=r["title"],
            category=r["category"],
            price_micros=Micros(int(r["price_micros"])),
            brand=r["brand"],
        )

    def get_product(self, product_id: str) -> Product | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(products).where(products.c.id == product_id)).first()
        return self._product(r) if r is not None else None

    def list_products(self) -> list[Product]:
        with self.engine.connect() as conn:
            return [self._product(r) for r in conn.execute(select(products).order_by(products.c.id))]

    def get_shop(self, shop_id: str) -> Shop | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(shops).where(shops.c.id == shop_id)).first()
        return Shop(id=r.id, merchant_id=r.merchant_id, name=r.name) if r is not None else None

    def list_shops(self) -> list[Shop]:
        with self.engine.connect() as conn:
            return [
                Shop(id=r.id, merchant_id=r.merchant_id, name=r.name)
                for r in conn.execute(select(shops).order_by(shops.c.id))
            ]

    # campaigns -------------------------------------------------------------------------------------
    def create_campaign(self, campaign: Campaign) -> None:
        with self.engine.begin() as conn:
            if conn.execute(select(campaigns.c.id).where(campaigns.c.id == campaign.id)).first():
                raise Conflict(f"campaign {campaign.id} already exists")
            conn.execute(insert(campaigns), [_campaign_row(campaign)])

    def update_campaign(self, campaign: Campaign) -> None:
        with self.engine.begin() as conn:
            res = conn.execute(
                update(campaigns).where(campaigns.c.id == campaign.id).values(**_campaign_row(campaign))
            )
            if res.rowcount != 1:
                raise Conflict(f"campaign {campaign.id} does not exist")

    def get_campaign(self, campaign_id: str) -> Campaign | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(campaigns).where(campaigns.c.id == campaign_id)).first()
        return _campaign_from_row(r) if r is not None else None

    def list_campaigns(self, merchant_id: str | None = None) -> list[Campaign]:
        q = select(campaigns).order_by(campaigns.c.created_ms, campaigns.c.id)
        if merchant_id is not None:
            q = q.where(campaigns.c.merchant_id == merchant_id)
        with self.engine.connect() as conn:
            return [_campaign_from_row(r) for r in conn.execute(q)]

    # events ----------------------------------------------------------------------------------------
    def append_events(self, items: Sequence[Event]) -> EventReceipt:
        batch: dict[str, Event] = {}
        dups = 0
        for e in items:
            prior = batch.get(e.id)
            if prior is not None:
                if prior.body() != e.body():
                    raise Conflict(f"event {e.id} appears twice in the batch with different bodies")
                dups += 1
                continue
            batch[e.id] = e
        with self.engine.begin() as conn:
            ids = list(batch)
            seen: dict[str, Event] = {}
            for i in range(0, len(ids), 500):
                for r in conn.execute(select(events).where(events.c.id.in_(ids[i : i + 500]))):
                    seen[r.id] = _event_from_row(r)
            for eid, prior in seen.items():
                if prior.body() != batch[eid].body():
                    raise Conflict(f"event {eid} was already recorded with a different body")
            fresh_ids = tuple(eid for eid in batch if eid not in seen)
            if fresh_ids:
                conn.execute(insert(events), [_event_row(batch[eid]) for eid in fresh_ids])
        return EventReceipt(inserted=len(fresh_ids), duplicates=dups + len(seen), inserted_ids=fresh_ids)

    def events_between(self, start_ms: int, end_ms: int, kinds: Sequence[str] | None = None) -> list[Event]:
        q = select(events).where(events.c.ts_ms >= start_ms, events.c.ts_ms < end_ms)
        if kinds is not None:
            q = q.where(events.c.kind.in_(list(kinds)))
        q = q.order_by(events.c.ts_ms, events.c.id)
        with self.engine.connect() as conn:
            return [_event_from_row(r) for r in conn.execute(q)]

    def get_events(self, ids: Sequence[str]) -> dict[str, Event]:
        out: dict[str, Event] = {}
        idl = list(ids)
        with self.engine.connect() as conn:
            for i in range(0, len(idl), 500):
                for r in conn.execute(select(events).where(events.c.id.in_(idl[i : i + 500]))):
                    out[r.id] = _event_from_row(r)
        return out

    # served impressions ----------------------------------------------------------------------------
    def add_served(self, day: str, counts: dict[str, int]) -> None:
        with self.engine.begin() as conn:
            for cid, n in counts.items():
                res = conn.execute(
                    update(served)
                    .where(served.c.campaign_id == cid, served.c.day == day)
                    .values(impressions=served.c.impressions + n)
                )
                if res.rowcount == 0:
                    conn.execute(insert(served), [{"campaign_id": cid, "day": day, "impressions": n}])

    def served(self, campaign_id: str) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(served).where(served.c.campaign_id == campaign_id))
            return {r.day: int(r.impressions) for r in rows}

    # ledger ----------------------------------------------------------------------------------------
    def append_transactions(self, txns: Sequence[Transaction]) -> bool:
        for t in txns:
            if not t.balanced():
                raise Conflict(f"transaction {t.id} does not balance")
        with self.engine.begin() as conn:
            ids = [t.id for t in txns]
            if ids and conn.execute(select(transactions.c.id).where(transactions.c.id.in_(ids))).first():
                return False
            for t in txns:
                conn.execute(
                    insert(transactions), [{"id": t.id, "kind": t.kind, "period": t.period, "ts_ms": t.ts_ms}]
                )
                if t.entries:
                    conn.execute(
                        insert(entries),
                        [
                            {
                                "txn_id": t.id,
                                "account": e.account,
                                "amount_micros": int(e.amount_micros),
                                "memo": e.memo,
                            }
                            for e in t.entries
                        ],
                    )
        return True

    def list_transactions(self, kind: str | None = None, period: str | None = None) -> list[Transaction]:
        q = select(transactions).order_by(transactions.c.seq)
        if kind is not None:
            q = q.where(transactions.c.kind == kind)
        if period is not None:
            q = q.where(transactions.c.period == period)
        with self.engine.connect() as conn:
            txs = list(conn.execute(q))
            by: dict[str, list[LedgerEntry]] = {t.id: [] for t in txs}
            ids = list(by)
            for i in range(0, len(ids), 500):
                for r in conn.execute(
                    select(entries).where(entries.c.txn_id.in_(ids[i : i + 500])).order_by(entries.c.seq)
                ):
                    by[r.txn_id].append(
                        LedgerEntry(r.txn_id, r.account, Micros(int(r.amount_micros)), r.memo)
                    )
        return [Transaction(t.id, t.kind, t.period, int(t.ts_ms), tuple(by[t.id])) for t in txs]

    def balances(self) -> dict[str, int]:
        from sqlalchemy import func

        with self.engine.connect() as conn:
            rows = conn.execute(
                select(entries.c.account, func.sum(entries.c.amount_micros)).group_by(entries.c.account)
            )
            return {r[0]: int(r[1]) for r in rows}
