"""Every endpoint of the merchant API: behaviour, authorization (a merchant never reaches another's objects)
and bad input (422 with a message, nothing stored)."""

from __future__ import annotations

import pytest
from clocks import ManualClock
from fastapi.testclient import TestClient

from sitewide.domain.time import day_bounds

DAY = "2026-01-05"
T0 = day_bounds(DAY)[0] + 3_600_000


def campaign(client: TestClient, **over: object) -> dict[str, object]:
    body = {
        "name": "c",
        "product_ids": ["p00", "p02"],
        "target_roi": "3.00",
        "daily_budget_micros": 5_000_000,
    }
    r = client.post("/campaigns", json=body | over)
    assert r.status_code == 201, r.text
    return dict(r.json())


def detail(r: object) -> str:
    body = r.json()  # type: ignore[attr-defined]
    assert set(body) == {"detail"} and isinstance(body["detail"], str)
    return str(body["detail"])


# authentication and roles ---------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/campaigns", "/products", "/shops", "/me", "/appeals", "/reports"])
def test_calls_without_a_valid_key_are_401(anon: TestClient, path: str) -> None:
    r = anon.get(path)
    assert r.status_code == 401 and "API key" in detail(r)
    r = anon.get(path, headers={"X-API-Key": "sw_0123456789ab_wrong"})
    assert r.status_code == 401 and "invalid" in detail(r)


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("POST", "/serve", {"request_id": "r", "user_id": "u"}),
        ("POST", "/serve/batch", {"requests": [{"request_id": "r", "user_id": "u"}]}),
        ("POST", "/events", {"events": [{"id": "e", "kind": "click", "ts_ms": 1, "product_id": "p00"}]}),
        ("POST", "/settle", {"day": DAY}),
        ("POST", "/catalogue", {"shops": [], "products": []}),
        ("GET", "/catalogue/ids", None),
        ("POST", "/merchants", {"id": "m9", "name": "x"}),
        ("GET", "/merchants", None),
        ("POST", "/merchants/m1/keys", None),
        ("DELETE", "/merchants/m2/keys", None),
        ("GET", "/ledger/balances", None),
        ("PUT", "/products/signals", {"products": [{"product_id": "p00", "stock": 0}]}),
        ("PUT", "/shops/metrics", {"shops": [{"shop_id": "s1", "on_time_share": 0.1}]}),
        ("POST", "/appeals/a-x/resolve", {"decision": "accepted", "resolution": "ok"}),
    ],
)
def test_platform_and_operator_calls_are_403_for_merchants(
    m1: TestClient, op: TestClient, method: str, path: str, body: object
) -> None:
    r = m1.request(method, path, json=body)
    assert r.status_code == 403 and "operator" in detail(r)
    assert op.get("/ledger/balances").json() == {}  # nothing happened


def test_x_api_key_header_works_and_me_says_who(app: object, m1: TestClient, op: TestClient) -> None:
    key = op.post("/merchants/m2/keys").json()["api_key"]
    r = TestClient(app).get("/me", headers={"X-API-Key": key})  # type: ignore[arg-type]
    assert r.json() == {"role": "merchant", "merchant_id": "m2"}
    assert op.get("/me").json() == {"role": "operator", "merchant_id": None}


# merchants ------------------------------------------------------------------------------------------
def test_operator_creates_a_merchant_whose_key_works_once_shown(app: object, op: TestClient) -> None:
    r = op.post("/merchants", json={"id": "m3", "name": "Three"})
    assert r.status_code == 201
    key = r.json()["api_key"]
    assert key.startswith("sw_")
    m3 = TestClient(app, headers={"Authorization": f"Bearer {key}"})  # type: ignore[arg-type]
    assert m3.get("/me").json()["merchant_id"] == "m3"
    assert m3.get("/merchants/m3").json()["name"] == "Three"
    assert m3.get("/merchants/m1").status_code == 404
    assert op.post("/merchants", json={"id": "m3", "name": "again"}).status_code == 409
    ids = [m["id"] for m in op.get("/merchants").json()["items"]]
    assert ids == ["m1", "m2", "m3"]
    assert op.get("/merchants", params={"offset": 1, "limit": 1}).json()["items"][0]["id"] == "m2"
    assert op.delete("/merchants/m3/keys").json() == {"revoked": 1}
    assert m3.get("/me").status_code == 401


