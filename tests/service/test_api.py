"""The foundation's HTTP slice: campaigns, serve, events, settle, reports (with API keys)."""

from __future__ import annotations

import pytest
from clocks import ManualClock
from fastapi.testclient import TestClient

from sitewide.domain.time import day_bounds

DAY = "2026-01-05"
T0 = day_bounds(DAY)[0] + 3_600_000


def make_campaign(client: TestClient, **over: object) -> dict[str, object]:
    body = {
        "name": "usb",
        "product_ids": ["p00", "p02"],
        "target_roi": "3.00",
        "daily_budget_micros": 5_000_000,
    } | over
    r = client.post("/campaigns", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_create_and_get_campaign(m1: TestClient) -> None:
    c = make_campaign(m1)
    got = m1.get(f"/campaigns/{c['id']}").json()
    assert got["target_roi"] == "3.00" and got["daily_budget_micros"] == 5_000_000
    assert got["merchant_id"] == "m1"


@pytest.mark.parametrize(
    "over, needle",
    [
        ({"daily_budget_micros": -5}, "daily_budget_micros"),
        ({"daily_budget_micros": 9_999}, "daily_budget_micros"),
        ({"daily_budget_micros": 10**13 + 1}, "daily_budget_micros"),
        ({"target_roi": "0"}, "target_roi"),
        ({"target_roi": "0.05"}, "target_roi"),
        ({"target_roi": "100.01"}, "target_roi"),
        ({"target_roi": "-1.5"}, "target_roi"),
        ({"product_ids": ["nope"]}, "unknown product"),
        ({"product_ids": ["p01"]}, "not of merchant m1"),  # m2's product
        ({"product_ids": []}, "product_ids"),
        ({"daily_budget_micros": 1.5}, "daily_budget_micros"),
        ({"merchant_id": "m2"}, "only for itself"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_malformed_campaign_gets_422_and_nothing_is_stored(
    m1: TestClient, op: TestClient, over: dict[str, object], needle: str
) -> None:
    body = {
        "name": "x",
        "product_ids": ["p00"],
        "target_roi": "3",
        "daily_budget_micros": 1_000_000,
    } | over
    r = m1.post("/campaigns", json=body)
    assert r.status_code == 422
    assert isinstance(r.json()["detail"], str) and needle in r.json()["detail"]
    assert m1.get("/campaigns").json()["total"] == 0
    assert op.get("/campaigns").json()["total"] == 0


def test_unknown_campaign_is_404(m1: TestClient) -> None:
    r = m1.get("/campaigns/c-missing")
    assert r.status_code == 404 and "c-missing" in r.json()["detail"]


def test_serve_marks_promoted_slots(m1: TestClient, op: TestClient) -> None:
    c = make_campaign(m1)
    r = op.post(
        "/serve",
        json={"request_id": "r1", "user_id": "u1", "query": "usb flash drive", "slots": 5, "ts_ms": T0},
    )
    assert r.status_code == 200, r.text
    slots = r.json()["slots"]
    assert len(slots) == 5
    assert len({s["product_id"] for s in slots}) == 5
    promoted = [s for s in slots if s["promoted"]]
    assert promoted and all(s["campaign_id"] == c["id"] and s["price_micros"] > 0 for s in promoted)
    assert all(s["price_micros"] == 0 for s in slots if not s["promoted"])


def test_events_are_idempotent_and_conflicts_are_409(m1: TestClient, op: TestClient) -> None:
    c = make_campaign(m1)
    ev = {
        "id": "k1",
        "kind": "click",
        "ts_ms": T0,
        "user_id": "u1",
        "product_id": "p00",
        "campaign_id": c["id"],
        "price_micros": 100_000,
    }
    assert op.post("/events", json={"events": [ev, ev]}).json() == {"inserted": 1, "duplicates": 1}
    assert op.post("/events", json={"events": [ev]}).json() == {"inserted": 0, "duplicates": 1}
    r = op.post("/events", json={"events": [ev | {"price_micros": 999}]})
    assert r.status_code == 409


def test_settlement_charges_books_compensation_and_balances(
    m1: TestClient, op: TestClient, clock: ManualClock
) -> None:
    c = make_campaign(m1)
    evs = [
        {
            "id": f"k{i}",
            "kind": "click",
            "ts_ms": T0 + i,
            "user_id": f"u{i}",
            "product_id": "p00",
            "campaign_id": c["id"],
            "price_micros": 200_000,
        }
        for i in range(5)
    ] + [
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
    assert op.post("/events", json={"events": evs}).status_code == 200
    clock.after(day_bounds(DAY)[1])
    out = op.post("/settle", json={"day": DAY}).json()
    (row,) = out["campaigns"]
    assert row["spend_micros"] == 1_000_000 and row["gmv_micros"] == 1_500_000
    # ROI 1.5 < target 3: owed 1.0 − 1.5/3 = 0.5
    assert row["compensation_micros"] == 500_000
    bal = op.get("/ledger/balances").json()
    assert sum(bal.values()) == 0
    assert bal["merchant:m1:cash"] == -1_000_000 and bal["merchant:m1:ad_credit"] == 500_000
    again = op.post("/settle", json={"day": DAY}).json()
    assert again["already_settled"] is True
    assert op.get("/ledger/balances").json() == bal
    rep = m1.get(f"/reports/campaigns/{c['id']}").json()
    assert rep["total"]["compensation_micros"] == 500_000


def test_an_event_of_the_body_becomes_the_engines_event_field_for_field() -> None:
    """``POST /events`` builds the engine's ``Event`` from the validated body directly (no ``model_dump``): every
    field of the body arrives, under its own name and value."""
    import dataclasses

    from sitewide.api.schemas import EventIn
    from sitewide.domain.types import Event, EventKind
    from sitewide.service.routes.events import _event

    names = [f.name for f in dataclasses.fields(Event)]
    assert set(EventIn.model_fields) == set(names)
    body = EventIn(
        id="e1", kind="refund", ts_ms=5, user_id="u", product_id="p", request_id="r", campaign_id="c",
        position=3, price_micros=7, order_value_micros=11, click_id="k", impression_id="i", order_id="o",
    )
    got = _event(body)
    assert got.kind is EventKind.REFUND
    assert {n: getattr(got, n) for n in names if n != "kind"} == body.model_dump(exclude={"kind"})
    for kind in EventKind:
        assert _event(EventIn(id="e", kind=kind.value, ts_ms=1)).kind is kind
