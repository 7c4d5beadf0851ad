"""Issue 14, tried as a hostile merchant and a careless operator: one test per row of the issue's table.

Every test runs the issue's reproduction against the HTTP API over SQLite, with a clock the test moves so that
days end when the story says they do."""

from __future__ import annotations

from pathlib import Path

import pytest
from clocks import ManualClock
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sitewide.domain.time import day_bounds
from sitewide.domain.types import Product, Shop
from sitewide.engine import Engine
from sitewide.wiring import make_engine

D = "2026-01-05"
D0 = day_bounds(D)[0]
HOUR = 3_600_000
DAY = 86_400_000
CNY = 1_000_000


def ok(r: object) -> dict[str, object]:
    status = getattr(r, "status_code")  # noqa: B009
    assert status in (200, 201), getattr(r, "text")  # noqa: B009
    out = r.json()  # type: ignore[attr-defined]
    assert isinstance(out, dict)
    return out


def campaign(m1: TestClient, target: str, budget: int) -> str:
    body = {"name": "spring", "product_ids": ["p00"], "target_roi": target, "daily_budget_micros": budget}
    return str(ok(m1.post("/campaigns", json=body))["id"])


def clicks_and_orders(
    op: TestClient, cid: str, day0: int, n_clicks: int, n_orders: int, value: int, product: str = "p00"
) -> None:
    evs: list[dict[str, object]] = []
    for i in range(n_clicks):
        evs.append(
            {
                "id": f"{cid}-k{day0}-{i}",
                "kind": "click",
                "ts_ms": day0 + 2 * HOUR + i * 60_000,
                "user_id": f"u{i}",
                "product_id": product,
                "campaign_id": cid,
                "price_micros": CNY,
            }
        )
    for i in range(n_orders):
        evs.append(
            {
                "id": f"{cid}-o{day0}-{i}",
                "kind": "order",
                "ts_ms": day0 + 3 * HOUR + i * 60_000,
                "user_id": f"u{i}",
                "product_id": product,
                "click_id": f"{cid}-k{day0}-{i}",
                "order_value_micros": value,
            }
        )
    ok(op.post("/events", json={"events": evs}))


def balances(op: TestClient) -> dict[str, int]:
    return {k: int(v) for k, v in ok(op.get("/ledger/balances")).items()}  # type: ignore[call-overload]


def settle(op: TestClient, clock: ManualClock, day: str) -> None:
    clock.now = max(clock.now, day_bounds(day)[1] + HOUR)
    ok(op.post("/settle", json={"day": day}))


# critical: a merchant can change money on days already settled -----------------------------------------------
def test_raising_the_target_after_a_settled_day_buys_no_compensation_for_it(
    op: TestClient, m1: TestClient, clock: ManualClock
) -> None:
    cid = campaign(m1, "2.00", 100 * CNY)
    clicks_and_orders(op, cid, D0, 50, 10, 12 * CNY)  # ROI 120 / 50 = 2.4 ≥ 2: promise met
    settle(op, clock, D)
    assert balances(op)["merchant:m1:cash"] == -50 * CNY
    ok(m1.patch(f"/campaigns/{cid}", json={"target_roi": "100"}))
    settle(op, clock, "2026-01-06")
    b = balances(op)
    assert b.get("merchant:m1:ad_credit", 0) == 0, "a target raised after the day must not pay for that day"
    assert b["merchant:m1:cash"] == -50 * CNY


def test_lowering_the_budget_after_a_settled_day_refunds_nothing(
    op: TestClient, m1: TestClient, clock: ManualClock
) -> None:
    cid = campaign(m1, "2.00", 100 * CNY)
    clicks_and_orders(op, cid, D0, 50, 10, 12 * CNY)
    settle(op, clock, D)
    ok(m1.patch(f"/campaigns/{cid}", json={"daily_budget_micros": 10_000}))
    settle(op, clock, "2026-01-06")
    assert balances(op)["merchant:m1:cash"] == -50 * CNY, "a budget cut must not refund a settled day"


