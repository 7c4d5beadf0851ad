"""SQL :class:`~sitewide.ports.Store` on SQLAlchemy 2 Core: SQLite (embedded default) and PostgreSQL.

Money columns are ``BigInteger`` micros. Every public write runs in one transaction: a batch of events or a
settlement's transactions is stored whole or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from sqlalchemy import (
    Table,
    create_engine,
    delete,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine

from sitewide.domain.creative import BrandKit, Creative
from sitewide.domain.creative_codec import creative_from_dict, creative_to_dict, kit_from_dict, kit_to_dict
from sitewide.domain.experiments import Experiment
from sitewide.domain.money import Micros
from sitewide.domain.terms import CampaignTerms, initial_terms
from sitewide.domain.types import (
    Campaign,
    Conflict,
    Product,
    Shop,
)
from sitewide.storage.migrate import upgrade
from sitewide.storage.schema import tables
from sitewide.storage.sql_events import SqlEvents
from sitewide.storage.sql_holdouts import SqlHoldouts
from sitewide.storage.sql_leases import SqlLeases
from sitewide.storage.sql_ledger import SqlLedger
from sitewide.storage.sql_reports import SqlReports
from sitewide.storage.sql_rows import append_version, from_row, to_row

CAMPAIGNS = "campaigns"  # the version counter of the campaigns (and their terms)


class SqlStore(SqlEvents, SqlLedger, SqlReports, SqlLeases, SqlHoldouts):
    """A Store on any SQLAlchemy URL. ``SqlStore.sqlite(path)`` is the embedded default."""

    def __init__(self, engine: Engine) -> None:
        """Brings the database to the newest schema (``migrate.upgrade``) and reads its tables from it."""
        self.engine = engine
        upgrade(engine)
        self.t = tables(engine)

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
            self._upsert(conn, self.t.shops, rows)

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
            self._upsert(conn, self.t.products, rows)

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

    def delete_products(self, product_ids: Iterable[str]) -> int:
        ids = sorted(set(product_ids))
        if not ids:
            return 0
        with self.engine.begin() as conn:
            return int(conn.execute(delete(self.t.products).where(self.t.products.c.id.in_(ids))).rowcount)

    def get_product(self, product_id: str) -> Product | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(self.t.products).where(self.t.products.c.id == product_id)).first()
        return self._product(r) if r is not None else None

    def list_products(self) -> list[Product]:
        with self.engine.connect() as conn:
            return [
                self._product(r) for r in conn.execute(select(self.t.products).order_by(self.t.products.c.id))
            ]

    def get_shop(self, shop_id: str) -> Shop | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(self.t.shops).where(self.t.shops.c.id == shop_id)).first()
        return Shop(id=r.id, merchant_id=r.merchant_id, name=r.name) if r is not None else None

    def list_shops(self) -> list[Shop]:
        with self.engine.connect() as conn:
            return [
                Shop(id=r.id, merchant_id=r.merchant_id, name=r.name)
                for r in conn.execute(select(self.t.shops).order_by(self.t.shops.c.id))
            ]

    # campaigns -------------------------------------------------------------------------------------
    def create_campaign(self, campaign: Campaign) -> None:
        with self.engine.begin() as conn:
            if conn.execute(
                select(self.t.campaigns.c.id).where(self.t.campaigns.c.id == campaign.id)
            ).first():
                raise Conflict(f"campaign {campaign.id} already exists")
            conn.execute(insert(self.t.campaigns), [to_row(campaign)])
            conn.execute(insert(self.t.campaign_terms), [to_row(initial_terms(campaign))])
            self.bump_version(conn, CAMPAIGNS)

    def update_campaign(self, campaign: Campaign, effective_ms: int) -> None:
        """The row update takes the campaign's row lock first, so concurrent edits append versions in turn."""
        t = self.t.campaign_terms
        with self.engine.begin() as conn:
            res = conn.execute(
                update(self.t.campaigns)
                .where(self.t.campaigns.c.id == campaign.id)
                .values(**to_row(campaign))
            )
            if res.rowcount != 1:
                raise Conflict(f"campaign {campaign.id} does not exist")
            r = conn.execute(
                select(t).where(t.c.campaign_id == campaign.id).order_by(t.c.version.desc()).limit(1)
            ).first()
            last = from_row(CampaignTerms, r) if r is not None else None
            if last is None or not last.same_terms(campaign):
                v = last.version + 1 if last else 1
                eff = max(effective_ms, last.effective_ms if last else 0)
                conn.execute(insert(t), [to_row(CampaignTerms.of(campaign, v, eff))])
            self.bump_version(conn, CAMPAIGNS)

    def campaign_terms(self, campaign_ids: Sequence[str] | None = None) -> dict[str, list[CampaignTerms]]:
        t = self.t.campaign_terms
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
            x = from_row(CampaignTerms, r)
            out.setdefault(x.campaign_id, []).append(x)
        return out

    def get_campaign(self, campaign_id: str) -> Campaign | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(self.t.campaigns).where(self.t.campaigns.c.id == campaign_id)).first()
        return from_row(Campaign, r) if r is not None else None

    def list_campaigns(self, merchant_id: str | None = None) -> list[Campaign]:
        q = select(self.t.campaigns).order_by(self.t.campaigns.c.created_ms, self.t.campaigns.c.id)
        if merchant_id is not None:
            q = q.where(self.t.campaigns.c.merchant_id == merchant_id)
        with self.engine.connect() as conn:
            return [from_row(Campaign, r) for r in conn.execute(q)]

    # creatives --------------------------------------------------------------------------------------
    def put_brand_kit(self, kit: BrandKit) -> BrandKit:
        def make(version: int) -> tuple[BrandKit, str]:
            k = replace(kit, version=version)
            return k, json.dumps(kit_to_dict(k), sort_keys=True)

        return append_version(self.engine, self.t.brand_kits, ("shop_id", kit.shop_id), make)

    def brand_kit_versions(self, shop_id: str) -> list[BrandKit]:
        q = (
            select(self.t.brand_kits.c.document)
            .where(self.t.brand_kits.c.shop_id == shop_id)
            .order_by(self.t.brand_kits.c.version)
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
            conn.execute(delete(self.t.creatives).where(self.t.creatives.c.product_id == product_id))
            if rows:
                conn.execute(insert(self.t.creatives), rows)

    def list_creatives(self, product_id: str | None = None) -> list[Creative]:
        q = select(self.t.creatives.c.document).order_by(
            self.t.creatives.c.product_id, self.t.creatives.c.position
        )
        if product_id is not None:
            q = q.where(self.t.creatives.c.product_id == product_id)
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
            self._upsert(conn, self.t.experiments, [row])

    def get_experiment(self, experiment_id: str) -> Experiment | None:
        with self.engine.connect() as conn:
            r = conn.execute(
                select(self.t.experiments.c.document).where(self.t.experiments.c.id == experiment_id)
            ).first()
        return None if r is None else Experiment.from_dict(json.loads(r[0]))

    def list_experiments(self, merchant_id: str | None = None) -> list[Experiment]:
        q = select(self.t.experiments.c.document).order_by(self.t.experiments.c.id)
        if merchant_id is not None:
            q = q.where(self.t.experiments.c.merchant_id == merchant_id)
        with self.engine.connect() as conn:
            return [Experiment.from_dict(json.loads(r[0])) for r in conn.execute(q)]
