"""Dependencies declared once and used by the thin routers: the engine, the ports the composition root handed
to the app (store, accounts), the catalogue version, the creative desk and the caller.

Authentication: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``; the dashboard's login cookie is
accepted for reads (GET) only, so a cross-site form cannot change anything with it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from sitewide.domain.accounts import Principal
from sitewide.engine import Engine
from sitewide.ports import ServiceRecords, Store
from sitewide.service.usecases.catalogue import CatalogueVersion
from sitewide.service.usecases.creatives import CreativeDesk

COOKIE = "sitewide_key"


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def get_catalogue_version(request: Request) -> CatalogueVersion:
    version: CatalogueVersion = request.app.state.catalogue_version
    return version


def get_desk(request: Request) -> CreativeDesk:
    desk: CreativeDesk = request.app.state.creatives
    return desk


def get_accounts(request: Request) -> ServiceRecords:
    accounts: ServiceRecords = request.app.state.accounts
    return accounts


def presented_key(request: Request, allow_cookie: bool) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    if key := request.headers.get("x-api-key"):
        return key.strip() or None
    if allow_cookie:
        return request.cookies.get(COOKIE) or None
    return None


def get_principal(request: Request) -> Principal:
    key = presented_key(request, allow_cookie=request.method == "GET")
    if key is None:
        raise HTTPException(
            401, "missing API key (Authorization: Bearer <key> or X-API-Key)", {"WWW-Authenticate": "Bearer"}
        )
    p = get_accounts(request).authenticate(key)
    if p is None:
        raise HTTPException(401, "invalid or revoked API key", {"WWW-Authenticate": "Bearer"})
    return p


def require_operator(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if not principal.is_operator:
        raise HTTPException(403, "this call needs the operator key")
    return principal


EngineDep = Annotated[Engine, Depends(get_engine)]
StoreDep = Annotated[Store, Depends(get_store)]
VersionDep = Annotated[CatalogueVersion, Depends(get_catalogue_version)]
DeskDep = Annotated[CreativeDesk, Depends(get_desk)]
AccountsDep = Annotated[ServiceRecords, Depends(get_accounts)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
OperatorDep = Annotated[Principal, Depends(require_operator)]