@pytest.mark.parametrize("body", [{"id": "bad id!", "name": "x"}, {"id": "m4", "name": ""}, {"id": "m4"}])
def test_bad_merchant_is_422_and_not_stored(op: TestClient, body: dict[str, object]) -> None:
    r = op.post("/merchants", json=body)
    assert r.status_code == 422 and detail(r)
    assert [m["id"] for m in op.get("/merchants").json()["items"]] == ["m1", "m2"]


def test_keys_are_stored_hashed(app: object, op: TestClient) -> None:
    key = op.post("/merchants/m1/keys").json()["api_key"]
    accounts = app.state.accounts  # type: ignore[attr-defined]
    from sqlalchemy import select

    with accounts.engine.connect() as conn:
        stored = [tuple(r) for r in conn.execute(select(accounts.t.keys)).all()]
    assert stored and not any(key in str(v) for row in stored for v in row)


# shops ----------------------------------------------------------------------------------------------
def test_shops_are_scoped_and_created_for_oneself(m1: TestClient, m2: TestClient, op: TestClient) -> None:
    assert [s["id"] for s in m1.get("/shops").json()["items"]] == ["s1"]
    assert m1.get("/shops/s2").status_code == 404
    assert m1.get("/shops/s2/score").status_code == 404
    r = m1.post("/shops", json={"id": "s3", "name": "Third", "merchant_id": "m2"})
    assert r.status_code == 422 and "itself" in detail(r)
    assert m1.post("/shops", json={"id": "s3", "name": "Third"}).json()["merchant_id"] == "m1"
    assert m1.post("/shops", json={"id": "s3", "name": "Again"}).status_code == 409
    assert m2.get("/shops/s3").status_code == 404
    assert op.post("/shops", json={"id": "s4", "name": "x"}).status_code == 422
    assert op.get("/shops", params={"merchant_id": "m2"}).json()["total"] == 1


def test_shop_score_from_metrics_with_factor_breakdown(m1: TestClient, op: TestClient) -> None:
    assert m1.get("/shops/s1/score").json()["scored"] is False
    metrics = {
        "shop_id": "s1",
        "on_time_share": 0.97,
        "delivery_days": 3,
        "avg_rating": 4.6,
        "review_count": 300,
    }
    assert op.put("/shops/metrics", json={"shops": [metrics]}).json() == {"stored": 1}
    sc = m1.get("/shops/s1/score").json()
    assert sc["scored"] and 0 < sc["score"] <= 100
    assert abs(sum(f["contribution"] for f in sc["factors"]) - sc["score"]) < 1e-6
    assert {f["name"] for f in sc["factors"]} >= {"rating", "on_time"} or sc["factors"]


@pytest.mark.parametrize(
    "shop", [{"shop_id": "s1", "on_time_share": 2}, {"shop_id": "nope"}, {"shop_id": "s1", "oops": 1}]
)
def test_bad_shop_metrics_are_422_and_not_stored(
    m1: TestClient, op: TestClient, shop: dict[str, object]
) -> None:
    r = op.put("/shops/metrics", json={"shops": [shop]})
    assert r.status_code == 422 and detail(r)
    assert m1.get("/shops/s1/score").json()["scored"] is False


# products -------------------------------------------------------------------------------------------
def test_products_are_scoped_filtered_and_paged(m1: TestClient) -> None:
    page = m1.get("/products").json()
    assert page["total"] == 6 and all(p["merchant_id"] == "m1" for p in page["items"])
    assert m1.get("/products", params={"q": "usb"}).json()["items"][0]["id"] == "p00"
    assert m1.get("/products", params={"shop_id": "s2"}).json()["total"] == 0
    assert m1.get("/products", params={"category": "mice"}).json()["total"] == 1
    two = m1.get("/products", params={"offset": 2, "limit": 2}).json()
    assert [p["id"] for p in two["items"]] == ["p04", "p06"] and two["total"] == 6
    assert m1.get("/products/p02").json()["shop_id"] == "s1"
    assert m1.get("/products/p01").status_code == 404
    assert m1.get("/products", params={"limit": 0}).status_code == 422


