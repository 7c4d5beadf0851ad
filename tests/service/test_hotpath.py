"""``service.hotpath``: ``POST /serve`` and ``POST /auctions`` answered below FastAPI's router give the app's
answers (bodies, headers, errors) and leave everything else to the app."""

from __future__ import annotations

import json
from collections.abc import Callable

import anyio.to_thread
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sitewide.service.app import SECURITY_HEADERS
from sitewide.service.routes import auctions as auctions_route
from sitewide.service.routes import serve as serve_route
from sitewide.settings import Settings


@pytest.fixture(autouse=True)
def _keys_stay_accepted(request: pytest.FixtureRequest) -> None:
    """The accounts accept a key again without a database read for ``key_cache_s`` (1 s): on a loaded machine
    two requests of a test can be further apart, and the second would go to the app. These tests are about what
    happens while the key is in memory."""
    if "app" in request.fixturenames:
        request.getfixturevalue("app").state.accounts.key_cache_s = 600.0


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


def test_a_small_body_is_handled_on_the_event_loop_a_large_one_on_the_pool(
    op: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from sitewide.service import hotpath

    threads: list[str] = []
    real = auctions_route.auctions_json

    def noted(*a: object) -> bytes:
        threads.append(threading.current_thread().name)
        return real(*a)  # type: ignore[arg-type]

    monkeypatch.setattr(auctions_route, "auctions_json", noted)
    op.post("/serve", json={"request_id": "r0", "user_id": "u1"})  # the key is in memory from here on
    small = {"auctions": [{"slots": 2, "query": "usb flash drive"}]}
    assert op.post("/auctions", json=small).status_code == 200
    ids = [f"p{i:02d}" for i in range(3)] * 2_000  # repeated known ids, a body over INLINE_MAX
    large = {"auctions": [{"slots": 2, "product_ids": ids}]}
    assert len(json.dumps(large, separators=(",", ":"))) > hotpath.INLINE_MAX
    assert op.post("/auctions", json=large).status_code == 200
    assert len(threads) == 2
    assert not threads[0].startswith("hot-path") and threads[1].startswith("hot-path")


class _Operator:
    """Accounts that know one key, the operator's."""

    def authenticated(self, key: str) -> object:
        from sitewide.domain.accounts import Principal

        return Principal("operator") if key == "k" else None


def _call_many(hot: object, bodies: list[bytes]) -> list[tuple[int, bytes]]:
    """Send ``bodies`` to the ASGI app ``hot`` at once (each read in full, as uvicorn hands a request over once
    its body is in) and return each ``(status, body)``."""
    import asyncio

    async def one(body: bytes) -> tuple[int, bytes]:
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/serve",
            "headers": [(b"authorization", b"Bearer k"), (b"content-type", b"application/json")],
        }
        sent: list[dict[str, object]] = []

        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, object]) -> None:
            sent.append(message)

        await hot(scope, receive, send)  # type: ignore[operator]
        return int(sent[0]["status"]), bytes(sent[1]["body"])  # type: ignore[call-overload]

    async def all_at_once() -> list[tuple[int, bytes]]:
        return list(await asyncio.gather(*(one(b) for b in bodies)))

    return asyncio.run(all_at_once())


def test_serve_requests_that_arrive_together_are_answered_by_one_batch_each_with_its_own_answer() -> None:
    from sitewide.api.schemas import ServeIn
    from sitewide.domain.types import NotFound
    from sitewide.service.hotpath import HotPath

    batches: list[list[str]] = []

    def single(body: ServeIn) -> bytes:
        if body.query == "missing":
            raise NotFound("no such thing")
        return json.dumps({"request_id": body.request_id}).encode()

    def batch(bodies: list[ServeIn]) -> list[bytes]:
        batches.append([b.request_id for b in bodies])
        return [single(b) for b in bodies]  # one bad body fails the whole batch

    async def app(scope: object, receive: object, send: object) -> None:
        raise AssertionError("the hot path answers these")

    hot = HotPath(app, _Operator(), {"/serve": (ServeIn, single)}, {}, batched={"/serve": batch}, max_batch=4)  # type: ignore[arg-type]
    body = '{{"request_id": "r{}", "user_id": "u", "query": "{}"}}'.format
    got = _call_many(hot, [body(i, "mouse").encode() for i in range(6)])
    assert got == [(200, json.dumps({"request_id": f"r{i}"}).encode()) for i in range(6)]
    assert batches == [["r0", "r1", "r2", "r3"], ["r4", "r5"]]  # max_batch 4: the rest in the next turn
    batches.clear()
    assert _call_many(hot, [body(9, "mouse").encode()]) == [(200, b'{"request_id": "r9"}')]
    assert batches == []  # alone: the single handler
    got = _call_many(hot, [body(i, "missing" if i == 1 else "mouse").encode() for i in range(3)])
    assert [s for s, _ in got] == [200, 404, 200]  # a failed batch: each request answered alone
    assert json.loads(got[1][1]) == {"detail": "no such thing"} and json.loads(got[2][1]) == {"request_id": "r2"}