def test_raising_the_budget_after_a_capped_day_charges_nothing_above_that_days_budget(
    op: TestClient, m1: TestClient, clock: ManualClock
) -> None:
    cid = campaign(m1, "2.00", 30 * CNY)
    clicks_and_orders(op, cid, D0, 50, 0, 0)
    settle(op, clock, D)
    assert balances(op)["merchant:m1:cash"] == -30 * CNY
    ok(m1.patch(f"/campaigns/{cid}", json={"daily_budget_micros": 100 * CNY}))
    settle(op, clock, "2026-01-06")
    assert balances(op)["merchant:m1:cash"] == -30 * CNY, "charged above the budget in force that day"
    st = ok(op.get(f"/campaigns/{cid}/statement", params={"period": D}))
    (day,) = st["days"]  # type: ignore[misc]
    assert day["budget_micros"] == 30 * CNY and day["terms_versions"] == [1]
    assert [t["daily_budget_micros"] for t in st["terms"]] == [30 * CNY, 100 * CNY]  # type: ignore[attr-defined]


def test_a_change_takes_effect_for_money_from_the_next_day(
    op: TestClient, m1: TestClient, clock: ManualClock
) -> None:
    cid = campaign(m1, "2.00", 30 * CNY)
    clock.now = D0 + DAY + HOUR  # on D+1 at 01:00 the merchant raises the budget
    ok(m1.patch(f"/campaigns/{cid}", json={"daily_budget_micros": 40 * CNY}))
    clicks_and_orders(op, cid, D0 + DAY, 50, 0, 0)  # D+1 from 02:00: under the highest budget of that day
    clicks_and_orders(op, cid, D0 + 2 * DAY, 50, 0, 0)  # D+2: the new budget all day
    settle(op, clock, "2026-01-07")
    st = ok(op.get(f"/campaigns/{cid}/statement"))
    days = {d["day"]: d for d in st["days"]}  # type: ignore[attr-defined]
    assert days["2026-01-06"]["spend_micros"] == 40 * CNY and days["2026-01-06"]["terms_versions"] == [1, 2]
    assert days["2026-01-07"]["spend_micros"] == 40 * CNY and days["2026-01-07"]["terms_versions"] == [2]


# high: one merchant's statement showed another's ledger entries ----------------------------------------------
def test_ids_with_a_colon_are_refused(op: TestClient) -> None:
    r = op.post("/merchants", json={"id": "tA:eu", "name": "A Europe"})
    assert r.status_code == 422, r.text
    assert op.post("/merchants", json={"id": "tA.eu", "name": "A Europe"}).status_code == 201


def test_a_statement_holds_only_the_merchants_own_legs_even_for_legacy_colon_ids(
    app: FastAPI, op: TestClient, clock: ManualClock
) -> None:
    from decimal import Decimal

    from sitewide.domain.types import Campaign

    engine: Engine = app.state.engine
    engine.store.upsert_shops([Shop("sA", "tA", "A"), Shop("sB", "tA:eu", "A eu")])  # stored before the rule
    engine.store.upsert_products(
        [Product("pa", "sA", "a", "x", 5 * CNY), Product("pb", "sB", "b", "x", 5 * CNY)]
    )
    engine.reload()
    app.state.accounts.ensure_merchants(["tA", "tA:eu"])
    for cid, pid, mid in (("ca", "pa", "tA"), ("cb", "pb", "tA:eu")):
        engine.add_campaign(Campaign(cid, mid, cid, (pid,), Decimal("1"), 100 * CNY, created_ms=D0))
    evs = [
        {
            "id": f"{c}{i}",
            "kind": "click",
            "ts_ms": D0 + HOUR + i,
            "user_id": f"u{i}",
            "product_id": p,
            "campaign_id": c,
            "price_micros": CNY,
        }
        for c, p in (("ca", "pa"), ("cb", "pb"))
        for i in range(20)
    ]
    ok(op.post("/events", json={"events": evs}))
    settle(op, clock, D)
    key = ok(op.post("/merchants/tA/keys"))["api_key"]
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as ta:
        page = ok(ta.get("/statements"))
    (st,) = page["items"]  # type: ignore[misc]
    assert st["charged_micros"] == 20 * CNY
    assert {e["account"] for e in st["entries"]} == {"merchant:tA:cash", "merchant:tA:ad_credit"}
    assert {e["campaign_id"] for e in st["entries"]} == {"ca"} and st["period"] == D
    assert st["compensation_micros"] == 20 * CNY  # no GMV at target 1: the whole spend back, not tA:eu's too


