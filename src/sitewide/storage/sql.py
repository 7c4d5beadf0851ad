"""SQL :class:`~sitewide.ports.Store` on SQLAlchemy 2 Core: SQLite (embedded default) and PostgreSQL.

Money columns are ``BigInteger`` micros. Every public write runs in one transaction: a batch of events or a
settlement's transactions is stored whole or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from sitewide.domain.creative import BrandKit, Creative
from sitewide.domain.creative_codec import creative_from_dict, creative_to_dict, kit_from_dict, kit_to_dict
from sitewide.domain.experiments import Experiment
from sitewide.domain.guarantee import GuaranteeContract, GuaranteeEvaluation
from sitewide.domain.ledger import LedgerLine, check_balanced
from sitewide.domain.money import Micros
from sitewide.domain.settlement import DayFigures, SettlementRun
from sitewide.domain.terms import CampaignTerms, initial_terms
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
from sitewide.ports import EventReceipt, EventTotal, SettledTotal

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
campaign_terms_t = Table(
    "campaign_terms",
    metadata,
    Column("campaign_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("effective_ms", BigInteger, nullable=False),
    Column("target_roi", String(32), nullable=False),  # Decimal as text, exact
    Column("daily_budget_micros", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("product_ids", Text, nullable=False),  # JSON list
)
SeqType = BigInteger().with_variant(Integer, "sqlite")  # INTEGER PRIMARY KEY = rowid on SQLite
events = Table(
    "events",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),  # ingestion order
    Column("id", String(128), nullable=False, unique=True),
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
    Column("order_id", String(128), index=True),
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
    Column("memo", Text, nullable=False),  # for people only; the keys are the columns below
    Column("merchant_id", String(64), index=True),
    Column("campaign_id", String(64), index=True),
    Column("day", String(10)),
    Column("window_key", String(32)),
)
runs = Table(
    "settlement_runs",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("period", String(64), nullable=False, index=True),
    Column("start_ms", BigInteger, nullable=False),
    Column("end_ms", BigInteger, nullable=False),
    Column("as_of_ms", BigInteger, nullable=False),
    Column("event_watermark", BigInteger, nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
)
day_figures_t = Table(
    "settlement_days",
    metadata,
    Column("campaign_id", String(64), primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("run_seq", BigInteger, primary_key=True),
    Column("merchant_id", String(64), nullable=False),
    Column("budget_micros", BigInteger, nullable=False),
    Column("clicks", BigInteger, nullable=False),
    Column("invalid_clicks", BigInteger, nullable=False),
    Column("invalid_by_rule", Text, nullable=False),  # JSON [[rule, n], ...]
    Column("billable_clicks", BigInteger, nullable=False),
    Column("raw_spend_micros", BigInteger, nullable=False),
    Column("spend_micros", BigInteger, nullable=False),
    Column("orders", BigInteger, nullable=False),
    Column("gross_gmv_micros", BigInteger, nullable=False),
    Column("refunded_micros", BigInteger, nullable=False),
    Column("target_roi", String(32), nullable=False),  # the day's terms: target the guarantee used
    Column("terms_versions", String(200), nullable=False),  # JSON list of the versions in force that day
    Index("ix_settlement_days_day", "day"),
)
evals_t = Table(
    "guarantee_evaluations",
    metadata,
    Column("campaign_id", String(64), primary_key=True),
    Column("window_key", String(32), primary_key=True),
    Column("run_seq", BigInteger, primary_key=True),
    Column("merchant_id", String(64), nullable=False),
    Column("first_day", String(10), nullable=False, index=True),
    Column("days", Integer, nullable=False),
    Column("contract_version", Integer, nullable=False),
    Column("contract", Text, nullable=False),
    Column("target_roi", String(32), nullable=False),
    Column("spend_micros", BigInteger, nullable=False),
    Column("gmv_micros", BigInteger, nullable=False),
    Column("orders", BigInteger, nullable=False),
    Column("triggered", Boolean, nullable=False),
    Column("due_micros", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
)
contracts_t = Table(
    "guarantee_contracts",
    metadata,
    Column("campaign_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("document", Text, nullable=False),
)
experiments_t = Table(
    "experiments",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("merchant_id", String(64), nullable=False, index=True),
    Column("campaign_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("document", Text, nullable=False),  # Experiment.to_dict() as JSON
)
brand_kits_t = Table(
    "brand_kits",
    metadata,
    Column("shop_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("document", Text, nullable=False),  # kit_to_dict() as JSON
)
creatives_t = Table(
    "creatives",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("product_id", String(64), nullable=False, index=True),
    Column(
        "position", Integer, nullable=False
    ),  # order within the product's set (the first is the merchant's)
    Column("document", Text, nullable=False),  # creative_to_dict() as JSON
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


def _terms_row(t: CampaignTerms) -> dict[str, object]:
    return {
        "campaign_id": t.campaign_id,
        "version": t.version,
        "effective_ms": t.effective_ms,
        "target_roi": str(t.target_roi),
        "daily_budget_micros": t.daily_budget_micros,
        "status": t.status.value,
        "product_ids": json.dumps(list(t.product_ids)),
    }


def _terms_from_row(r: object) -> CampaignTerms:
    m = r._mapping  # type: ignore[attr-defined]
    return CampaignTerms(
        campaign_id=m["campaign_id"],
        version=int(m["version"]),
        effective_ms=int(m["effective_ms"]),
        target_roi=Decimal(m["target_roi"]),
        daily_budget_micros=int(m["daily_budget_micros"]),
        status=CampaignStatus(m["status"]),
        product_ids=tuple(json.loads(m["product_ids"])),
    )


def _insert_txn(conn: Connection, t: Transaction) -> None:
    conn.execute(insert(transactions), [{"id": t.id, "kind": t.kind, "period": t.period, "ts_ms": t.ts_ms}])
    if t.entries:
        conn.execute(
            insert(entries),
            [
                {
                    "txn_id": t.id,
                    "account": e.account,
                    "amount_micros": int(e.amount_micros),
                    "memo": e.memo,
                    "merchant_id": e.merchant_id,
                    "campaign_id": e.campaign_id,
                    "day": e.day,
                    "window_key": e.window,
                }
                for e in t.entries
            ],
        )


def _entry_from_row(r: object) -> LedgerEntry:
    m = r._mapping  # type: ignore[attr-defined]
    return LedgerEntry(
        m["txn_id"],
        m["account"],
        Micros(int(m["amount_micros"])),
        m["memo"],
        m["merchant_id"],
        m["campaign_id"],
        m["day"],
        m["window_key"],
    )


def _run_from_row(r: object) -> SettlementRun:
    m = r._mapping  # type: ignore[attr-defined]
    return SettlementRun(
        seq=int(m["seq"]),
        period=m["period"],
        start_ms=int(m["start_ms"]),
        end_ms=int(m["end_ms"]),
        as_of_ms=int(m["as_of_ms"]),
        event_watermark=int(m["event_watermark"]),
        ts_ms=int(m["ts_ms"]),
    )


_FIG_INTS = (
    "budget_micros",
    "clicks",
    "invalid_clicks",
    "billable_clicks",
    "raw_spend_micros",
    "spend_micros",
    "orders",
    "gross_gmv_micros",
    "refunded_micros",
)


def _fig_row(run_seq: int, f: DayFigures) -> dict[str, object]:
    return {
        "run_seq": run_seq,
        "campaign_id": f.campaign_id,
        "day": f.day,
        "merchant_id": f.merchant_id,
        "invalid_by_rule": json.dumps([list(x) for x in f.invalid_by_rule]),
        "target_roi": str(f.target_roi),
        "terms_versions": json.dumps(list(f.terms_versions)),
        **{k: int(getattr(f, k)) for k in _FIG_INTS},
    }


def _fig_from_row(r: object) -> DayFigures:
    m = r._mapping  # type: ignore[attr-defined]
    return DayFigures(
        campaign_id=m["campaign_id"],
        merchant_id=m["merchant_id"],
        day=m["day"],
        invalid_by_rule=tuple((str(a), int(b)) for a, b in json.loads(m["invalid_by_rule"])),
        target_roi=Decimal(m["target_roi"]),
        terms_versions=tuple(int(v) for v in json.loads(m["terms_versions"])),
        **{k: int(m[k]) for k in _FIG_INTS},
    )


def _eval_row(run_seq: int, g: GuaranteeEvaluation) -> dict[str, object]:
    return {
        "run_seq": run_seq,
        "campaign_id": g.campaign_id,
        "window_key": g.window,
        "merchant_id": g.merchant_id,
        "first_day": g.first_day,
        "days": g.days,
        "contract_version": g.contract_version,
        "contract": g.contract,
        "target_roi": str(g.target_roi),
        "spend_micros": g.spend_micros,
        "gmv_micros": g.gmv_micros,
        "orders": g.orders,
        "triggered": g.triggered,
        "due_micros": g.due_micros,
        "reason": g.reason,
    }


def _eval_from_row(r: object) -> GuaranteeEvaluation:
    m = r._mapping  # type: ignore[attr-defined]
    return GuaranteeEvaluation(
        campaign_id=m["campaign_id"],
        merchant_id=m["merchant_id"],
        window=m["window_key"],
        first_day=m["first_day"],
        days=int(m["days"]),
        contract_version=int(m["contract_version"]),
        contract=m["contract"],
        target_roi=Decimal(m["target_roi"]),
        spend_micros=int(m["spend_micros"]),
        gmv_micros=int(m["gmv_micros"]),
        orders=int(m["orders"]),
        triggered=bool(m["triggered"]),
        due_micros=int(m["due_micros"]),
        reason=m["reason"],
    )


class SqlStore:
    """A Store on any SQLAlchemy URL. ``SqlStore.sqlite(path)`` is the embedded default."""

    def __init__(self, engine: Engine, migrate: bool = True) -> None:
        self.engine = engine
        if migrate:
            from sitewide.storage.migrate import upgrade

            upgrade(engine)

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
            conn.execute(insert(campaign_terms_t), [_terms_row(initial_terms(campaign))])

    def update_campaign(self, campaign: Campaign, effective_ms: int) -> None:
        """The row update takes the campaign's row lock first, so concurrent edits append versions in turn."""
        t = campaign_terms_t
        with self.engine.begin() as conn:
            res = conn.execute(
                update(campaigns).where(campaigns.c.id == campaign.id).values(**_campaign_row(campaign))
            )
            if res.rowcount != 1:
                raise Conflict(f"campaign {campaign.id} does not exist")
            r = conn.execute(
                select(t).where(t.c.campaign_id == campaign.id).order_by(t.c.version.desc()).limit(1)
            ).first()
            last = _terms_from_row(r) if r is not None else None
            if last is None or not last.same_terms(campaign):
                v = last.version + 1 if last else 1
                eff = max(effective_ms, last.effective_ms if last else 0)
                conn.execute(insert(t), [_terms_row(CampaignTerms.of(campaign, v, eff))])

    def campaign_terms(self, campaign_ids: Sequence[str] | None = None) -> dict[str, list[CampaignTerms]]:
        t = campaign_terms_t
        out: dict[str, list[CampaignTerms]] = {}
        with self.engine.connect() as conn:
            if campaign_ids is None:
                rows = list(conn.execute(select(t).order_by(t.c.campaign_id, t.c.version)))
            else:
                ids, rows = list(campaign_ids), []
                for i in range(0, len(ids), 500):
                    q = select(t).where(t.c.campaign_id.in_(ids[i : i + 500]))
                    rows += list(conn.execute(q.order_by(t.c.campaign_id, t.c.version)))
        for r in rows:
            x = _terms_from_row(r)
            out.setdefault(x.campaign_id, []).append(x)
        return out

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
        """Set-based: ``INSERT … ON CONFLICT (id) DO NOTHING RETURNING id``, then one read of the bodies of
        the ids that were already there; a different body raises Conflict and rolls the whole batch back."""
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
        if not batch:
            return EventReceipt(inserted=0, duplicates=dups)
        ins = postgresql.insert(events) if self.engine.dialect.name == "postgresql" else sqlite.insert(events)
        stmt = ins.on_conflict_do_nothing(index_elements=["id"]).returning(events.c.id)
        with self.engine.begin() as conn:
            inserted: set[str] = set()
            rows = [_event_row(e) for e in batch.values()]
            for i in range(0, len(rows), 1000):
                inserted.update(r[0] for r in conn.execute(stmt, rows[i : i + 1000]))
            repeats = [eid for eid in batch if eid not in inserted]
            for i in range(0, len(repeats), 500):
                for r in conn.execute(select(events).where(events.c.id.in_(repeats[i : i + 500]))):
                    if _event_from_row(r).body() != batch[r.id].body():
                        raise Conflict(f"event {r.id} was already recorded with a different body")
        fresh_ids = tuple(eid for eid in batch if eid in inserted)
        return EventReceipt(inserted=len(fresh_ids), duplicates=dups + len(repeats), inserted_ids=fresh_ids)

    def events_between(
        self,
        start_ms: int,
        end_ms: int,
        kinds: Sequence[str] | None = None,
        *,
        campaign_ids: Sequence[str] | None = None,
        product_ids: Sequence[str] | None = None,
    ) -> list[Event]:
        q = select(events).where(events.c.ts_ms >= start_ms, events.c.ts_ms < end_ms)
        if kinds is not None:
            q = q.where(events.c.kind.in_(list(kinds)))
        if campaign_ids is not None:
            q = q.where(events.c.campaign_id.in_(list(campaign_ids)))
        if product_ids is not None:
            q = q.where(events.c.product_id.in_(list(product_ids)))
        q = q.order_by(events.c.ts_ms, events.c.id)
        with self.engine.connect() as conn:
            return [_event_from_row(r) for r in conn.execute(q)]

    def settled_totals(
        self, campaign_ids: Sequence[str], group_by: str, first_day: str, last_day: str
    ) -> list[SettledTotal]:
        """Two GROUP BY queries: the latest figures per campaign-day (max run_seq) summed per key, and the
        served impressions summed per key."""
        t, ids = day_figures_t, list(campaign_ids)
        if not ids:
            return []
        latest = (
            select(t.c.campaign_id, t.c.day, func.max(t.c.run_seq).label("rs"))
            .where(t.c.campaign_id.in_(ids), t.c.day >= first_day, t.c.day <= last_day)
            .group_by(t.c.campaign_id, t.c.day)
            .subquery()
        )
        key = t.c.day if group_by == "day" else t.c.campaign_id
        figs = (
            select(
                key,
                func.sum(t.c.clicks),
                func.sum(t.c.orders),
                func.sum(t.c.spend_micros),
                func.sum(t.c.gross_gmv_micros - t.c.refunded_micros),
            )
            .select_from(
                t.join(
                    latest,
                    (t.c.campaign_id == latest.c.campaign_id)
                    & (t.c.day == latest.c.day)
                    & (t.c.run_seq == latest.c.rs),
                )
            )
            .group_by(key)
        )
        skey = served.c.day if group_by == "day" else served.c.campaign_id
        imps = (
            select(skey, func.sum(served.c.impressions))
            .where(served.c.campaign_id.in_(ids), served.c.day >= first_day, served.c.day <= last_day)
            .group_by(skey)
        )
        out: dict[str, list[int]] = {}
        with self.engine.connect() as conn:
            for r in conn.execute(figs):
                out[str(r[0])] = [0, int(r[1]), int(r[2]), int(r[3]), int(r[4])]
            for k, n in conn.execute(imps):
                out.setdefault(str(k), [0, 0, 0, 0, 0])[0] = int(n)
        return [SettledTotal(k, *v) for k, v in sorted(out.items())]

    def event_totals(self, campaign_ids: Sequence[str], start_ms: int, end_ms: int) -> list[EventTotal]:
        e = events
        q = (
            select(e.c.product_id, e.c.kind, func.count(), func.coalesce(func.sum(e.c.price_micros), 0))
            .where(e.c.campaign_id.in_(list(campaign_ids)), e.c.ts_ms >= start_ms, e.c.ts_ms < end_ms)
            .group_by(e.c.product_id, e.c.kind)
            .order_by(e.c.product_id, e.c.kind)
        )
        with self.engine.connect() as conn:
            return [EventTotal(str(r[0]), str(r[1]), int(r[2]), int(r[3])) for r in conn.execute(q)]

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
        check_balanced(txns)
        try:
            with self.engine.begin() as conn:
                ids = [t.id for t in txns]
                if ids and conn.execute(select(transactions.c.id).where(transactions.c.id.in_(ids))).first():
                    return False
                for t in txns:
                    _insert_txn(conn, t)
        except IntegrityError:  # a concurrent writer stored the same id first
            return False
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
                    by[r.txn_id].append(_entry_from_row(r))
        return [Transaction(t.id, t.kind, t.period, int(t.ts_ms), tuple(by[t.id])) for t in txs]

    def ledger_entries(
        self,
        merchant_id: str | None = None,
        campaign_id: str | None = None,
        accounts: Sequence[str] | None = None,
    ) -> list[LedgerLine]:
        q = (
            select(entries, transactions.c.period, transactions.c.kind)
            .join(transactions, transactions.c.id == entries.c.txn_id)
            .order_by(entries.c.seq)
        )
        if merchant_id is not None:
            q = q.where(entries.c.merchant_id == merchant_id)
        if campaign_id is not None:
            q = q.where(entries.c.campaign_id == campaign_id)
        if accounts is not None:
            q = q.where(entries.c.account.in_(list(accounts)))
        with self.engine.connect() as conn:
            return [LedgerLine(r.period, r.kind, _entry_from_row(r)) for r in conn.execute(q)]

    def balances(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(entries.c.account, func.sum(entries.c.amount_micros)).group_by(entries.c.account)
            )
            return {r[0]: int(r[1]) for r in rows}

    # settlement ------------------------------------------------------------------------------------
    def event_watermark(self) -> int:
        """The highest ingestion seq below which every event is committed. On PostgreSQL a sequence value
        can commit after a higher one, so the read waits, under a brief SHARE ROW EXCLUSIVE lock, for the
        inserts in flight to finish; SQLite has one writer at a time."""
        with self.engine.begin() as conn:
            if self.engine.dialect.name == "postgresql":
                conn.execute(text("LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE"))
            v = conn.execute(select(func.max(events.c.seq))).scalar()
        return int(v or 0)

    def event_stamps_after(self, after: int, upto: int) -> list[tuple[int, str, str | None]]:
        q = select(events.c.ts_ms, events.c.kind, events.c.order_id).where(
            events.c.seq > after, events.c.seq <= upto
        )
        with self.engine.connect() as conn:
            return [(int(r[0]), str(r[1]), r[2]) for r in conn.execute(q)]

    def refunds_for(self, order_ids: Sequence[str]) -> dict[str, list[Event]]:
        ids = sorted(set(order_ids))
        out: dict[str, list[Event]] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(ids), 500):
                q = select(events).where(
                    events.c.kind == EventKind.REFUND.value, events.c.order_id.in_(ids[i : i + 500])
                )
                for r in conn.execute(q):
                    e = _event_from_row(r)
                    out.setdefault(e.order_id or "", []).append(e)
        return out

    def last_run(self) -> SettlementRun | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(runs).order_by(runs.c.seq.desc()).limit(1)).first()
        return _run_from_row(r) if r is not None else None

    def runs_for_period(self, period: str) -> list[SettlementRun]:
        with self.engine.connect() as conn:
            q = select(runs).where(runs.c.period == period).order_by(runs.c.seq)
            return [_run_from_row(r) for r in conn.execute(q)]

    def day_figures(
        self, first_day: str, last_day: str, campaign_id: str | None = None
    ) -> dict[tuple[str, str], DayFigures]:
        t = day_figures_t
        q = select(t).where(t.c.day >= first_day, t.c.day <= last_day).order_by(t.c.run_seq)
        if campaign_id is not None:
            q = q.where(t.c.campaign_id == campaign_id)
        with self.engine.connect() as conn:
            return {(r.campaign_id, r.day): _fig_from_row(r) for r in conn.execute(q)}

    def guarantee_evaluations(
        self, first_day: str, last_day: str, campaign_id: str | None = None
    ) -> dict[tuple[str, str], GuaranteeEvaluation]:
        t = evals_t
        q = select(t).where(t.c.first_day >= first_day, t.c.first_day <= last_day).order_by(t.c.run_seq)
        if campaign_id is not None:
            q = q.where(t.c.campaign_id == campaign_id)
        with self.engine.connect() as conn:
            return {(r.campaign_id, r.window_key): _eval_from_row(r) for r in conn.execute(q)}

    def commit_settlement(
        self,
        run: SettlementRun,
        txn: Transaction | None,
        days: Sequence[DayFigures],
        evaluations: Sequence[GuaranteeEvaluation],
    ) -> bool:
        if txn is not None:
            check_balanced([txn])
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(runs),
                    [
                        {
                            "seq": run.seq,
                            "period": run.period,
                            "start_ms": run.start_ms,
                            "end_ms": run.end_ms,
                            "as_of_ms": run.as_of_ms,
                            "event_watermark": run.event_watermark,
                            "ts_ms": run.ts_ms,
                        }
                    ],
                )
                if txn is not None:
                    _insert_txn(conn, txn)
                if days:
                    conn.execute(insert(day_figures_t), [_fig_row(run.seq, f) for f in days])
                if evaluations:
                    conn.execute(insert(evals_t), [_eval_row(run.seq, g) for g in evaluations])
        except IntegrityError:  # another run committed this seq (or transaction id) first
            return False
        return True

    def put_guarantee(self, contract: GuaranteeContract) -> GuaranteeContract:
        if contract.campaign_id is None:
            raise Conflict("a stored guarantee contract needs a campaign_id")
        for _ in range(5):
            try:
                with self.engine.begin() as conn:
                    v = conn.execute(
                        select(func.max(contracts_t.c.version)).where(
                            contracts_t.c.campaign_id == contract.campaign_id
                        )
                    ).scalar()
                    c = replace(contract, version=int(v or 0) + 1)
                    conn.execute(
                        insert(contracts_t),
                        [
                            {
                                "campaign_id": contract.campaign_id,
                                "version": c.version,
                                "document": json.dumps(c.to_dict(), sort_keys=True),
                            }
                        ],
                    )
                return c
            except IntegrityError:
                continue
        raise Conflict(f"could not store a new guarantee version for {contract.campaign_id}")

    def guarantees(self) -> dict[str, GuaranteeContract]:
        out: dict[str, GuaranteeContract] = {}
        with self.engine.connect() as conn:
            for r in conn.execute(select(contracts_t).order_by(contracts_t.c.version)):
                out[r.campaign_id] = GuaranteeContract.from_dict(json.loads(r.document))
        return out

    # creatives --------------------------------------------------------------------------------------
    def put_brand_kit(self, kit: BrandKit) -> BrandKit:
        for _ in range(5):  # two writers may race for the same version: the loser retries with the next one
            try:
                with self.engine.begin() as conn:
                    last = conn.execute(
                        select(func.max(brand_kits_t.c.version)).where(brand_kits_t.c.shop_id == kit.shop_id)
                    ).scalar()
                    k = replace(kit, version=int(last or 0) + 1)
                    doc = json.dumps(kit_to_dict(k), sort_keys=True)
                    conn.execute(
                        insert(brand_kits_t).values(shop_id=k.shop_id, version=k.version, document=doc)
                    )
                return k
            except IntegrityError:
                continue
        raise Conflict(f"brand kit of shop {kit.shop_id}: too many concurrent versions, try again")

    def brand_kit_versions(self, shop_id: str) -> list[BrandKit]:
        q = (
            select(brand_kits_t.c.document)
            .where(brand_kits_t.c.shop_id == shop_id)
            .order_by(brand_kits_t.c.version)
        )
        with self.engine.connect() as conn:
            return [kit_from_dict(json.loads(r[0])) for r in conn.execute(q)]

    def put_creatives(self, product_id: str, creatives: Sequence[Creative]) -> None:
        if any(c.product_id != product_id for c in creatives):
            raise Conflict(f"creatives of another product given for {product_id}")
        rows = [
            {"id": c.id, "product_id": product_id, "position": i, "document": json.dumps(creative_to_dict(c))}
            for i, c in enumerate(creatives)
        ]
        with self.engine.begin() as conn:
            conn.execute(delete(creatives_t).where(creatives_t.c.product_id == product_id))
            if rows:
                conn.execute(insert(creatives_t), rows)

    def list_creatives(self, product_id: str | None = None) -> list[Creative]:
        q = select(creatives_t.c.document).order_by(creatives_t.c.product_id, creatives_t.c.position)
        if product_id is not None:
            q = q.where(creatives_t.c.product_id == product_id)
        with self.engine.connect() as conn:
            return [creative_from_dict(json.loads(r[0])) for r in conn.execute(q)]

    # merchant experiments ---------------------------------------------------------------------------
    def put_experiment(self, experiment: Experiment) -> None:
        row: dict[str, object] = {
            "id": experiment.id,
            "merchant_id": experiment.merchant_id,
            "campaign_id": experiment.campaign_id,
            "status": experiment.status.value,
            "document": json.dumps(experiment.to_dict(), sort_keys=True),
        }
        with self.engine.begin() as conn:
            self._upsert(conn, experiments_t, [row])

    def get_experiment(self, experiment_id: str) -> Experiment | None:
        with self.engine.connect() as conn:
            r = conn.execute(
                select(experiments_t.c.document).where(experiments_t.c.id == experiment_id)
            ).first()
        return None if r is None else Experiment.from_dict(json.loads(r[0]))

    def list_experiments(self, merchant_id: str | None = None) -> list[Experiment]:
        q = select(experiments_t.c.document).order_by(experiments_t.c.id)
        if merchant_id is not None:
            q = q.where(experiments_t.c.merchant_id == merchant_id)
        with self.engine.connect() as conn:
            return [Experiment.from_dict(json.loads(r[0])) for r in conn.execute(q)]
