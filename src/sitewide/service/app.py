"""``create_app(settings)``: the FastAPI application factory. No global app, engine or connection."""

from __future__ import annotations

import os
import secrets
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sitewide.api.auctions import AuctionsIn
from sitewide.api.schemas import ServeIn
from sitewide.domain.money import MoneyError
from sitewide.domain.types import Conflict, NotFound, ValidationError
from sitewide.engine import Engine
from sitewide.engine.auctions import BidCodec
from sitewide.service.docs import mount_docs
from sitewide.service.hotpath import BatchHandler, Handler, HotPath, error_status
from sitewide.service.routes import (
    agent,
    agent_ui,
    appeals,
    auctions,
    campaign_list_ui,
    campaigns,
    campaigns_ui,
    catalogue,
    compat,
    creatives,
    creatives_ui,
    events,
    experiments,
    experiments_ui,
    forecast,
    merchants,
    operator_keys,
    products,
    products_ui,
    reports,
    serve,
    settle,
    shops,
    ui,
    whatif,
)
from sitewide.service.routes.whatif import WhatIfJobs
from sitewide.service.usecases.catalogue import CatalogueVersion
from sitewide.service.usecases.creatives import build_desk
from sitewide.service.usecases.creatives import restore as restore_creatives
from sitewide.settings import Settings
from sitewide.wiring import build_service

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",  # no-referrer would make form posts send "Origin: null"
    "Content-Security-Policy": "frame-ancestors 'none'; object-src 'none'; base-uri 'self'",
}


def _announce(key: str) -> None:
    print(f"sitewide: operator API key (shown once, store it): {key}", file=sys.stderr, flush=True)


def bid_secret(settings: Settings) -> bytes:
    """The key that signs resolved bid ids: ``SITEWIDE_BID_SECRET``, else a random one kept in
    ``data_dir/bid_secret`` (created once; every worker over the same data dir reads the same one, and bid ids
    survive restarts), else — no writable data dir — a random one for this process."""
    if settings.bid_secret:
        return settings.bid_secret.encode()
    path = Path(settings.data_dir) / "bid_secret"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another worker is writing it
            if len(key := path.read_bytes().strip()) >= 32:
                return key
            time.sleep(0.02)
        raise RuntimeError(f"{path}: unreadable bid secret (delete it to make a new one)") from None
    except OSError:
        return secrets.token_hex(32).encode()
    key = secrets.token_hex(32).encode()
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