# medium: events were not checked against the campaign they name --------------------------------------------
def _click(cid: str, eid: str, ts: int, product: str = "p00") -> dict[str, object]:
    return {
        "id": eid,
        "kind": "click",
        "ts_ms": ts,
        "user_id": "u1",
        "product_id": product,
        "campaign_id": cid,
        "price_micros": CNY,
    }


@pytest.mark.parametrize(
    ("bad", "rule"),
    [
        ({"product_id": "p01"}, "campaign_live"),  # another merchant's product tagged with m1's campaign
        ({"ts_ms": D0 - HOUR}, "campaign_live"),  # before the campaign existed
        (
            {"kind": "order", "click_id": "nope", "campaign_id": None, "price_micros": 0},
            "order_names_a_click",
        ),
        (
            {"kind": "refund", "order_id": "nope", "campaign_id": None, "price_micros": 0},
            "refund_names_an_order",
        ),
    ],
)
def test_an_event_breaking_a_rule_is_422_with_the_rule_and_nothing_of_the_batch_is_stored(
    app: FastAPI, op: TestClient, m1: TestClient, bad: dict[str, object], rule: str
) -> None:
    cid = campaign(m1, "2.00", 100 * CNY)
    good = _click(cid, "k-good", D0 + HOUR)
    r = op.post("/events", json={"events": [good, {**_click(cid, "k-bad", D0 + HOUR), **bad}]})
    assert r.status_code == 422 and f"rule {rule}" in r.json()["detail"], r.text
    engine: Engine = app.state.engine
    assert engine.store.get_events(["k-good", "k-bad"]) == {}


def test_clicks_of_a_paused_campaign_are_refused_and_references_inside_a_batch_count(
    op: TestClient, m1: TestClient, clock: ManualClock
) -> None:
    cid = campaign(m1, "2.00", 100 * CNY)
    order = {
        "id": "o1",
        "kind": "order",
        "ts_ms": D0 + 2 * HOUR,
        "user_id": "u1",
        "product_id": "p00",
        "click_id": "k1",
        "order_value_micros": 5 * CNY,
    }
    refund = {
        "id": "r1",
        "kind": "refund",
        "ts_ms": D0 + 3 * HOUR,
        "order_id": "o1",
        "order_value_micros": CNY,
    }
    ok(op.post("/events", json={"events": [_click(cid, "k1", D0 + HOUR), order, refund]}))
    clock.now = D0 + 4 * HOUR
    ok(m1.post(f"/campaigns/{cid}/pause"))
    r = op.post("/events", json={"events": [_click(cid, "k2", D0 + 5 * HOUR)]})
    assert r.status_code == 422 and "campaign_live" in r.json()["detail"]
    ok(op.post("/events", json={"events": [_click(cid, "k3", D0 + 3 * HOUR)]}))  # late, but live then


def test_a_retried_event_is_a_duplicate_even_after_its_campaign_changed_before_its_timestamp(
    op: TestClient, m1: TestClient, clock: ManualClock
) -> None:
    # found by the stateful money test: a campaign edited at (or before) the millisecond of a stored click puts
    # the new terms in force at the click's own time, and the click's retry was refused (422) instead of ignored
    cid = campaign(m1, "2.00", 100 * CNY)
    clock.now = D0 + HOUR
    ts = D0 + HOUR + 60_000  # the click's time; the pause below is in force from a few ms after D0 + HOUR
    ok(op.post("/events", json={"events": [_click(cid, "k1", ts)]}))
    ok(m1.post(f"/campaigns/{cid}/pause"))
    again = ok(op.post("/events", json={"events": [_click(cid, "k1", ts)]}))
    assert (again["inserted"], again["duplicates"]) == (0, 1)
    r = op.post("/events", json={"events": [_click(cid, "k1", ts), _click(cid, "k2", ts)]})
    assert r.status_code == 422 and "k2" in r.json()["detail"] and "campaign_live" in r.json()["detail"]


