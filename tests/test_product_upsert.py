"""Products added, changed, made ineligible and removed while serving, without a rebuild: through the engine and
through the service's product endpoints (``POST /products``, ``DELETE /products/{id}``). A removed product is never
a candidate again, organic or ad, on the search, feed and auction-only paths; an upsert brings it back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sitewide.domain.eligibility import ProductSignals
from sitewide.domain.money import Micros
from sitewide.domain.time import day_bounds
from sitewide.domain.types import Campaign, Product, RequestKind, ServeRequest, Shop
from sitewide.engine import Engine, EngineConfig
from sitewide.engine.auctions import AuctionRequest
from sitewide.index.ann import FaissIndex
from sitewide.service.app import create_app
from sitewide.settings import Settings
from sitewide.storage.memory import MemoryStore
from sitewide.storage.sql import SqlStore
from sitewide.wiring import make_engine, seeded_engine

T0 = day_bounds("2026-01-05")[0] + 1_000
KEY = "sw_0123456789ab_operator-key-for-tests"


def _no_rebuild(eng: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_: Any, **__: Any) -> None:
        raise AssertionError("rebuilt")

    monkeypatch.setattr(eng.index, "build", fail)
    monkeypatch.setattr(eng, "reload", fail)


@contextmanager
def _service(
    tmp_path: Path, shops: list[Shop], products: list[Product], monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    """The service over a seeded SQLite engine that must not rebuild, as the operator."""
    eng = seeded_engine(SqlStore.sqlite(tmp_path / "t.sqlite"), shops, products)
    _no_rebuild(eng, monkeypatch)
    app = create_app(Settings(data_dir=tmp_path, load_catalogue=False), eng, operator_key=KEY)
    with TestClient(app, headers={"Authorization": f"Bearer {KEY}"}) as op:
        yield op


def _served_over_http(op: TestClient, query: str, i: int, slots: int) -> list[str]:
    r = op.post("/serve", json={"request_id": f"q{i}", "user_id": "u", "query": query, "slots": slots})
    assert r.status_code == 200, r.text
    return [s["product_id"] for s in r.json()["slots"]]


def _served(eng: Engine, query: str, i: int = 0) -> list[str]:
    r = eng.serve(ServeRequest(f"r{query}{i}", f"u{i}", RequestKind.SEARCH, query, 4, T0 + i))
    return [s.product_id for s in r.slots]


def test_the_engine_serves_changed_and_new_products_without_a_rebuild(
    shops: list[Shop], products: list[Product], campaigns: list[Campaign], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = MemoryStore()
    for s in shops:
        store.upsert_shops([s])
    store.upsert_products(products)
    for c in campaigns:
        store.create_campaign(c)
    index = FaissIndex(kind="ivf", nlist=2, one_cell_below=0)  # several cells: upserts go to their cells
    eng = make_engine(store, EngineConfig(scorer="priors"), index=index)
    rows = dict(eng.catalogue.row)
    assert "p00" not in _served(eng, "zeppelin garden hose")
    _no_rebuild(eng, monkeypatch)
    changed = replace(products[0], title="zeppelin garden hose 50ft")  # in campaign c1
    new = Product("n1", "s1", "zeppelin hose reel cart", products[0].category, Micros(30_000_000), "zeppelin")
    store.upsert_products([changed, new])
    eng.upsert_products([changed, new])
    assert set(_served(eng, "zeppelin garden hose", 1)[:2]) == {"p00", "n1"}
    assert all(eng.catalogue.row[p] == r for p, r in rows.items())  # no product moved
    assert eng.catalogue.products[eng.catalogue.row["p00"]].title == "zeppelin garden hose 50ft"
    # ineligible: still shown organically, never as an ad
    promoted = [
        s.product_id for i in range(20) for s in _slots(eng, "zeppelin garden hose", 10 + i) if s.promoted
    ]
    assert "p00" in promoted
    eng.set_quality([ProductSignals("p00", changed.category, "s1", int(changed.price_micros), stock=0)], [])
    slots = [s for i in range(20) for s in _slots(eng, "zeppelin garden hose", 40 + i)]
    assert any(s.product_id == "p00" for s in slots) and not any(
        s.promoted and s.product_id == "p00" for s in slots
    )


def _slots(eng: Engine, query: str, i: int) -> tuple[Any, ...]:
    return eng.serve(ServeRequest(f"s{i}", f"v{i}", RequestKind.SEARCH, query, 4, T0 + i)).slots


def test_a_product_edited_through_the_service_is_served_with_its_new_title(
    tmp_path: Path, shops: list[Shop], products: list[Product], monkeypatch: pytest.MonkeyPatch
) -> None:
    with _service(tmp_path, shops, products, monkeypatch) as op:

        def serve(i: int) -> list[str]:
            return _served_over_http(op, "zeppelin garden hose", i, 4)

        assert "p02" not in serve(0)
        p = products[2]
        body = {"id": p.id, "shop_id": p.shop_id, "title": "zeppelin garden hose", "category": p.category,
                "price_micros": int(p.price_micros)}  # fmt: skip
        assert op.post("/products", json={"products": [body]}).status_code == 200
        assert serve(1)[0] == "p02"


def _shown(eng: Engine, query: str, i: int, kind: RequestKind = RequestKind.SEARCH) -> list[tuple[str, bool]]:
    r = eng.serve(ServeRequest(f"r{i}", f"u{i % 5}", kind, query, 10, T0 + i))
    return [(s.product_id, s.promoted) for s in r.slots]


def test_a_removed_product_is_never_served_again_and_an_upsert_brings_it_back(
    shops: list[Shop], products: list[Product], campaigns: list[Campaign], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = MemoryStore()
    store.upsert_shops(shops)
    store.upsert_products(products)
    for c in campaigns:
        store.create_campaign(c)
    eng = make_engine(
        store, EngineConfig(scorer="priors"), index=FaissIndex(kind="ivf", nlist=2, one_cell_below=0)
    )
    target = next(
        p for p in products if any(p.id in c.product_ids for c in campaigns)
    )  # promoted by a campaign
    query = target.title
    rows = dict(eng.catalogue.row)
    before = [pid for i in range(10) for pid, _ in _shown(eng, query, i)]
    ads = [pid for i in range(30) for pid, promo in _shown(eng, query, 10 + i) if promo]
    assert target.id in before and target.id in ads  # served organically and as an ad before
    _no_rebuild(eng, monkeypatch)
    store.delete_products([target.id])
    assert eng.remove_products([target.id, "no-such-product"]) == 1
    assert eng.remove_products([target.id]) == 0  # twice: nothing more
    after = [pid for i in range(30) for pid, _ in _shown(eng, query, 100 + i)]
    feed = [pid for i in range(30) for pid, _ in _shown(eng, "", 200 + i, RequestKind.FEED)]
    assert after and target.id not in after and target.id not in feed
    auctions = eng.auctions(
        [AuctionRequest(f"a{i}", 5, f"u{i}", tuple(p.id for p in products)) for i in range(5)]
    )
    assert not any(w.product_id == target.id for a in auctions for w in a.winners)
    assert any(a.winners for a in auctions)  # the others still win
    assert all(eng.catalogue.row[p] == r for p, r in rows.items())  # no other product moved
    assert not eng.catalogue.eligible[eng.catalogue.row[target.id]]
    back = replace(target, title=target.title + " renewed")
    store.upsert_products([back])
    eng.upsert_products([back])
    assert target.id in [pid for i in range(10) for pid, _ in _shown(eng, back.title, 300 + i)]


def test_delete_products_through_the_service(
    tmp_path: Path, shops: list[Shop], products: list[Product], monkeypatch: pytest.MonkeyPatch
) -> None:
    target = products[3]
    with _service(tmp_path, shops, products, monkeypatch) as op:

        def serve(i: int) -> list[str]:
            return _served_over_http(op, target.title, i, 10)

        assert target.id in serve(0)
        version = op.get("/catalogue/ids").json()["catalogue_version"]
        assert op.delete(f"/products/{target.id}").status_code == 204
        assert target.id not in serve(1)
        assert op.get(f"/products/{target.id}").status_code == 404
        assert op.delete(f"/products/{target.id}").status_code == 404  # gone
        assert op.get("/catalogue/ids").json()["catalogue_version"] > version
    # a restart does not bring it back
    again = seeded_engine(SqlStore.sqlite(tmp_path / "t.sqlite"), [], [])
    assert target.id not in again.catalogue.row