CSV = "id,shop_id,title,category,price,brand\nn1,s1,anker usb c charger 20w,chargers,15.99,anker\n"


def test_csv_import_adds_products_a_campaign_can_use(m1: TestClient, m2: TestClient) -> None:
    r = m1.post("/products/import", content=CSV, headers={"Content-Type": "text/csv"})
    assert r.status_code == 200, r.text
    assert r.json()["products"] == 1
    p = m1.get("/products/n1").json()
    assert p["price_micros"] == 15_990_000 and p["brand"] == "anker"
    assert m2.get("/products/n1").status_code == 404
    campaign(m1, product_ids=["n1"])


@pytest.mark.parametrize(
    "text, needle",
    [
        (CSV + "n2,s1,ok,chargers,abc,x\n", "line 3: price"),
        (CSV + "n2,s1,,chargers,1.00,x\n", "line 3: title"),
        (CSV + "n2,s1,t,c,-1,x\n", "line 3: price_micros"),
        ("id,title\nn1,x\n", "header"),
        (CSV.replace("n1,s1", "n1,s2"), "unknown shop"),  # m2's shop
        ("id,shop_id,title,category,price\n", "no product rows"),
        (CSV + CSV.splitlines()[1] + "\n", "duplicate"),
        (CSV + "n2,s1,t,c,Infinity,x\n", "line 3: price"),
        (CSV + 'n2,s1,"' + "t" * 140_000 + '",c,1.00,x\n', "malformed CSV"),  # over csv's field limit
    ],
)
def test_bad_csv_is_422_with_the_line_and_stores_nothing(m1: TestClient, text: str, needle: str) -> None:
    r = m1.post("/products/import", content=text, headers={"Content-Type": "text/csv"})
    assert r.status_code == 422 and needle in detail(r)
    assert m1.get("/products/n1").status_code == 404
    assert m1.get("/products").json()["total"] == 6


def test_json_upsert_cannot_take_over_another_merchants_product(m1: TestClient, m2: TestClient) -> None:
    body = {"products": [{"id": "p01", "shop_id": "s1", "title": "t", "category": "c", "price_micros": 1}]}
    assert m1.post("/products", json=body).status_code == 409
    assert m2.get("/products/p01").json()["shop_id"] == "s2"
    ok = {
        "products": [{"id": "p00", "shop_id": "s1", "title": "renamed", "category": "c", "price_micros": 5}]
    }
    assert m1.post("/products", json=ok).status_code == 200
    assert m1.get("/products/p00").json()["title"] == "renamed"


def test_eligibility_has_reasons_and_follows_signals(m1: TestClient, m2: TestClient, op: TestClient) -> None:
    e = m1.get("/products/p00/eligibility").json()
    assert e["eligible"] is True and e["failed"] == [] and len(e["reasons"]) >= 5
    assert m2.get("/products/p00/eligibility").status_code == 404
    r = op.put("/products/signals", json={"products": [{"product_id": "p00", "stock": 0}]})
    assert r.json() == {"stored": 1}
    e = m1.get("/products/p00/eligibility").json()
    assert e["eligible"] is False and e["failed"]
    stock = next(x for x in e["reasons"] if x["rule"] == "stock")
    assert not stock["passed"] and "0" in stock["message"]
    assert m1.get("/products", params={"eligible": False}).json()["items"][0]["id"] == "p00"


@pytest.mark.parametrize(
    "sig",
    [{"product_id": "p00", "rating": 7}, {"product_id": "zz", "stock": 0}, {"product_id": "p00", "x": 1}],
)
def test_bad_signals_are_422_and_change_nothing(
    m1: TestClient, op: TestClient, sig: dict[str, object]
) -> None:
    r = op.put("/products/signals", json={"products": [{"product_id": "p02", "stock": 0}, sig]})
    assert r.status_code == 422 and detail(r)
    assert m1.get("/products/p02/eligibility").json()["eligible"] is True


