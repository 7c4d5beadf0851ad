"""``POST /auctions``: the native auction-only call over HTTP, its limits, and its winners' events settling."""

from __future__ import annotations

from clocks import ManualClock
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sitewide.domain.time import day_bounds

DAY = "2026-01-05"
T0 = day_bounds(DAY)[0] + 3_600_000


def campaign(client: TestClient, products: list[str]) -> str:
    body = {"name": "c", "product_ids": products, "target_roi": "3.00", "daily_budget_micros": 5_000_000}
    r = client.post("/campaigns", json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_auction_returns_ranked_winners_with_signed_bid_ids(
    m1: TestClient, op: TestClient, app: FastAPI
) -> None:
    cid = campaign(m1, ["p00", "p02", "p04"])
    body = {
        "auctions": [
            {
                "auction_id": "a1",
                "slots": 2,
                "user_id": "u1",
                "product_ids": ["p00", "p01", "p02", "p04"],
                "ts_ms": T0,
            },
            {"slots": 1, "category": "mice", "ts_ms": T0},
            {"slots": 3, "query": "usb flash drive", "ts_ms": T0},
        ]
    }
    r = op.post("/auctions", json=body)
    assert r.status_code == 200, r.text
    first, mice, search = r.json()["auctions"]
    assert first["auction_id"] == "a1" and mice["auction_id"].startswith("auc_")
    assert [w["rank"] for w in first["winners"]] == [1, 2]
    assert {w["product_id"] for w in first["winners"]} <= {"p00", "p02", "p04"}
    assert all(w["campaign_id"] == cid and w["price_micros"] > 0 for w in first["winners"])
    assert [w["product_id"] for w in mice["winners"]] == ["p02"]  # the only mouse with a campaign
    codec = app.state.bid_codec
    bid = codec.decode(first["winners"][0]["resolved_bid_id"])
    assert (bid.auction_id, bid.user_id, bid.price_micros) == (
        "a1",
        "u1",
        first["winners"][0]["price_micros"],
    )


def test_limits_are_422_with_a_message(op: TestClient) -> None:
    one = {"slots": 1, "product_ids": ["p00"]}
    for body, needle in [
        ({"auctions": [one] * 6}, "auctions"),
        ({"auctions": []}, "auctions"),
        ({"auctions": [{"slots": 1}]}, "product_ids, category or query"),
        ({"auctions": [one | {"category": "mice"}]}, "not both"),
        ({"auctions": [one | {"slots": 0}]}, "slots"),
        ({"auctions": [one | {"auction_id": "a"}, one | {"auction_id": "a"}]}, "distinct"),
    ]:
        r = op.post("/auctions", json=body)
        assert r.status_code == 422, (body, r.text)
        assert needle in r.json()["detail"], r.text


def test_needs_the_operator_key(anon: TestClient, m1: TestClient) -> None:
    body = {"auctions": [{"slots": 1, "product_ids": ["p00"]}]}
    assert anon.post("/auctions", json=body).status_code == 401
    assert m1.post("/auctions", json=body).status_code == 403


def test_winner_events_settle_like_serve(m1: TestClient, op: TestClient, clock: ManualClock) -> None:
    cid = campaign(m1, ["p00", "p02"])
    r = op.post(
        "/auctions",
        json={
            "auctions": [
                {"auction_id": "a1", "slots": 1, "user_id": "u1", "product_ids": ["p00", "p02"], "ts_ms": T0}
            ]
        },
    )
    (w,) = r.json()["auctions"][0]["winners"]
    base = {
        "user_id": "u1",
        "product_id": w["product_id"],
        "request_id": "a1",
        "campaign_id": cid,
        "position": w["rank"],
        "price_micros": w["price_micros"],
    }
    evs = [
        {"id": "i1", "kind": "impression", "ts_ms": T0 + 1} | base,
        {"id": "k1", "kind": "click", "ts_ms": T0 + 2, "impression_id": "i1"} | base,
        {
            "id": "o1",
            "kind": "order",
            "ts_ms": T0 + 3,
            "user_id": "u1",
            "product_id": w["product_id"],
            "order_value_micros": 30_000_000,
            "click_id": "k1",
        },
    ]
    assert op.post("/events", json={"events": evs}).status_code == 200
    clock.after(day_bounds(DAY)[1])
    (row,) = op.post("/settle", json={"day": DAY}).json()["campaigns"]
    assert row["spend_micros"] == w["price_micros"] and row["gmv_micros"] == 30_000_000
