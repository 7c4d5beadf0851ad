"""The eligibility pool's history: when a product left the pool (and why) and when it came back, written when
new signals recompute the pool, over HTTP."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient


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