# medium: periods that had not ended could be settled -----------------------------------------------------------
def test_only_ended_periods_are_settled_and_a_preview_books_nothing(
    op: TestClient, m1: TestClient, clock: ManualClock
) -> None:
    cid = campaign(m1, "5.00", 100 * CNY)
    clicks_and_orders(op, cid, D0, 10, 1, 2 * CNY)  # ROI 0.2 < 5: compensation due once D has ended
    clock.now = D0 + 12 * HOUR  # the middle of D
    for body in ({"day": D}, {"day": "2026-01-06"}, {"day": "2099-12-31"}, {"start_ms": 5}, {"end_ms": D0}):
        r = op.post("/settle", json=body)
        assert r.status_code == 422, (body, r.text)
    pre = ok(op.post("/settle", json={"day": D, "preview": True}))
    assert pre["provisional"] is True and pre["transactions"] == []
    assert pre["campaigns"][0]["spend_micros"] == 10 * CNY  # type: ignore[index]
    assert balances(op) == {}
    clock.now = D0 + DAY + HOUR
    out = ok(op.post("/settle", json={}))  # no period: yesterday, the last ended day
    assert out["period"] == D and out["provisional"] is False and out["transactions"]
    assert balances(op)["merchant:m1:cash"] == -10 * CNY


# medium: the operator key could not be rotated or revoked -------------------------------------------------------
def test_a_restart_with_a_new_configured_operator_key_invalidates_the_old_one(tmp_path: Path) -> None:
    from sitewide.service.app import create_app
    from sitewide.settings import Settings
    from sitewide.storage.sql import SqlStore

    old, new = "sw_00000000aaaa_old-operator-key", "sw_00000000bbbb_new-operator-key"
    settings = Settings(data_dir=tmp_path, load_catalogue=False)

    def start(key: str) -> FastAPI:
        return create_app(settings, make_engine(SqlStore.sqlite(tmp_path / "k.sqlite")), operator_key=key)

    with TestClient(start(old)) as c:
        assert c.get("/me", headers={"Authorization": f"Bearer {old}"}).status_code == 200
    with TestClient(start(new)) as c:
        assert c.get("/me", headers={"Authorization": f"Bearer {old}"}).status_code == 401
        me = c.get("/me", headers={"Authorization": f"Bearer {new}"})
        assert me.status_code == 200 and me.json()["role"] == "operator"
        audit = c.get("/operator/keys/audit", headers={"Authorization": f"Bearer {new}"}).json()
        assert any(a["action"] == "revoke" and a["key_prefix"] == "00000000aaaa" for a in audit)


def test_operator_keys_are_created_listed_rotated_and_revoked_with_an_audit_log(
    app: FastAPI, op: TestClient
) -> None:
    k2 = str(ok(op.post("/operator/keys", json={"label": "deploy bot"}))["api_key"])
    p2 = k2.split("_")[1]
    listed = op.get("/operator/keys").json()
    assert {(k["prefix"], k["label"], k["revoked"]) for k in listed} >= {(p2, "deploy bot", False)}
    with TestClient(app, headers={"Authorization": f"Bearer {k2}"}) as bot:
        k3 = str(ok(bot.post(f"/operator/keys/{p2}/rotate"))["api_key"])
        assert bot.get("/me").status_code == 401  # rotated away at once
    with TestClient(app, headers={"Authorization": f"Bearer {k3}"}) as bot:
        assert bot.get("/me").json()["role"] == "operator"
        assert op.delete(f"/operator/keys/{k3.split('_')[1]}").status_code == 200
        assert bot.get("/me").status_code == 401
    mine = [k["prefix"] for k in op.get("/operator/keys").json() if not k["revoked"]]
    assert len(mine) == 1 and op.delete(f"/operator/keys/{mine[0]}").status_code == 409  # never lock out
    actions = [(a["action"], a["key_prefix"]) for a in op.get("/operator/keys/audit").json()]
    assert ("rotate", p2) in actions and ("revoke", k3.split("_")[1]) in actions and ("create", p2) in actions
    r = op.get("/operator/keys/audit", headers={"Authorization": "Bearer " + k2})
    assert r.status_code == 401


