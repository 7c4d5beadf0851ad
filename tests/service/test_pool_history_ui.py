"""The eligibility pool's history: when a product left the pool (and why) and when it came back, written when
new signals recompute the pool, over HTTP: the store's rows, the campaign alerts and the product page, in
English and Chinese."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient
from test_api import make_campaign
from test_console_pages import login, visible_text

from sitewide.i18n import format_time


def test_signals_that_move_a_product_out_and_back_are_recorded(app: FastAPI, op: TestClient) -> None:
    accounts = app.state.accounts
    assert accounts.pool_changes(["p04"]) == []
    assert (
        op.put("/products/signals", json={"products": [{"product_id": "p04", "stock": 0}]}).status_code == 200
    )
    (left,) = accounts.pool_changes(["p04"])
    assert not left.eligible and [r.code for r in left.failures] == ["out_of_stock"]
    # the same signals again change nothing: no new row
    op.put("/products/signals", json={"products": [{"product_id": "p04", "stock": 0}]})
    assert len(accounts.pool_changes(["p04"])) == 1
    op.put("/products/signals", json={"products": [{"product_id": "p04", "stock": 12}]})
    back, first = accounts.pool_changes(["p04"])
    assert back.eligible and back.failures == () and back.ts_ms >= first.ts_ms
    assert {c.product_id for c in accounts.pool_changes()} == {"p04"}  # no other product moved


def test_alerts_and_the_product_page_say_when_and_why_and_when_it_came_back(
    app: FastAPI, op: TestClient, new_key: Callable[[str], str]
) -> None:
    cid = make_campaign(op, merchant_id="m1", product_ids=["p00", "p04"])["id"]
    title = op.get("/products/p04").json()["title"]
    ui = login(app, new_key("m1"))
    zh = login(app, new_key("m1"), "zh")
    page = ui.get("/ui/products/p04").text
    assert "No change recorded yet." in visible_text(page)
    op.put("/products/signals", json={"products": [{"product_id": "p04", "stock": 0}]})
    when = format_time(app.state.accounts.pool_changes(["p04"])[0].ts_ms)
    for path in ("/ui/", f"/ui/campaigns/{cid}"):
        text = visible_text(ui.get(path).text)
        assert f"{title} left the promotion pool on {when}: " in text, path
        assert "came back" not in text
    rows = visible_text(ui.get("/ui/products/p04").text)
    assert f"{when} left the pool In stock: stock 0, minimum 1" in " ".join(rows.split())
    assert f"{title} 于 {when} 移出推广池" in visible_text(zh.get("/ui/").text)
    assert "移出推广池" in visible_text(zh.get("/ui/products/p04").text)

    op.put("/products/signals", json={"products": [{"product_id": "p04", "stock": 12}]})
    back = format_time(app.state.accounts.pool_changes(["p04"])[0].ts_ms)
    text = visible_text(ui.get("/ui/").text)
    assert f"{title} came back into the promotion pool on {back}." in text
    assert "left the promotion pool" not in text and "not eligible" not in text
    rows = " ".join(visible_text(ui.get("/ui/products/p04").text).split())
    assert rows.index("came back into the pool") < rows.index("left the pool")  # newest first
    assert "重回推广池" in visible_text(zh.get("/ui/products/p04").text)
