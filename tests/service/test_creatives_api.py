"""Creatives over HTTP: brand kit versions, generate → check → rotate, pins, serving, banners, scopes."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient


def test_brand_kit_is_versioned_and_scoped(m1: TestClient, m2: TestClient) -> None:
    assert m1.get("/shops/s1/brand-kit").json()["version"] == 1
    r = m1.put("/shops/s1/brand-kit", json={"tone_words": ["smart"], "banned_words": ["cheap"]})
    assert r.status_code == 200 and r.json()["version"] == 1
    r = m1.put("/shops/s1/brand-kit", json={"tone_words": ["bold"], "colours": ["#000000", "#ffffff"]})
    assert r.json()["version"] == 2 and m1.get("/shops/s1/brand-kit").json()["tone_words"] == ["bold"]
    assert m1.put("/shops/s1/brand-kit", json={"colours": ["red", "blue"]}).status_code == 422
    assert m2.put("/shops/s1/brand-kit", json={}).status_code == 404


def test_generate_checks_rotates_and_serves_only_approved_creatives(op: TestClient, m1: TestClient) -> None:
    m1.put("/shops/s1/brand-kit", json={"tone_words": ["smart", "bold"], "required_terms": ["sandisk"]})
    reviews = [
        {"text": "Love the quality, well made", "rating": 5},
        {"text": "Great quality for the price", "rating": 5},
    ]
    r = m1.post(
        "/products/p00/creatives",
        json={"langs": ["en"], "reviews": reviews, "list_price_micros": 16_990_000, "banners": True},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["approved"] >= 3
    assert ["quality", 3, 0] in body["review_aspects"] or any(
        a[0] == "quality" for a in body["review_aspects"]
    )
    approved = {c["id"] for c in body["creatives"] if c["passed"]}
    assert all(c["banner_url"] for c in body["creatives"] if c["passed"])
    png = m1.get(body["creatives"][0]["banner_url"])
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
    # a campaign so that p00 wins promoted slots
    c = m1.post("/campaigns", json={"merchant_id": "m1", "name": "c", "product_ids": ["p00"], "target_roi": "1.5",
                                    "daily_budget_micros": 100_000_000})  # fmt: skip
    assert c.status_code == 201, c.text
    seen = set()
    for i in range(30):
        s = op.post(
            "/serve", json={"request_id": f"q{i}", "user_id": "u", "query": "usb flash drive", "slots": 6}
        )
        assert s.status_code == 200, s.text
        for slot in s.json()["slots"]:
            if slot["creative"]:
                assert slot["promoted"] and slot["product_id"] == "p00"
                seen.add(slot["creative"]["id"])
            else:
                assert not slot["promoted"] or slot["product_id"] != "p00"
    assert seen and seen <= approved
    stats = m1.get("/products/p00/creatives").json()
    assert sum(st["impressions"] for cr in stats["creatives"] for st in cr["stats"]) >= len(seen)


def test_a_price_not_in_the_catalogue_never_reaches_rotation(m1: TestClient) -> None:
    m1.put("/shops/s1/brand-kit", json={"required_terms": ["sandisk"]})
    r = m1.post("/products/p00/creatives", json={"langs": ["en"], "list_price_micros": 16_990_000})
    body = r.json()
    assert body["rejected"] == 0  # the offline generator quotes the catalogue's numbers
    bad = m1.post("/products/p00/creatives", json={"langs": ["en"], "list_price_micros": 1})
    assert bad.status_code == 422  # a list price below the price is refused, nothing replaced
    assert m1.get("/products/p00/creatives").json()["approved"] == body["approved"]


def test_pin_and_unpin(m1: TestClient, m2: TestClient) -> None:
    body = m1.post("/products/p00/creatives", json={"langs": ["en"]}).json()
    cid = next(c["id"] for c in body["creatives"] if c["passed"])
    r = m1.put("/products/p00/creatives/pin", json={"creative_id": cid})
    assert r.json()["pinned"] == cid and any(c["pinned"] for c in r.json()["creatives"])
    assert m1.put("/products/p00/creatives/pin", json={"creative_id": "cr-000000000000"}).status_code == 404
    assert m1.put("/products/p00/creatives/pin", json={"creative_id": None}).json()["pinned"] is None
    assert m2.get("/products/p00/creatives").status_code == 404


def test_kits_and_creatives_survive_a_restart(tmp_path: Path, m1: TestClient) -> None:
    from sitewide.service.app import create_app
    from sitewide.settings import Settings
    from sitewide.storage.sql import SqlStore
    from sitewide.wiring import make_engine

    key = "sw_0123456789ab_operator-key-for-tests"  # the conftest's operator key
    m1.put("/shops/s1/brand-kit", json={"tone_words": ["smart"], "required_terms": ["sandisk"]})
    m1.put("/shops/s1/brand-kit", json={"tone_words": ["bold"], "required_terms": ["sandisk"]})
    before = m1.post("/products/p00/creatives", json={"langs": ["en"]}).json()
    engine = make_engine(SqlStore.sqlite(tmp_path / "t.sqlite"))  # a new process over the same database
    app2 = create_app(Settings(data_dir=tmp_path, load_catalogue=False), engine, operator_key=key)
    with TestClient(app2, headers={"Authorization": f"Bearer {key}"}) as op2:
        kit = op2.get("/shops/s1/brand-kit").json()
        assert (kit["version"], kit["tone_words"]) == (2, ["bold"])
        after = op2.get("/products/p00/creatives").json()
        assert [c["id"] for c in after["creatives"]] == [c["id"] for c in before["creatives"]]
        assert after["approved"] == before["approved"]
    assert {c.id for c in engine.creatives.creatives("p00")} == {
        c["id"] for c in before["creatives"] if c["passed"]
    }