def test_signals_survive_a_restart(app: object, op: TestClient) -> None:
    from sitewide.service.app import create_app
    from sitewide.wiring import make_engine

    op.put("/products/signals", json={"products": [{"product_id": "p00", "stock": 0}]})
    old = app.state.engine  # type: ignore[attr-defined]
    app2 = create_app(app.state.settings, make_engine(old.store), announce=None)  # type: ignore[attr-defined]
    assert app2.state.engine.eligibility("p00").eligible is False


# appeals --------------------------------------------------------------------------------------------
def test_appeal_is_recorded_and_resolved_once_by_the_operator(
    m1: TestClient, m2: TestClient, op: TestClient
) -> None:
    r = m1.post("/appeals", json={"kind": "product", "object_id": "p00", "message": "stock is back"})
    assert r.status_code == 201
    a = r.json()
    assert a["status"] == "open" and a["merchant_id"] == "m1"
    assert m2.get(f"/appeals/{a['id']}").status_code == 404
    assert m2.get("/appeals").json()["total"] == 0
    assert (
        m2.post("/appeals", json={"kind": "product", "object_id": "p00", "message": "x"}).status_code == 404
    )
    assert m2.post("/appeals", json={"kind": "shop", "object_id": "s1", "message": "x"}).status_code == 404
    res = op.post(f"/appeals/{a['id']}/resolve", json={"decision": "accepted", "resolution": "restocked"})
    assert res.json()["status"] == "accepted" and res.json()["resolved_ms"]
    again = op.post(f"/appeals/{a['id']}/resolve", json={"decision": "rejected", "resolution": "no"})
    assert again.status_code == 409
    assert m1.get(f"/appeals/{a['id']}").json()["resolution"] == "restocked"
    assert m1.get("/appeals", params={"status": "open"}).json()["total"] == 0
    assert (
        op.post("/appeals/a-none/resolve", json={"decision": "accepted", "resolution": "x"}).status_code
        == 404
    )


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "campaign", "object_id": "p00", "message": "x"},
        {"kind": "product", "object_id": "p00", "message": ""},
    ],
)
def test_bad_appeal_is_422_and_not_stored(m1: TestClient, body: dict[str, object]) -> None:
    assert m1.post("/appeals", json=body).status_code == 422
    assert m1.get("/appeals").json()["total"] == 0


# campaigns ------------------------------------------------------------------------------------------
def test_campaign_update_pause_resume_and_scope(m1: TestClient, m2: TestClient, op: TestClient) -> None:
    c = campaign(m1)
    cid = c["id"]
    r = m1.patch(f"/campaigns/{cid}", json={"target_roi": "2.50", "daily_budget_micros": 7_000_000})
    assert r.json()["target_roi"] == "2.50" and r.json()["daily_budget_micros"] == 7_000_000
    bad = m1.patch(f"/campaigns/{cid}", json={"target_roi": "0", "name": "renamed"})
    assert bad.status_code == 422
    assert m1.get(f"/campaigns/{cid}").json()["name"] == "c"  # nothing of a bad patch is applied
    assert m1.patch(f"/campaigns/{cid}", json={"product_ids": ["p01"]}).status_code == 422
    assert m2.patch(f"/campaigns/{cid}", json={"name": "mine"}).status_code == 404
    assert m2.post(f"/campaigns/{cid}/pause").status_code == 404
    assert m2.get(f"/campaigns/{cid}").status_code == 404
    assert m2.get("/campaigns").json()["total"] == 0
    assert m1.post(f"/campaigns/{cid}/pause").json()["status"] == "paused"
    served = op.post(
        "/serve", json={"request_id": "r1", "user_id": "u", "query": "usb flash drive", "ts_ms": T0}
    )
    assert not any(s["promoted"] for s in served.json()["slots"])
    assert m1.get("/campaigns", params={"status": "paused"}).json()["total"] == 1
    assert m1.post(f"/campaigns/{cid}/resume").json()["status"] == "active"
    served = op.post(
        "/serve", json={"request_id": "r2", "user_id": "u", "query": "usb flash drive", "ts_ms": T0}
    )
    assert any(s["promoted"] for s in served.json()["slots"])