class SecurityHeaders:
    """Every answer (the dashboard's pages included): no MIME sniffing, no framing (clickjacking), no referrer
    sent to other sites (keys in URLs), no plugins, no <base> hijack. A plain ASGI middleware that adds the
    headers to the response's start message: Starlette's ``BaseHTTPMiddleware`` (``@app.middleware``) runs
    every request through an extra task and memory stream, a fixed cost on the serving path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.raw = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                have = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in self.raw if k not in have]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _loc(loc: tuple[object, ...] | list[object]) -> str:
    parts = [str(x) for x in loc if x not in ("body", "query", "path")]
    return ".".join(parts) or "request"


def create_app(
    settings: Settings | None = None,
    engine: Engine | None = None,
    operator_key: str | None = None,
    announce: Callable[[str], None] | None = _announce,
    whatif_jobs: WhatIfJobs | None = None,
) -> FastAPI:
    """The API and the dashboard over one engine.

    ``operator_key``: register this key as the operator's (idempotent; any other configured or bootstrap
    operator key is revoked, so a restart with a new key invalidates the old one). Without it, when no operator key
    exists yet, one is generated, handed to ``announce`` once, and kept on ``app.state.bootstrap_operator_key``.
    ``whatif_jobs``: where the operator's what-if jobs run (``routes.whatif``; injected by the composition root
    ``sitewide.whatif_jobs``, since the service never imports the what-if driver); None: no what-if routes.
    """
    settings = settings or Settings()
    owns_engine = engine is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.api_threads
        yield
        app.state.accounts.close()  # buffered auction-loss counts are written
        if owns_engine:  # a clean shutdown returns this worker's unused budget leases
            app.state.engine.close()

    app = FastAPI(
        lifespan=lifespan,
        title="sitewide",
        version="0.1.0",
        docs_url=None,  # served by service.docs from local assets, not a CDN
        redoc_url=None,
        description=(
            "Sitewide promotion engine: merchants, shops, products, campaigns, serving, events, settlement, "
            "reports, eligibility, shop score, appeals and auction transparency. Authenticate with "
            "`Authorization: Bearer <key>` (or `X-API-Key`). Money is integer micros (1 CNY = 1,000,000)."
        ),
    )
    app.state.settings = settings
    app.state.whatif_jobs = whatif_jobs
    parts = build_service(settings, engine)
    app.state.engine = engine = parts.engine
    app.state.store = store = parts.store  # the port the use cases read and write through
    app.state.accounts = accounts = parts.accounts
    app.state.operator_keys = parts.operator_keys
    app.state.catalogue_version = CatalogueVersion()
    app.state.bid_codec = BidCodec(bid_secret(settings))
    app.state.creatives = build_desk(settings, store)
    restore_creatives(engine, store)
    app.state.bootstrap_operator_key = None
    accounts.ensure_merchants(s.merchant_id for s in store.list_shops())
    operator_key = operator_key if operator_key is not None else settings.operator_key
    if operator_key is not None:
        app.state.operator_keys.configure(operator_key)  # revokes a previously configured key
    elif not accounts.has_operator_key():
        key = accounts.issue_key("operator", source="bootstrap")
        app.state.bootstrap_operator_key = key
        if announce is not None:
            announce(key)
    sigs, metrics = accounts.product_signals(), accounts.shop_metrics()
    if sigs or metrics:
        engine.set_quality(sigs, metrics)

    @app.exception_handler(ValidationError)
    @app.exception_handler(MoneyError)
    @app.exception_handler(NotFound)
    @app.exception_handler(Conflict)
    async def _library_error(request: Request, exc: Exception) -> Response:
        status = error_status(exc) or 500  # one mapping, shared with the hot path
        if status == 404 and request.url.path.startswith("/ui/"):  # a dashboard page the caller cannot see
            return ui.error_page(request, ui.logged_in(request), 404, str(exc))
        return JSONResponse(status_code=status, content={"detail": str(exc)})

    @app.exception_handler(RequestValidationError)
    async def _malformed(_: Request, exc: RequestValidationError) -> JSONResponse:
        msgs = [f"{_loc(e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in exc.errors()[:10]]
        return JSONResponse(status_code=422, content={"detail": "; ".join(msgs) or "invalid request"})

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        if request.url.path.startswith("/compat/"):  # no such compat route or method: the compat error body
            answer = compat.error_response(exc)
            assert answer is not None
            return answer
        return JSONResponse(
            status_code=exc.status_code, content={"detail": str(exc.detail)}, headers=exc.headers
        )

    app.add_middleware(SecurityHeaders)
    codec = app.state.bid_codec
    hot: dict[str, tuple[type[BaseModel], Handler]] = {  # answered below the router when well-formed
        "/serve": (ServeIn, lambda body: serve.serve_json(body, engine, accounts)),
        "/auctions": (AuctionsIn, lambda body: auctions.auctions_json(body, engine, codec)),
    }
    batched: dict[str, BatchHandler] = {  # the /serve requests that arrive together: one batch
        "/serve": lambda bodies: serve.serve_json_many(bodies, engine, accounts),
    }
    app.add_middleware(HotPath, accounts=accounts, routes=hot, headers=SECURITY_HEADERS, batched=batched)

    @app.get("/health", tags=["meta"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    for r in (
        merchants.router,
        operator_keys.router,
        shops.router,
        products.router,
        campaigns.router,
        experiments.router,
        catalogue.router,
        serve.router,
        auctions.router,
        compat.router,
        events.router,
        settle.router,
        reports.router,
        forecast.router,
        appeals.router,
        creatives.router,
        ui.router,
        campaigns_ui.router,
        campaign_list_ui.router,
        products_ui.router,
        creatives_ui.router,
        experiments_ui.router,
        agent.router,
        agent_ui.router,
    ):
        app.include_router(r)
    if whatif_jobs is not None:  # the operator's what-if jobs, where the composition root provides them
        app.include_router(whatif.router)
    ui.mount(app)
    mount_docs(app)
    return app
