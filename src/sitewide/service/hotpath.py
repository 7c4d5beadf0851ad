"""The serving hot path: ``POST /serve`` and ``POST /auctions`` answered below FastAPI's router.

A request on these two routes costs the engine about 1–2 ms of CPU; FastAPI's generic machinery around it
(matching the path against every route of two dozen routers, the dependency solver, the exception, body-limit and
exit-stack middlewares, a request object, anyio's capacity-limited thread hop) cost as much again. :class:`HotPath`
is a plain ASGI layer in front of the app that answers a *well-formed, authorised* request on these routes
itself, with the same body models, the same handlers and the same JSON:

- the body is validated by the route's own pydantic model from the raw bytes (``model_validate_json``);
- the caller is the operator by a key the accounts accepted moments ago (the same memory ``get_principal``
  reads first, revocations included);
- the route's handler (``service.routes.serve.serve_json`` / ``service.routes.auctions.auctions_json``) runs
  on the event loop itself when the body is small (:data:`INLINE_MAX`), else on a small thread pool of its own;
- ``POST /serve`` requests that arrive together are answered by one batch (``serve_json_many``, one
  ``Engine.serve_many`` call): the first one queued schedules the batch for the end of the loop's turn, so the
  batch holds every request read in that turn (up to :data:`MAX_BATCH`), and a request that comes alone is
  served alone, without waiting for company;
- the library's typed errors map to the same status codes and ``{"detail": ...}`` bodies as the app's
  exception handlers (:func:`error_status`); when a batch fails, each of its requests is answered alone, so
  that an error is the answer of the request that caused it only.

Why on the loop: the handler is CPU work in Python that holds the GIL for nearly all of its ~1 ms (the engine's
many small numpy calls do not release it), so a thread cannot run it beside the loop anyway; the hop only added
the executor's futures, a wake-up of the loop from the thread, and the loop's and the pool's threads contending
for the GIL. What it costs: while a handler runs, the worker's other requests wait for it, as they waited for
the GIL before; no request waits for more than the batch it is in. A large body (up to 5 auctions of up to
10,000 ids each: tens of ms) still goes to the pool, so that the loop keeps answering the small ones meanwhile.

Why batches: the engine serves R requests with the same numpy calls as one (``Engine.serve_batch``); on the
2,000-product catalogue its CPU for a batch of 8 is ~0.11 ms a request against ~0.49 one at a time (in
process). Under load requests queue while a batch runs, so the next batch is larger: the cost per request falls
as the load rises. ``bench/serving_http.py``'s c16 load on ``sitewide serve --workers 2`` (same-minute A/B on
the 2-core machine, 16:42-16:45 UTC, load ~3 of its own): the thread hop 649-971 req/s at 1.96-2.87 ms of
server CPU a request; on the loop 744-1,524 req/s at 1.21-2.49 ms; on the loop in batches 1,419-2,455 req/s at
0.75-1.31 ms.
A batch's requests all see the engine's state (pacing, value calibration) as it was before the batch, as the
simulator's ``/serve/batch`` requests do.

Anything else — another path or method, a body that does not validate, a key not in memory, a caller who is not
the operator — goes to FastAPI unchanged (the body already read is handed on), so error answers, the OpenAPI
schema and every other route are exactly the app's.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydantic import BaseModel
from pydantic import ValidationError as BodyError
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sitewide.domain.money import MoneyError
from sitewide.domain.types import Conflict, NotFound, ValidationError
from sitewide.ports import ServiceRecords

MAX_BODY = 4 << 20  # bytes; a larger body (5 auctions of 10,000 ids is ~2 MB) takes the app's path
INLINE_MAX = 16 << 10  # bytes (~600 candidate ids); a body up to this size is handled on the event loop itself
THREADS = 4  # handler threads per process: the engine holds the GIL, more threads only queue for it

MAX_BATCH = 32  # requests answered by one call of a route's batch handler
Handler = Callable[[Any], bytes]
BatchHandler = Callable[[list[Any]], list[bytes]]  # the answers to several bodies, in their order


def error_status(exc: Exception) -> int | None:
    """The status the app answers for a library error (``create_app``'s exception handlers), None for others."""
    if isinstance(exc, (ValidationError, MoneyError)):
        return 422
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    return None


class HotPath:
    """ASGI: ``routes`` maps a POST path to ``(body model, handler)``; the handler takes the validated body and
    returns the JSON response bytes. ``headers``: extra response headers (the app's security headers).
    ``batched``: for some of those paths, a handler of several bodies at once (see the module's text)."""

    def __init__(
        self,
        app: ASGIApp,
        accounts: ServiceRecords,
        routes: dict[str, tuple[type[BaseModel], Handler]],
        headers: dict[str, str],
        threads: int = THREADS,
        batched: dict[str, BatchHandler] | None = None,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self.app = app
        self.accounts = accounts
        self.routes = routes
        self.headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="hot-path")
        self.batched = batched or {}
        self.max_batch = max_batch
        self.queued: dict[str, list[tuple[BaseModel, asyncio.Future[bytes]]]] = {}  # the loop's thread only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.routes.get(scope["path"]) if scope["type"] == "http" else None
        if route is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body, more = await _read(receive)
        parsed = None if more else self._accept(scope, route[0], body)
        if parsed is None:  # not ours to answer: the app sees the request as it came
            await self.app(scope, _replay(body, more, receive), send)
            return
        path = scope["path"]
        try:
            if len(body) > INLINE_MAX:  # a large request: on the pool, the loop answers others meanwhile
                loop = asyncio.get_running_loop()
                status, payload = 200, await loop.run_in_executor(self.pool, route[1], parsed)
            elif path in self.batched:  # with the requests that arrived together, in one batch on the loop
                status, payload = 200, await self._queue(path, parsed)
            else:  # one small request's own work: on the loop, no thread hop
                status, payload = 200, route[1](parsed)
        except Exception as exc:  # noqa: BLE001 - a library error gets the app's answer, others propagate
            status = error_status(exc) or 0
            if not status:
                raise
            payload = json.dumps({"detail": str(exc)}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    *self.headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    def _queue(self, path: str, parsed: BaseModel) -> asyncio.Future[bytes]:
        """The answer to come for ``parsed``: the first request queued schedules :meth:`_drain`, which runs
        after the requests already read in this turn of the loop have been queued too."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[bytes] = loop.create_future()
        queued = self.queued.setdefault(path, [])
        queued.append((parsed, answer))
        if len(queued) == 1:
            loop.call_soon(self._drain, path)
        return answer

    def _drain(self, path: str) -> None:
        """Answer up to :data:`MAX_BATCH` queued requests of ``path`` with one call of its batch handler (the
        rest in the loop's next turn). When the batch fails, each request is answered alone, so that one
        request's error is its own answer and not its neighbours'."""
        queued = [(b, a) for b, a in self.queued.pop(path, []) if not a.done()]  # done: the caller went away
        now, later = queued[: self.max_batch], queued[self.max_batch :]
        if later:
            self.queued[path] = later
            asyncio.get_running_loop().call_soon(self._drain, path)
        if not now:
            return
        single = self.routes[path][1]
        try:
            payloads = self.batched[path]([b for b, _ in now]) if len(now) > 1 else [single(now[0][0])]
        except Exception:  # noqa: BLE001 - answered one by one below, each with its own outcome
            payloads = None
        for i, (b, answer) in enumerate(now):
            try:
                payload = payloads[i] if payloads is not None else single(b)
            except Exception as exc:  # noqa: BLE001 - the request's own error, raised in its own task
                if not answer.done():
                    answer.set_exception(exc)
                continue
            if not answer.done():
                answer.set_result(payload)

    def _accept(self, scope: Scope, model: type[BaseModel], body: bytes) -> BaseModel | None:
        """The validated body when the caller is the operator by a key in the accounts' memory, else None."""
        key = presented_key(Headers(scope=scope))
        who = self.accounts.authenticated(key) if key else None
        if who is None or not who.is_operator:
            return None
        try:
            return model.model_validate_json(body)
        except BodyError:
            return None


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key a request presents: ``Authorization: Bearer <key>`` first, then ``X-API-Key`` (the app's
    ``deps.get_principal`` and this hot path both read it here)."""
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    if key := headers.get("x-api-key"):
        return key.strip() or None
    return None


async def _read(receive: Receive) -> tuple[bytes, bool]:
    """The request body, up to :data:`MAX_BODY` bytes; ``more``: the client sent more than that (not read)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away: the app handles the disconnect
            return b"".join(chunks), True
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), False
        if size > MAX_BODY:
            return b"".join(chunks), True


def _replay(body: bytes, more: bool, receive: Receive) -> Receive:
    """A ``receive`` that first hands on the body already read (then the rest, if any, from ``receive``)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": more}
        return await receive()

    return replay
