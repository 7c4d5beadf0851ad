"""``service.hotpath``: ``POST /serve`` and ``POST /auctions`` answered below FastAPI's router give the app's
answers (bodies, headers, errors) and leave everything else to the app."""

from __future__ import annotations

from collections.abc import Callable

import anyio.to_thread
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sitewide.service.app import SECURITY_HEADERS
from sitewide.service.routes import auctions as auctions_route
from sitewide.service.routes import serve as serve_route
from sitewide.settings import Settings


def _count_route_calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count calls of the FastAPI routes' handlers (the hot path calls the ``*_json`` functions directly)."""
    calls = {"serve": 0, "auctions": 0}
    for module, name, key in ((serve_route, "_serve", "serve"), (auctions_route, "_auctions", "auctions")):
        real = getattr(module, name)

        def counted(*a: object, _real: Callable[..., object] = real, _key: str = key) -> object:
            calls[_key] += 1
            return _real(*a)

        monkeypatch.setattr(module, name, counted)
    return calls


def test_well_formed_operator_requests_skip_the_router_with_the_same_answer(
    op: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _count_route_calls(monkeypatch)
    body = {"request_id": "r1", "user_id": "u1", "query": "usb flash drive", "slots": 4}
    first = op.post("/serve", json=body)  # the key is not yet in the accounts' memory: the app answers
    assert first.status_code == 200, first.text
    assert calls == {"serve": 1, "auctions": 0}
    again = op.post("/serve", json={**body, "request_id": "r2"})  # now the hot path does
    assert again.status_code == 200, again.text
    assert calls == {"serve": 1, "auctions": 0}
    assert again.headers["content-type"] == "application/json"
    for k, v in SECURITY_HEADERS.items():
        assert again.headers[k] == v
    a, b = first.json(), again.json()
    assert b["request_id"] == "r2" and set(b) == set(a) == {"request_id", "slots", "not_shown"}
    assert [s["product_id"] for s in b["slots"]] == [s["product_id"] for s in a["slots"]]
    r = op.post("/auctions", json={"auctions": [{"slots": 2, "query": "usb flash drive"}]})
    assert r.status_code == 200, r.text
    assert calls == {"serve": 1, "auctions": 0}
    assert r.json()["auctions"][0]["auction_id"].startswith("auc_")


def test_what_the_hot_path_does_not_accept_gets_the_apps_answer(
    op: TestClient, anon: TestClient, m1: TestClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok = {"request_id": "r1", "user_id": "u1", "query": "mouse"}
    assert op.post("/serve", json=ok).status_code == 200  # the operator's key is in memory from here on
    calls = _count_route_calls(monkeypatch)
    bad = op.post("/serve", json={**ok, "slots": 0})  # the body is handed on: the app's validation message
    assert bad.status_code == 422 and "slots" in bad.json()["detail"]
    extra = op.post("/serve", json={**ok, "surprise": 1})  # strict bodies: unknown fields are refused
    assert extra.status_code == 422
    assert anon.post("/serve", json=ok).status_code == 401
    assert m1.post("/serve", json=ok).status_code == 403  # a merchant's key, even one in memory
    assert m1.post("/serve", json=ok).status_code == 403
    revoked = op.post("/serve", json=ok, headers={"Authorization": "Bearer sw_0000_not-a-key"})
    assert revoked.status_code == 401
    assert calls["serve"] == 0  # none of these reached the handler
    assert op.get("/serve").status_code == 405  # other methods are the app's


def test_a_library_error_in_the_handler_maps_to_the_apps_status(op: TestClient) -> None:
    op.post("/serve", json={"request_id": "r0", "user_id": "u1"})
    # pydantic accepts two auctions with the same id; the engine refuses them (ValidationError → 422)
    same = [{"auction_id": "a", "slots": 1, "query": "mouse"}] * 2
    r = op.post("/auctions", json={"auctions": same})
    assert r.status_code == 422
    assert "distinct" in r.json()["detail"]
    for k, v in SECURITY_HEADERS.items():
        assert r.headers[k] == v


def test_sync_routes_run_on_a_few_threads(op: TestClient) -> None:
    """FastAPI's sync routes (``POST /events`` among them) share ``Settings.api_threads`` threads a process, 4 by
    default, not anyio's 40: a backlog of event batches let 40 into the engine at once, each spending more CPU
    in the GIL's queue (issue 24: overload A/B in docs/scaling.md)."""
    limiter = op.portal.call(anyio.to_thread.current_default_thread_limiter)  # type: ignore[union-attr]
    assert limiter.total_tokens == Settings().api_threads == 4
