"""The retail-media compatible routes: documented request shapes replayed, the error array on every failure,
and a round trip compat auction → compat events → settle that books the same ledger as the native path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clocks import ManualClock
from fastapi import FastAPI
from fastapi.testclient import TestClient

from conftest import OPERATOR_KEY
from sitewide.domain.guarantee import DAILY_CONTRACT
from sitewide.domain.settlement import SettlementPolicy
from sitewide.domain.time import day_bounds
from sitewide.domain.types import Product, Shop
from sitewide.engine import EngineConfig
from sitewide.service.app import create_app
from sitewide.settings import Settings
from sitewide.storage.sql import SqlStore
from sitewide.wiring import seeded_engine

DAY = "2026-01-05"
T0 = day_bounds(DAY)[0] + 3_600_000
ISO = "2026-01-05T01:00:{:02d}Z"  # T0 + s seconds in the shape's RFC 3339 form


def campaign(client: TestClient, products: list[str], roi: str = "3.00") -> str:
    body = {"name": "c", "product_ids": products, "target_roi": roi, "daily_budget_micros": 50_000_000}
    r = client.post("/campaigns", json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def assert_error(r: Any, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert isinstance(body, list) and body, body
    assert body[0]["errCode"] == code, body
    assert set(body[0]) == {"errCode", "docUrl", "message"} and body[0]["docUrl"]


# replay of the documented examples (request shapes written from the public docs' field lists) -----------------
def test_documented_auction_request_shapes_are_answered_in_the_documented_shape(
    m1: TestClient, op: TestClient
) -> None:
    cid = campaign(m1, ["p00", "p02", "p04"])
    body = {
        "auctions": [
            {
                "type": "listings",
                "slots": 2,
                "products": {"ids": ["p00", "p01", "p02", "p04"]},
                "geoTargeting": {"location": "Shanghai"},
                "opaqueUserId": "u-1",
            },
            {"type": "listings", "slots": 1, "category": {"id": "mice"}},
            {"type": "listings", "slots": 3, "searchQuery": "usb flash drive"},
            {
                "type": "listings",
                "slots": 2,
                "products": {"ids": ["p01", "p03"], "qualityScores": [0.5, 0.9]},
            },
        ]
    }
    r = op.post("/compat/v2/auctions", json=body)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert len(results) == 4 and all(x["resultType"] == "listings" and x["error"] is False for x in results)
    first = results[0]["winners"]
    assert [w["rank"] for w in first] == [1, 2]
    for w in first:
        assert set(w) == {"rank", "type", "id", "resolvedBidId", "campaignId"}
        assert w["type"] == "product" and w["id"] in {"p00", "p02", "p04"} and w["campaignId"] == cid
    assert [w["id"] for w in results[1]["winners"]] == ["p02"]
    assert results[3]["winners"] == []  # no campaign bids for p01/p03: an empty list, not an error


def test_documented_events_request_is_204_and_idempotent(m1: TestClient, op: TestClient) -> None:
    campaign(m1, ["p00", "p02"])
    a = op.post(
        "/compat/v2/auctions",
        json={
            "auctions": [
                {"type": "listings", "slots": 1, "products": {"ids": ["p00", "p02"]}, "opaqueUserId": "u-1"}
            ]
        },
    )
    (w,) = a.json()["results"][0]["winners"]
    body = {
        "impressions": [
            {
                "id": "imp-1",
                "occurredAt": ISO.format(1),
                "opaqueUserId": "u-1",
                "placement": {"path": "/search", "position": 1},
                "resolvedBidId": w["resolvedBidId"],
            }
        ],
        "clicks": [
            {
                "id": "clk-1",
                "occurredAt": ISO.format(2),
                "opaqueUserId": "u-1",
                "resolvedBidId": w["resolvedBidId"],
            }
        ],
        "purchases": [
            {
                "id": "pur-1",
                "occurredAt": ISO.format(3),
                "opaqueUserId": "u-1",
                "items": [
                    {"productId": w["id"], "unitPrice": 12.95, "quantity": 2, "vendorId": "v1"},
                    {"productId": "p05", "unitPrice": 1.49},
                ],
            }
        ],
    }
    r = op.post("/compat/v2/events", json=body)
    assert r.status_code == 204 and r.content == b"", r.text
    assert op.post("/compat/v2/events", json=body).status_code == 204  # a retry stores nothing twice


# errors: the documented array body with the documented statuses ---------------------------------------------
@pytest.mark.parametrize(
    "body, status, code",
    [
        ({"auctions": []}, 422, "missing_auctions"),
        ({}, 422, "missing_auctions"),
        (
            {"auctions": [{"type": "listings", "slots": 1, "category": {"id": "x"}}] * 6},
            422,
            "too_many_auctions",
        ),
        ({"auctions": [{"type": "listings", "slots": 0, "category": {"id": "x"}}]}, 422, "too_few_slots"),
        ({"auctions": [{"type": "listings", "category": {"id": "x"}}]}, 422, "missing_slots"),
        ({"auctions": [{"type": "listings", "slots": 51, "category": {"id": "x"}}]}, 422, "bad_request"),
        ({"auctions": [{"type": "listings", "slots": 1}]}, 422, "missing_context"),
        ({"auctions": [{"type": "banners", "slots": 1, "category": {"id": "x"}}]}, 422, "bad_request"),
    ],
)
def test_auction_errors_have_the_documented_body(
    op: TestClient, body: dict[str, Any], status: int, code: str
) -> None:
    assert_error(op.post("/compat/v2/auctions", json=body), status, code)


def test_unparsable_empty_unauthorised_and_unknown_bid_ids(
    op: TestClient, anon: TestClient, m1: TestClient
) -> None:
    hdr = {"Content-Type": "application/json"}
    assert_error(op.post("/compat/v2/auctions", content=b"{not json", headers=hdr), 400, "invalid_json")
    assert_error(op.post("/compat/v2/auctions", content=b"", headers=hdr), 400, "empty_request")
    assert_error(op.post("/compat/v2/events", json={}), 400, "empty_request")
    one = {"auctions": [{"type": "listings", "slots": 1, "category": {"id": "mice"}}]}
    assert_error(anon.post("/compat/v2/auctions", json=one), 403, "invalid_api_key")
    assert_error(m1.post("/compat/v2/auctions", json=one), 403, "invalid_api_key")
    forged = {
        "clicks": [
            {"id": "c1", "occurredAt": ISO.format(1), "opaqueUserId": "u", "resolvedBidId": "eyJ4Ijo.x"}
        ]
    }
    assert_error(op.post("/compat/v2/events", json=forged), 400, "invalid_auction_id")
    naive = {
        "clicks": [
            {"id": "c1", "occurredAt": "2026-01-05T01:00:00", "opaqueUserId": "u", "entity": {"id": "p00"}}
        ]
    }
    assert_error(op.post("/compat/v2/events", json=naive), 422, "bad_request")  # no UTC offset
    assert_error(op.get("/compat/v2/auctions"), 405, "method_not_allowed")
    assert_error(op.post("/compat/v2/nope", json={}), 404, "not_found")


def test_a_reused_event_id_with_another_body_is_refused_and_nothing_is_stored(
    m1: TestClient, op: TestClient
) -> None:
    imp = {"id": "i1", "occurredAt": ISO.format(1), "opaqueUserId": "u", "entity": {"id": "p00"}}
    assert op.post("/compat/v2/events", json={"impressions": [imp]}).status_code == 204
    changed = {"impressions": [imp | {"entity": {"id": "p02"}}], "clicks": [imp | {"id": "fresh"}]}
    assert_error(op.post("/compat/v2/events", json=changed), 400, "invalid_operation")
    unknown = {"impressions": [imp | {"id": "i2", "entity": {"id": "no-such-product"}}]}
    assert_error(op.post("/compat/v2/events", json=unknown), 422, "bad_request")


# round trip: the same day through the compat and the native routes books the same ledger ------------------------
@pytest.fixture()
def twin(
    tmp_path: Path, shops: list[Shop], products: list[Product]
) -> Iterator[tuple[TestClient, ManualClock]]:
    clock = ManualClock()
    config = EngineConfig(settlement=SettlementPolicy(default_contract=DAILY_CONTRACT))
    store = SqlStore.sqlite(tmp_path / "twin.sqlite")
    engine = seeded_engine(store, shops, products, config=config, clock=clock)
    app: FastAPI = create_app(
        Settings(data_dir=tmp_path / "twin", load_catalogue=False),
        engine,
        operator_key=OPERATOR_KEY,
        announce=None,
    )
    with TestClient(app, headers={"Authorization": f"Bearer {OPERATOR_KEY}"}) as c:
        yield c, clock


def _merchant_client(op: TestClient) -> TestClient:
    key = op.post("/merchants/m1/keys").json()["api_key"]
    op.headers["Authorization"] = f"Bearer {key}"
    return op


def _day(client: TestClient, clock: ManualClock, compat: bool) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """One day: three users each see one auction's winners, click the first, and one of them buys it twice."""
    key = client.headers["Authorization"]
    cid = campaign(_merchant_client(client), ["p00", "p02", "p04"], roi="4.00")
    client.headers["Authorization"] = key
    for u in range(3):
        user = f"user-{u}"
        if compat:
            r = client.post(
                "/compat/v2/auctions",
                json={
                    "auctions": [
                        {
                            "type": "listings",
                            "slots": 2,
                            "products": {"ids": ["p00", "p01", "p02", "p04"]},
                            "opaqueUserId": user,
                        }
                    ]
                },
            )
            wins = [(w["id"], w["resolvedBidId"]) for w in r.json()["results"][0]["winners"]]
            assert wins, r.text
            pid, bid = wins[0]
            ev = {"id": f"e{u}", "occurredAt": ISO.format(10 + u), "opaqueUserId": user, "resolvedBidId": bid}
            body: dict[str, Any] = {"impressions": [ev], "clicks": [ev | {"occurredAt": ISO.format(20 + u)}]}
            if u == 1:
                body["purchases"] = [
                    {
                        "id": "o1",
                        "occurredAt": ISO.format(30),
                        "opaqueUserId": user,
                        "items": [{"productId": pid, "unitPrice": 19.99, "quantity": 2}],
                    }
                ]
            assert client.post("/compat/v2/events", json=body).status_code == 204
        else:
            r = client.post(
                "/auctions",
                json={
                    "auctions": [
                        {
                            "auction_id": f"a{u}",
                            "slots": 2,
                            "user_id": user,
                            "product_ids": ["p00", "p01", "p02", "p04"],
                            "ts_ms": T0,
                        }
                    ]
                },
            )
            w = r.json()["auctions"][0]["winners"][0]
            base = {
                "user_id": user,
                "product_id": w["product_id"],
                "request_id": f"a{u}",
                "campaign_id": cid,
                "position": w["rank"],
                "price_micros": w["price_micros"],
            }
            evs = [
                {"id": f"impression:e{u}", "kind": "impression", "ts_ms": T0 + (10 + u) * 1000} | base,
                {"id": f"click:e{u}", "kind": "click", "ts_ms": T0 + (20 + u) * 1000} | base,
            ]
            if u == 1:
                evs.append(
                    {
                        "id": "purchase:o1:0",
                        "kind": "order",
                        "ts_ms": T0 + 30_000,
                        "user_id": user,
                        "product_id": w["product_id"],
                        "order_value_micros": 2 * 19_990_000,
                    }
                )
            assert client.post("/events", json={"events": evs}).status_code == 200
    clock.after(day_bounds(DAY)[1])
    rows = client.post("/settle", json={"day": DAY}).json()["campaigns"]
    return client.get("/ledger/balances").json(), rows


def test_compat_round_trip_books_the_same_ledger_as_the_native_path(
    twin: tuple[TestClient, ManualClock], op: TestClient, clock: ManualClock
) -> None:
    native_bal, native_rows = _day(op, clock, compat=False)
    client, twin_clock = twin
    compat_bal, compat_rows = _day(client, twin_clock, compat=True)
    assert native_rows and native_rows[0]["spend_micros"] > 0 and native_rows[0]["gmv_micros"] == 39_980_000
    strip = [{k: v for k, v in r.items() if k != "campaign_id"} for r in native_rows]
    assert [{k: v for k, v in r.items() if k != "campaign_id"} for r in compat_rows] == strip
    assert compat_bal == native_bal and sum(native_bal.values()) == 0  # account names hold no campaign ids