def test_operator_creates_campaigns_on_behalf_of_a_merchant(op: TestClient, m1: TestClient) -> None:
    body = {"name": "x", "product_ids": ["p00"], "target_roi": "2", "daily_budget_micros": 1_000_000}
    assert op.post("/campaigns", json=body).status_code == 422
    assert op.post("/campaigns", json=body | {"merchant_id": "m9"}).status_code == 422
    assert op.post("/campaigns", json=body | {"merchant_id": "m2"}).status_code == 422  # p00 is m1's
    c = op.post("/campaigns", json=body | {"merchant_id": "m1"}).json()
    assert m1.get(f"/campaigns/{c['id']}").json()["merchant_id"] == "m1"
    assert op.get("/campaigns", params={"merchant_id": "m2"}).json()["total"] == 0


def test_catalogue_ids_and_serve_batch_for_the_platform(op: TestClient, m1: TestClient) -> None:
    c = campaign(m1)
    ids = op.get("/catalogue/ids").json()
    assert ids["campaign_ids"] == [c["id"]] and len(ids["product_ids"]) == 12
    reqs = [
        {"request_id": f"r{i}", "user_id": f"u{i}", "query": "usb drive", "slots": 4, "ts_ms": T0}
        for i in range(30)
    ]
    out = op.post("/serve/batch", json={"requests": reqs}).json()
    assert len(out["product_idx"]) == 30 and len(out["product_idx"][0]) == 4
    assert any(any(row) for row in out["promoted"])
    assert op.post("/serve/batch", json={"requests": []}).status_code == 422


# reports, statements, auction losses, forecast ------------------------------------------------------
def _settled_day(op: TestClient, cid: str, clock: ManualClock) -> None:
    evs = (
        [
            {
                "id": f"i{i}",
                "kind": "impression",
                "ts_ms": T0 + i,
                "user_id": f"u{i}",
                "product_id": "p00",
                "campaign_id": cid,
            }
            for i in range(10)
        ]
        + [
            {
                "id": f"k{i}",
                "kind": "click",
                "ts_ms": T0 + 20 + i,
                "user_id": f"u{i}",
                "product_id": "p00",
                "campaign_id": cid,
                "price_micros": 200_000,
            }
            for i in range(5)
        ]
        + [
            {
                "id": "o1",
                "kind": "order",
                "ts_ms": T0 + 100,
                "user_id": "u1",
                "product_id": "p00",
                "order_value_micros": 1_500_000,
                "click_id": "k1",
            }
        ]
    )
    assert op.post("/events", json={"events": evs}).status_code == 200
    clock.after(day_bounds(DAY)[1])
    assert op.post("/settle", json={"day": DAY}).status_code == 200


def test_reports_by_day_campaign_and_product(
    m1: TestClient, m2: TestClient, op: TestClient, clock: ManualClock
) -> None:
    cid = str(campaign(m1)["id"])
    _settled_day(op, cid, clock)
    by_day = m1.get("/reports", params={"group_by": "day"}).json()
    (row,) = by_day["rows"]
    assert row["key"] == DAY and row["clicks"] == 5 and row["orders"] == 1
    assert row["spend_micros"] == 1_000_000 and row["gmv_micros"] == 1_500_000
    assert row["roi"] == 1.5 and abs(row["acos"] - 1 / 1.5) < 1e-12 and row["cpc_micros"] == 200_000
    assert row["cvr"] == 0.2 and row["compensation_micros"] == 500_000
    by_c = m1.get("/reports", params={"group_by": "campaign"}).json()
    assert by_c["rows"][0]["key"] == cid and by_c["total"]["gmv_micros"] == 1_500_000
    by_p = m1.get("/reports", params={"group_by": "product", "campaign_id": cid}).json()
    (p,) = by_p["rows"]
    assert p["key"] == "p00" and p["impressions"] == 10 and p["ctr"] == 0.5 and p["gmv_micros"] == 1_500_000
    assert m1.get("/reports", params={"start_day": "2026-01-06"}).json()["rows"] == []
    assert m2.get("/reports", params={"campaign_id": cid}).status_code == 404
    assert m2.get("/reports/campaigns/" + cid).status_code == 404
    assert m2.get("/reports").json()["total"]["spend_micros"] == 0
    assert m1.get("/reports", params={"group_by": "week"}).status_code == 422
    assert m1.get("/reports", params={"start_day": "2026-13-45"}).status_code == 422
    assert m1.get("/reports", params={"start_day": "2026-02-02", "end_day": "2026-02-01"}).status_code == 422


