"""Products added, changed and made ineligible while serving, without a rebuild: through the engine and through
the service's product endpoints."""

from __future__ import annotations

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
    eng = seeded_engine(SqlStore.sqlite(tmp_path / "t.sqlite"), shops, products)
    _no_rebuild(eng, monkeypatch)
    app = create_app(Settings(data_dir=tmp_path, load_catalogue=False), eng, operator_key=KEY)
    with TestClient(app, headers={"Authorization": f"Bearer {KEY}"}) as op:

        def serve(i: int) -> list[str]:
            body = {"request_id": f"q{i}", "user_id": "u", "query": "zeppelin garden hose", "slots": 4}
            r = op.post("/serve", json=body)
            assert r.status_code == 200, r.text
            return [s["product_id"] for s in r.json()["slots"]]

        assert "p02" not in serve(0)
        p = products[2]
        body = {"id": p.id, "shop_id": p.shop_id, "title": "zeppelin garden hose", "category": p.category,
                "price_micros": int(p.price_micros)}  # fmt: skip
        assert op.post("/products", json={"products": [body]}).status_code == 200
        assert serve(1)[0] == "p02"
