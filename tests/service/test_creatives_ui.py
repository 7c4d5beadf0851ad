"""The creatives console page: generate with pasted reviews, verdicts and banners, pin, scoping."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient


def login(app: FastAPI, key: str) -> TestClient:
    c = TestClient(app)
    r = c.post("/ui/login", data={"api_key": key}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return c


def test_generate_pin_and_see_results(app: FastAPI, new_key: Callable[[str], str]) -> None:
    ui = login(app, new_key("m1"))
    page = ui.get("/ui/products/p00")
    assert 'href="/ui/products/p00/creatives"' in page.text
    assert "No creatives yet" in ui.get("/ui/products/p00/creatives").text
    r = ui.post(
        "/ui/products/p00/creatives", data={"langs": "en", "reviews": "Great quality\nLove the quality"}
    )
    assert r.status_code == 200 and 'id="creatives"' in r.text
    assert "approved" in r.text and "<img" in r.text
    cid = r.text.split('data-creative="')[1].split('"')[0]
    r = ui.post("/ui/products/p00/creatives/pin", data={"creative_id": cid})
    assert f"pinned <code>{cid}</code>" in r.text
    ui2 = login(app, new_key("m2"))
    assert ui2.get("/ui/products/p00/creatives").status_code == 404
    assert ui2.post("/ui/products/p00/creatives", data={"langs": "en"}).status_code == 404
