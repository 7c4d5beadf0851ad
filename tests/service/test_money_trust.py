"""Issue 14, tried as a hostile merchant and a careless operator: one test per row of the issue's table.

Every test runs the issue's reproduction against the HTTP API over SQLite, with a clock the test moves so that
days end when the story says they do."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sitewide.domain.types import Product, Shop
from sitewide.engine import Engine, day_bounds
from sitewide.service.app import create_app
from sitewide.settings import Settings
from sitewide.storage.sql import SqlStore

OPERATOR_KEY = "sw_0123456789ab_operator-key-for-tests"
D = "2026-03-10"
D0 = day_bounds(D)[0]
HOUR = 3_600_000
DAY = 86_400_000
CNY = 1_000_000


class ManualClock:
    def __init__(self, now_ms: int) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now


@pytest.fixture()
def clock() -> ManualClock:
    return ManualClock(D0 + HOUR)


@pytest.fixture()
def app(tmp_path: Path, shops: list[Shop], products: list[Product], clock: ManualClock) -> FastAPI:
    settings = Settings(data_dir=tmp_path, load_catalogue=False)
    store = SqlStore.sqlite(tmp_path / "t.sqlite")
    store.upsert_shops(shops)
    store.upsert_products(products)
    engine = Engine(store, clock=clock)
    return create_app(settings, engine, operator_key=OPERATOR_KEY)


def _client(app: FastAPI, key: str) -> Iterator[TestClient]:
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as c:
        yield c


@pytest.fixture()
def op(app: FastAPI) -> Iterator[TestClient]:
    yield from _client(app, OPERATOR_KEY)


@pytest.fixture()
def m1(app: FastAPI, op: TestClient) -> Iterator[TestClient]:
    r = op.post("/merchants/m1/keys")
    assert r.status_code == 201, r.text
    yield from _client(app, r.json()["api_key"])


def ok(r: object) -> dict[str, object]:
    status = getattr(r, "status_code")  # noqa: B009
    assert status in (200, 201), getattr(r, "text")  # noqa: B009
    out = r.json()  # type: ignore[attr-defined]
    assert isinstance(out, dict)
    return out


def campaign(m1: TestClient, target: str, budget: int) -> str:
    body = {"name": "spring", "product_ids": ["p00"], "target_roi": target, "daily_budget_micros": budget}
    return str(ok(m1.post("/campaigns", json=body))["id"])


def clicks_and_orders(op: TestClient, cid: str, day0: int, n_clicks: int, n_orders: int, value: int) -> None:
    evs: list[dict[str, object]] = []
    for i in range(n_clicks):
        evs.append(
            {
                "id": f"{cid}-k{day0}-{i}",
                "kind": "click",
                "ts_ms": day0 + 2 * HOUR + i * 60_000,
                "user_id": f"u{i}",
                "product_id": "p00",
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
                "product_id": "p00",
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
    settle(op, clock, "2026-03-11")
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
    settle(op, clock, "2026-03-11")
    assert balances(op)["merchant:m1:cash"] == -50 * CNY, "a budget cut must not refund a settled day"


def test_raising_the_budget_after_a_capped_day_charges_nothing_above_that_days_budget(
    op: TestClient, m1: TestClient, clock: ManualClock
) -> None:
    cid = campaign(m1, "2.00", 30 * CNY)
    clicks_and_orders(op, cid, D0, 50, 0, 0)
    settle(op, clock, D)
    assert balances(op)["merchant:m1:cash"] == -30 * CNY
    ok(m1.patch(f"/campaigns/{cid}", json={"daily_budget_micros": 100 * CNY}))
    settle(op, clock, "2026-03-11")
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
    settle(op, clock, "2026-03-12")
    st = ok(op.get(f"/campaigns/{cid}/statement"))
    days = {d["day"]: d for d in st["days"]}  # type: ignore[attr-defined]
    assert days["2026-03-11"]["spend_micros"] == 40 * CNY and days["2026-03-11"]["terms_versions"] == [1, 2]
    assert days["2026-03-12"]["spend_micros"] == 40 * CNY and days["2026-03-12"]["terms_versions"] == [2]


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