# medium: a product report loaded every event of every merchant ------------------------------------------------
def test_a_product_report_reads_no_events_and_only_the_callers_settled_rows(
    app: FastAPI, op: TestClient, m1: TestClient, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine: Engine = app.state.engine
    mine = campaign(m1, "2.00", 100 * CNY)
    other = str(
        ok(
            op.post(
                "/campaigns",
                json={
                    "merchant_id": "m2",
                    "name": "theirs",
                    "product_ids": ["p01"],
                    "target_roi": "2.00",
                    "daily_budget_micros": 100 * CNY,
                },
            )
        )["id"]
    )
    clicks_and_orders(op, mine, D0, 5, 2, 3 * CNY)
    clicks_and_orders(op, other, D0, 400, 300, 3 * CNY, "p01")  # the other merchant's volume
    settle(op, clock, D)
    seen: list[str] = []
    real = engine.store.events_between

    def spy(*a: object, **k: object) -> list[object]:
        got = real(*a, **k)  # type: ignore[arg-type]
        seen.extend(e.id for e in got)
        return got  # type: ignore[return-value]

    monkeypatch.setattr(engine.store, "events_between", spy)
    rep = ok(m1.get("/reports", params={"group_by": "product"}))
    (row,) = rep["rows"]  # type: ignore[misc]
    assert (row["key"], row["clicks"], row["spend_micros"], row["orders"]) == ("p00", 5, 5 * CNY, 2)
    assert seen == [], "a report read events row by row"


def _imp(cid: str, i: int, ts: int, product: str) -> dict[str, object]:
    return {
        "id": f"{cid}-i{ts}-{i}",
        "kind": "impression",
        "ts_ms": ts,
        "user_id": f"u{i}",
        "product_id": product,
        "campaign_id": cid,
    }


def test_day_campaign_and_product_reports_add_up_to_the_same_totals(
    op: TestClient, m1: TestClient, clock: ManualClock
) -> None:
    """Reports used to disagree: impressions by day came from what /serve logged, by product from impression
    events; spend by product was before the budget cap, orders by product before refunds."""
    tight = campaign(m1, "2.00", 3 * CNY)  # capped: 5 clicks at 1.00, 3 charged
    body = {
        "name": "two",
        "product_ids": ["p00", "p02"],
        "target_roi": "4.00",
        "daily_budget_micros": 100 * CNY,
    }
    wide = str(ok(m1.post("/campaigns", json=body))["id"])
    for day0 in (D0, D0 + DAY):
        clicks_and_orders(op, tight, day0, 5, 2, 3 * CNY)
        clicks_and_orders(op, wide, day0, 4, 3, 5 * CNY, "p02")
        imps = [_imp(tight, i, day0 + HOUR, "p00") for i in range(20)]
        imps += [_imp(wide, i, day0 + HOUR, "p02" if i % 3 else "p00") for i in range(30)]
        ok(op.post("/events", json={"events": imps}))
    refund = {"id": "rf1", "kind": "refund", "ts_ms": D0 + 5 * HOUR, "order_id": f"{wide}-o{D0}-0"}
    refund["order_value_micros"] = 2 * CNY
    ok(op.post("/events", json={"events": [refund]}))
    settle(op, clock, D)
    settle(op, clock, "2026-01-06")
    figures = ("impressions", "clicks", "orders", "spend_micros", "gmv_micros")
    totals = {}
    for g in ("day", "campaign", "product"):
        rep = ok(m1.get("/reports", params={"group_by": g}))
        rows = rep["rows"]
        assert isinstance(rows, list) and rows
        tot = rep["total"]
        assert isinstance(tot, dict)
        totals[g] = {k: tot[k] for k in figures}
        assert totals[g] == {k: sum(r[k] for r in rows) for k in figures}, g
    assert totals["day"] == totals["campaign"] == totals["product"]
    assert totals["day"] == {
        "impressions": 100,
        "clicks": 18,
        "orders": 10,
        "spend_micros": (3 + 4) * 2 * CNY,
        "gmv_micros": (2 * 3 + 3 * 5) * 2 * CNY - 2 * CNY,
    }
    by_p = {r["key"]: r for r in ok(m1.get("/reports", params={"group_by": "product"}))["rows"]}  # type: ignore[union-attr]
    assert by_p["p00"]["impressions"] == 2 * (20 + 10) and by_p["p02"]["impressions"] == 2 * 20
    days = ok(m1.get(f"/reports/campaigns/{wide}"))["days"]
    assert [d["impressions"] for d in days] == [30, 30]  # type: ignore[union-attr, index]


# low ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "patch",
    [
        {"daily_budget_micros": "100000"},  # a string where an integer is due
        {"name": "sale\u0000"},
        {"name": "\u202egnp.exe"},  # right-to-left override
        {"name": "   "},
    ],
)
def test_campaign_fields_are_refused_when_a_string_poses_as_a_number_or_a_name_hides_characters(
    m1: TestClient, patch: dict[str, object]
) -> None:
    cid = campaign(m1, "2.00", 100 * CNY)
    r = m1.patch(f"/campaigns/{cid}", json=patch)
    assert r.status_code == 422, r.text
    assert m1.get(f"/campaigns/{cid}").json()["name"] == "spring"


