"""The experiments API: create, scoping, results with a verdict, auto-stop, stop, apply."""

from __future__ import annotations

from clocks import ManualClock
from fastapi.testclient import TestClient


def _campaign(m1: TestClient) -> str:
    r = m1.post(
        "/campaigns",
        json={
            "name": "drives",
            "product_ids": ["p00", "p02"],
            "target_roi": "2.00",
            "daily_budget_micros": 50_000_000,
        },
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _body(cid: str, **kw: object) -> dict[str, object]:
    return {
        "name": "title test",
        "kind": "creative",
        "campaign_id": cid,
        "product_ids": ["p00"],
        "arms": [
            {"name": "A", "title": "SanDisk 16GB"},
            {"name": "B", "title": "SanDisk Cruzer 16GB, tiny and fast"},
        ],
        "n_star": 300,
        **kw,
    }


def test_create_is_scoped_validated_and_one_running_test_per_campaign(m1: TestClient, m2: TestClient) -> None:
    cid = _campaign(m1)
    assert m2.post("/experiments", json=_body(cid)).status_code == 404  # another merchant's campaign
    bad = m1.post("/experiments", json=_body(cid, arms=[{"name": "A"}]))
    assert bad.status_code == 422
    wrong = m1.post("/experiments", json=_body(cid, product_ids=["p01"]))
    assert wrong.status_code == 422 and "p01" in wrong.json()["detail"]
    r = m1.post("/experiments", json=_body(cid))
    assert r.status_code == 201, r.text
    xid = r.json()["id"]
    assert r.json()["status"] == "running" and "salt" not in r.json()
    assert m1.post("/experiments", json=_body(cid)).status_code == 409
    assert m1.get("/experiments").json()["total"] == 1
    assert m2.get("/experiments").json()["total"] == 0
    assert m2.get(f"/experiments/{xid}").status_code == 404
    assert m2.post(f"/experiments/{xid}/stop", json={}).status_code == 404


def test_results_verdict_auto_stop_and_apply_the_winner(m1: TestClient, op: TestClient) -> None:
    cid = _campaign(m1)
    exp = m1.post("/experiments", json=_body(cid)).json()
    xid, t0 = exp["id"], exp["created_ms"] + 1
    served = op.post("/serve", json={"request_id": "r1", "user_id": "u1", "query": "sandisk usb flash drive"})
    assert served.status_code == 200
    labels = {s["variant"] for s in served.json()["slots"] if s["product_id"] == "p00"}
    assert labels <= {"SanDisk 16GB", "SanDisk Cruzer 16GB, tiny and fast"}
    users = [f"u{i}" for i in range(300)]
    events = []
    for i, u in enumerate(users):
        for k in range(5):
            events.append(
                {"id": f"i{i}-{k}", "kind": "impression", "ts_ms": t0, "user_id": u, "product_id": "p00"}
            )
    assert op.post("/events", json={"events": events[:1000]}).status_code == 200
    assert op.post("/events", json={"events": events[1000:]}).status_code == 200
    first = m1.get(f"/experiments/{xid}/results").json()
    assert first["experiment"]["status"] == "running" and "keep running" in first["verdict"]
    assert (
        sum(a["users"] for a in first["arms"]) == 300 and sum(a["impressions"] for a in first["arms"]) == 1500
    )
    # arm B's title is clicked far more: 2 of 5 impressions against 1 of 10
    by_arm = {a["arm"]: a["users"] for a in first["arms"]}
    assert min(by_arm.values()) > 100
    served_arm = {}
    for u in users:
        r = op.post(
            "/serve", json={"request_id": f"q{u}", "user_id": u, "query": "sandisk usb flash drive"}
        ).json()
        v = [s["variant"] for s in r["slots"] if s["product_id"] == "p00"]
        if v:
            served_arm[u] = v[0]
    assert len(set(served_arm.values())) == 2
    clicks = []
    for i, u in enumerate(users):
        n = 2 if served_arm.get(u, "").startswith("SanDisk Cruzer") else (1 if i % 2 == 0 else 0)
        for k in range(n):
            clicks.append(
                {"id": f"c{i}-{k}", "kind": "click", "ts_ms": t0, "user_id": u, "product_id": "p00"}
            )
    assert op.post("/events", json={"events": clicks}).status_code == 200
    res = m1.get(f"/experiments/{xid}/results").json()
    assert res["leader"] == "B", res["verdict"]
    assert res["verdict"].startswith("Stopped (conclusive on CTR), serving B. B lifts CTR by "), res[
        "verdict"
    ]
    assert res["experiment"]["status"] == "stopped" and res["experiment"]["winner"] == "B"  # auto-stop
    ctr = next(c for c in res["comparisons"] if c["metric"] == "ctr")
    assert ctr["significant"] and ctr["lift"] > 0.5 and 0 < ctr["lift_halfwidth"] < ctr["lift"]
    after = op.post(
        "/serve", json={"request_id": "r2", "user_id": "u0", "query": "sandisk usb flash drive"}
    ).json()
    assert {s["variant"] for s in after["slots"] if s["product_id"] == "p00"} <= {
        "SanDisk Cruzer 16GB, tiny and fast"
    }
    done = m1.post(f"/experiments/{xid}/apply")
    assert done.status_code == 200 and done.json()["applied"]
    assert m1.get("/products/p00").json()["title"] == "SanDisk Cruzer 16GB, tiny and fast"


def test_stop_needs_a_known_arm_and_apply_needs_a_winner(m1: TestClient) -> None:
    cid = _campaign(m1)
    xid = m1.post("/experiments", json=_body(cid)).json()["id"]
    assert m1.post(f"/experiments/{xid}/apply").status_code == 409
    assert m1.post(f"/experiments/{xid}/stop", json={"winner": "Z"}).status_code == 422
    r = m1.post(f"/experiments/{xid}/stop", json={})
    assert r.status_code == 200 and r.json()["status"] == "stopped" and r.json()["winner"] is None
    assert m1.post(f"/experiments/{xid}/stop", json={}).status_code == 409
    assert m1.post(f"/experiments/{xid}/apply").status_code == 409


def test_campaign_level_arms_are_settled_on_their_own_campaigns(
    m1: TestClient, op: TestClient, clock: ManualClock
) -> None:
    from sitewide.domain.time import day_bounds, day_of

    cid = _campaign(m1)
    body = _body(
        cid, kind="campaign", product_ids=[], arms=[{"name": "A"}, {"name": "B", "target_roi": "1.50"}]
    )
    exp = m1.post("/experiments", json=body).json()
    xid, t0 = exp["id"], exp["created_ms"] + 1
    clicks = [
        {"id": f"k{arm}{i}", "kind": "click", "ts_ms": t0, "user_id": f"u{arm}{i}", "product_id": "p00",
         "campaign_id": f"{xid}.{arm}", "price_micros": price}
        for arm, price in (("A", 100_000), ("B", 300_000))
        for i in range(4)
    ]  # fmt: skip
    assert op.post("/events", json={"events": clicks}).status_code == 200
    clock.after(day_bounds(day_of(t0))[1])  # only an ended day is settled
    assert op.post("/settle", json={"day": day_of(t0)}).status_code == 200
    res = m1.get(f"/experiments/{xid}/results").json()
    assert [(s["arm"], s["spend_micros"]) for s in res["statement"]] == [("A", 400_000), ("B", 1_200_000)]
    assert sum(a["spend_micros"] for a in res["arms"]) == 1_600_000  # results: users → arms by the hash


def test_the_operator_sweep_applies_guardrails_to_running_tests(m1: TestClient, op: TestClient) -> None:
    cid = _campaign(m1)
    body = _body(cid, guardrails={"min_roi": 5.0, "min_orders": 2}, auto_stop=False)
    exp = m1.post("/experiments", json=body).json()
    t0 = exp["created_ms"] + 1
    evs = []
    for i in range(6):  # every user: a paid click and an order worth half its price → ROI 0.5 < 5
        u = f"g{i}"
        evs.append({"id": f"gi{i}", "kind": "impression", "ts_ms": t0, "user_id": u, "product_id": "p00"})
        evs.append({"id": f"gc{i}", "kind": "click", "ts_ms": t0, "user_id": u, "product_id": "p00",
                    "campaign_id": cid, "price_micros": 200_000})  # fmt: skip
        evs.append({"id": f"go{i}", "kind": "order", "ts_ms": t0, "user_id": u, "product_id": "p00",
                    "click_id": f"gc{i}", "order_value_micros": 100_000})  # fmt: skip
    assert op.post("/events", json={"events": evs}).status_code == 200
    assert m1.post("/experiments/check").status_code == 403
    (row,) = op.post("/experiments/check").json()
    assert row["id"] == exp["id"] and row["status"] == "stopped" and row["winner"] == "A"
    got = m1.get(f"/experiments/{exp['id']}").json()
    assert got["stop_reason"].startswith("guardrail: arm ") and "< 5.00" in got["stop_reason"]
    assert op.post("/experiments/check").json() == []  # nothing running any more