def test_statements_show_charges_and_compensation_to_their_merchant_only(
    m1: TestClient, m2: TestClient, op: TestClient, clock: ManualClock
) -> None:
    _settled_day(op, str(campaign(m1)["id"]), clock)
    (s,) = m1.get("/statements").json()["items"]
    assert s["period"] == DAY and s["charged_micros"] == 1_000_000 and s["compensation_micros"] == 500_000
    assert s["net_micros"] == 500_000 and all(e["account"].startswith("merchant:m1:") for e in s["entries"])
    assert m2.get("/statements").json()["items"] == []
    assert m2.get("/statements", params={"merchant_id": "m1"}).json()["items"] == []  # ignored for merchants
    assert op.get("/statements").status_code == 422
    assert op.get("/statements", params={"merchant_id": "m1"}).json()["total"] == 1


def test_auction_losses_say_why_a_product_lost(m1: TestClient, m2: TestClient, op: TestClient) -> None:
    cid = campaign(m1, product_ids=["p00", "p02", "p04", "p06"], daily_budget_micros=10_000, target_roi="50")[
        "id"
    ]
    reqs = [
        {"request_id": f"r{i}", "user_id": f"u{i}", "query": "usb mouse ink", "slots": 2, "ts_ms": T0}
        for i in range(50)
    ]
    op.post("/serve/batch", json={"requests": reqs})
    out = m1.get(f"/campaigns/{cid}/auction-losses").json()
    assert out["by_reason"] and sum(r["count"] for r in out["by_reason"]) == sum(
        p["count"] for p in out["by_product"]
    )
    assert {r["reason"] for r in out["by_reason"]} <= {
        "outbid",
        "below_reserve",
        "ad_load_cap",
        "ineligible",
        "budget_exhausted",
        "duplicate",
    }
    assert out["samples"] and all(s["request_id"] in {"r0", "r25"} for s in out["samples"])
    assert m2.get(f"/campaigns/{cid}/auction-losses").status_code == 404


def test_forecast_is_concave_and_tighter_at_higher_target(
    m1: TestClient, op: TestClient, clock: ManualClock
) -> None:
    cid = str(campaign(m1)["id"])
    f = m1.get("/forecast", params={"target_roi": "2", "daily_budget_micros": 5_000_000}).json()
    assert f["basis"] == "prior" and 0 < f["b"] < 1
    gmv = [p["gmv_micros"] for p in f["curve"]]
    steps = [b - a for a, b in zip(gmv, gmv[1:], strict=False)]
    assert all(s >= 0 for s in steps) and steps[0] >= steps[-1]  # increasing, diminishing returns
    assert f["expected_spend_micros"] <= 5_000_000
    _settled_day(op, cid, clock)
    lo = m1.get(
        "/forecast", params={"target_roi": "1.2", "daily_budget_micros": 10**9, "campaign_id": cid}
    ).json()
    hi = m1.get(
        "/forecast", params={"target_roi": "4", "daily_budget_micros": 10**9, "campaign_id": cid}
    ).json()
    assert lo["basis"] == "campaign" and lo["max_spend_micros"] > hi["max_spend_micros"]
    assert m1.get("/forecast", params={"target_roi": "0", "daily_budget_micros": 1}).status_code == 422