def test_taken_ids_do_not_name_their_owner_and_every_answer_has_security_headers(
    op: TestClient, m1: TestClient
) -> None:
    r = m1.post(
        "/products",
        json={"products": [{"id": "p01", "shop_id": "s1", "title": "t", "category": "c", "price_micros": 1}]},
    )
    assert r.status_code == 409 and "another merchant" not in r.text and "m2" not in r.text
    for path in ("/health", "/ui/login"):
        h = op.get(path).headers
        assert h["x-content-type-options"] == "nosniff" and h["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in h["content-security-policy"]


def test_a_correction_of_one_day_booked_by_a_later_run_is_filed_under_that_day(
    op: TestClient, m1: TestClient, clock: ManualClock
) -> None:
    cid = campaign(m1, "2.00", 100 * CNY)
    clicks_and_orders(op, cid, D0, 10, 0, 0)
    settle(op, clock, D)
    late = [{**_click(cid, f"late{i}", D0 + 20 * HOUR + i), "user_id": f"v{i}"} for i in range(3)]
    ok(op.post("/events", json={"events": late}))  # late clicks of D, reported on D+1
    settle(op, clock, "2026-01-06")
    items = ok(m1.get("/statements"))["items"]
    by = {s["period"]: s for s in items}  # type: ignore[attr-defined]
    assert by[D]["charged_micros"] == 13 * CNY and "2026-01-06" not in by
    assert {e["booked_in"] for e in by[D]["entries"]} == {D, "2026-01-06"}
    # the campaign's statement shows the same legs, as the same records, as the merchant's statement does
    legs = ok(m1.get(f"/campaigns/{cid}/statement"))["ledger"]
    own = [leg for leg in legs if leg["account"].startswith("merchant:m1:")]  # type: ignore[index]
    assert sorted(own, key=str) == sorted((e for s in items for e in s["entries"]), key=str)  # type: ignore[index]
    assert {leg["booked_in"] for leg in own} == {D, "2026-01-06"}  # type: ignore[index]
