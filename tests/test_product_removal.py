"""Products removed while serving, without a rebuild: through the engine (never a candidate again, organic or
ad, on the search, feed and auction-only paths; an upsert brings one back) and through ``DELETE /products``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

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
    eng = seeded_engine(SqlStore.sqlite(tmp_path / "t.sqlite"), shops, products)
    _no_rebuild(eng, monkeypatch)
    app = create_app(Settings(data_dir=tmp_path, load_catalogue=False), eng, operator_key=KEY)
    target = products[3]
    with TestClient(app, headers={"Authorization": f"Bearer {KEY}"}) as op:

        def serve(i: int) -> list[str]:
            body = {"request_id": f"q{i}", "user_id": "u", "query": target.title, "slots": 10}
            r = op.post("/serve", json=body)
            assert r.status_code == 200, r.text
            return [s["product_id"] for s in r.json()["slots"]]

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
