"""``create_app(settings)``: the FastAPI application factory. No global app, engine or connection."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from sitewide.catalogue import packaged_catalogue
from sitewide.domain.money import MoneyError
from sitewide.domain.types import Conflict, NotFound, ValidationError
from sitewide.engine import Engine, EngineConfig
from sitewide.ports import Store
from sitewide.service.routes import campaigns, catalogue, events, reports, serve, settle
from sitewide.settings import Settings
from sitewide.storage.sql import SqlStore


def build_engine(
    settings: Settings, store: Store | None = None, config: EngineConfig | None = None
) -> Engine:
    store = store or SqlStore.from_url(settings.store_url())
    if settings.load_catalogue and not store.list_products():
        shops, products = packaged_catalogue()
        store.upsert_shops(shops)
        store.upsert_products(products)
    return Engine(store, config)


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    settings = settings or Settings()
    app = FastAPI(
        title="sitewide",
        version="0.1.0",
        description="Sitewide promotion engine: campaigns, serving, events, settlement and reports.",
    )
    app.state.settings = settings
    app.state.engine = engine or build_engine(settings)
    app.state.catalogue_version = 1

    @app.exception_handler(ValidationError)
    @app.exception_handler(MoneyError)
    async def _invalid(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": str(exc)})

    @app.exception_handler(NotFound)
    async def _missing(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(status_code=404, content={"detail": str(exc)})

    @app.exception_handler(Conflict)
    async def _conflict(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(status_code=409, content={"detail": str(exc)})

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    for r in (campaigns.router, catalogue.router, serve.router, events.router, settle.router, reports.router):
        app.include_router(r)
    return app
