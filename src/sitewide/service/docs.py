"""The API docs (Swagger UI at ``/docs``, ReDoc at ``/redoc``) served from this process, not from a CDN.

FastAPI's default docs pages load Swagger UI and ReDoc from a public CDN, so they are blank on a machine
without internet. The same assets ship in the ``fastapi-offline`` wheel (MIT, Swagger UI and ReDoc are
Apache-2.0/MIT); only its static files are used here, mounted under ``/docs-static``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

STATIC_PREFIX = "/docs-static"


def _assets() -> Path:
    import fastapi_offline

    return Path(fastapi_offline.__file__).resolve().parent / "static"


def mount_docs(app: FastAPI) -> None:
    """Serve ``/docs`` and ``/redoc`` with local assets, and send ``/`` to the dashboard.

    The app must be created with ``docs_url=None, redoc_url=None`` so that FastAPI's CDN pages are not
    registered first."""
    app.mount(STATIC_PREFIX, StaticFiles(directory=_assets()), name="docs-static")
    title = f"{app.title} API"
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=title,
            swagger_js_url=f"{STATIC_PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{STATIC_PREFIX}/swagger-ui.css",
            swagger_favicon_url=f"{STATIC_PREFIX}/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=title,
            redoc_js_url=f"{STATIC_PREFIX}/redoc.standalone.js",
            redoc_favicon_url=f"{STATIC_PREFIX}/favicon.png",
            with_google_fonts=False,
        )

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=307)
