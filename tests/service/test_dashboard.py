"""The dashboard over HTTP (no browser): login by key, scoped pages, forms that validate and store nothing
on bad input."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient


def login(app: FastAPI, key: str) -> TestClient:
    c = TestClient(app)
    r = c.post("/ui/login", data={"api_key": key}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/"
    assert (
        "httponly" in r.headers["set-cookie"].lower() and "samesite=strict" in r.headers["set-cookie"].lower()
    )
    return c


def test_pages_need_a_login_and_a_wrong_key_is_refused(app: FastAPI) -> None:
    c = TestClient(app)
    assert c.get("/ui/", follow_redirects=False).headers["location"] == "/ui/login"
    r = c.post("/ui/login", data={"api_key": "sw_0123456789ab_nope"})
    assert r.status_code == 401 and "not valid" in r.text


def test_merchant_creates_a_campaign_and_sees_it_with_charts(
    app: FastAPI, op: TestClient, new_key: Callable[[str], str]
) -> None:
    ui = login(app, new_key("m1"))
    form = ui.get("/ui/campaigns/new").text
    assert 'value="p00"' in form and 'value="p01"' not in form  # only its own products are offered
    r = ui.post(
        "/ui/campaigns/new",
        data={
            "name": "spring usb",
            "target_roi": "2.50",
            "budget_cny": "120.00",
            "product_ids": ["p00", "p02"],
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    cid = r.headers["location"].split("?")[0].rsplit("/", 1)[1]
    listing = ui.get("/ui/").text
    assert "spring usb" in listing and "roi-chart" in listing
    page = ui.get(f"/ui/campaigns/{cid}").text
    for chart in ("chart-money", "chart-roi", "chart-traffic", "chart-lost"):
        assert chart in page
    assert "/ui/static/plotly.min.js" in page
    assert ui.get("/ui/static/plotly.min.js").status_code == 200
    c = op.get(f"/campaigns/{cid}").json()
    assert c["daily_budget_micros"] == 120_000_000 and c["target_roi"] == "2.50"
    r = ui.post(f"/ui/campaigns/{cid}/status", data={"status": "paused"}, follow_redirects=False)
    assert r.status_code == 303 and op.get(f"/campaigns/{cid}").json()["status"] == "paused"
    edit = ui.post(
        f"/ui/campaigns/{cid}/edit",
        data={"name": "renamed", "target_roi": "3", "budget_cny": "100", "product_ids": ["p00"]},
        follow_redirects=False,
    )
    assert edit.status_code == 303 and op.get(f"/campaigns/{cid}").json()["product_ids"] == ["p00"]


def test_bad_campaign_form_shows_the_message_and_stores_nothing(
    app: FastAPI, op: TestClient, new_key: Callable[[str], str]
) -> None:
    ui = login(app, new_key("m1"))
    for data, needle in (
        ({"name": "x", "target_roi": "abc", "budget_cny": "10", "product_ids": ["p00"]}, "Target ROI must be"),
        ({"name": "x", "target_roi": "500", "budget_cny": "10", "product_ids": ["p00"]}, "between 0.10 and 100"),
        ({"name": "x", "target_roi": "2", "budget_cny": "10", "product_ids": ["p01"]}, "another merchant: p01"),
        ({"name": "x", "target_roi": "2", "budget_cny": "10"}, "Choose at least one product."),
        ({"name": " ", "target_roi": "2", "budget_cny": "10", "product_ids": ["p00"]}, "Give the campaign a name"),
    ):
        r = ui.post("/ui/campaigns/new", data=data)
        assert r.status_code == 422 and needle in r.text
        assert "validation" not in r.text and "should be" not in r.text  # no pydantic wording
    assert op.get("/campaigns").json()["total"] == 0


def test_other_merchants_objects_are_not_found_in_the_dashboard(
    app: FastAPI, op: TestClient, new_key: Callable[[str], str]
) -> None:
    cid = op.post(
        "/campaigns",
        json={
            "merchant_id": "m1",
            "name": "a",
            "product_ids": ["p00"],
            "target_roi": "2",
            "daily_budget_micros": 10**6,
        },
    ).json()["id"]
    ui2 = login(app, new_key("m2"))
    assert ui2.get(f"/ui/campaigns/{cid}").status_code == 404
    assert ui2.get("/ui/products/p00").status_code == 404
    assert "p00" not in ui2.get("/ui/products").text
    assert ui2.post(f"/ui/campaigns/{cid}/status", data={"status": "paused"}).status_code == 404
    assert op.get(f"/campaigns/{cid}").json()["status"] == "active"


def test_cookie_authenticates_reads_only(app: FastAPI, op: TestClient, new_key: Callable[[str], str]) -> None:
    ui = login(app, new_key("m1"))
    assert ui.get("/products").status_code == 200  # the dashboard's forecast fetch uses this
    body = {"name": "x", "product_ids": ["p00"], "target_roi": "2", "daily_budget_micros": 10**6}
    assert ui.post("/campaigns", json=body).status_code == 401
    r = ui.post(
        "/ui/campaigns/new",
        data={"name": "x", "target_roi": "2", "budget_cny": "1", "product_ids": ["p00"]},
        headers={"Origin": "http://evil.example"},
        follow_redirects=False,
    )
    assert r.headers["location"] == "/ui/login"
    assert op.get("/campaigns").json()["total"] == 0


def test_eligibility_shop_score_and_appeals_pages(
    app: FastAPI, op: TestClient, new_key: Callable[[str], str]
) -> None:
    op.put("/products/signals", json={"products": [{"product_id": "p00", "stock": 0}]})
    op.put(
        "/shops/metrics",
        json={"shops": [{"shop_id": "s1", "on_time_share": 0.9, "avg_rating": 4.1, "review_count": 50}]},
    )
    ui = login(app, new_key("m1"))
    assert "not eligible" in ui.get("/ui/products?only=ineligible").text
    page = ui.get("/ui/products/p00").text
    assert "stock" in page and "not eligible" in page
    r = ui.post(
        "/ui/appeals",
        data={"kind": "product", "object_id": "p00", "message": "restocked today"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    shops = ui.get("/ui/shops").text
    assert "Score" in shops and "s2" not in shops
    opui = login(app, new_key("operator"))
    (a,) = op.get("/appeals").json()["items"]
    assert "restocked today" in opui.get("/ui/appeals").text
    r = opui.post(
        f"/ui/appeals/{a['id']}/resolve",
        data={"decision": "accepted", "resolution": "verified"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and op.get(f"/appeals/{a['id']}").json()["status"] == "accepted"
    assert "verified" in ui.get("/ui/products/p00").text
