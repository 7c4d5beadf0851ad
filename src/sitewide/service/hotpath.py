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
  on a small thread pool of its own, off the event loop, one hop;
- the library's typed errors map to the same status codes and ``{"detail": ...}`` bodies as the app's
  exception handlers (:func:`error_status`).

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
THREADS = 4  # handler threads per process: the engine holds the GIL, more threads only queue for it

Handler = Callable[[Any], bytes]


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
    returns the JSON response bytes. ``headers``: extra response headers (the app's security headers)."""

    def __init__(
        self,
        app: ASGIApp,
        accounts: ServiceRecords,
        routes: dict[str, tuple[type[BaseModel], Handler]],
        headers: dict[str, str],
        threads: int = THREADS,
    ) -> None:
        self.app = app
        self.accounts = accounts
        self.routes = routes
        self.headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="hot-path")

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
        loop = asyncio.get_running_loop()
        try:
            status, payload = 200, await loop.run_in_executor(self.pool, route[1], parsed)
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
