"""Dependencies declared once and used by the thin routers: the engine, the ports the composition root handed
to the app (store, accounts), the catalogue version, the creative desk, the agent desk and the caller.

Authentication: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``; the dashboard's login cookie is
accepted for reads (GET) only, so a cross-site form cannot change anything with it.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool

from sitewide.agent.apply import Journal
from sitewide.agent.llm import LLMAsker, OfflineAsker, make_asker
from sitewide.api.schemas import ErrorOut
from sitewide.domain.accounts import Principal
from sitewide.engine import Engine
from sitewide.ports import KeyAdmin, ServiceRecords, Store
from sitewide.service.hotpath import presented_key
from sitewide.service.scope import Paging, PagingDep
from sitewide.service.usecases.catalogue import CatalogueVersion
from sitewide.service.usecases.creatives import CreativeDesk
from sitewide.settings import Settings

COOKIE = "sitewide_key"


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of a route's error answers: each status has the ``{"detail": ...}`` body."""
    return {s: {"model": ErrorOut} for s in statuses}


def from_state(name: str) -> Callable[[Request], Awaitable[Any]]:
    """A dependency handing out what the app factory put on ``app.state.<name>``. Async: FastAPI runs a plain
    ``def`` dependency on a worker thread, a hop per dependency per request for an attribute read."""

    async def get(request: Request) -> Any:
        return getattr(request.app.state, name)

    get.__name__ = f"get_{name}"
    return get


def get_accounts(request: Request) -> ServiceRecords:
    accounts: ServiceRecords = request.app.state.accounts
    return accounts


def request_key(request: Request, allow_cookie: bool) -> str | None:
    """The key the request presents in its headers (:func:`hotpath.presented_key`), else, when allowed, the
    dashboard's login cookie."""
    if key := presented_key(request.headers):
        return key
    return (request.cookies.get(COOKIE) or None) if allow_cookie else None


async def get_principal(request: Request) -> Principal:
    """The caller. A key accepted moments ago is taken from the accounts' memory (no worker-thread hop, no
    database read; revocations in this process apply at once, in another within a second), else it is read
    on a worker thread."""
    key = request_key(request, allow_cookie=request.method == "GET")
    if key is None:
        raise HTTPException(
            401, "missing API key (Authorization: Bearer <key> or X-API-Key)", {"WWW-Authenticate": "Bearer"}
        )
    accounts = get_accounts(request)
    p = accounts.authenticated(key) or await run_in_threadpool(accounts.authenticate, key)
    if p is None:
        raise HTTPException(401, "invalid or revoked API key", {"WWW-Authenticate": "Bearer"})
    return p


async def require_operator(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if not principal.is_operator:
        raise HTTPException(403, "this call needs the operator key")
    return principal


EngineDep = Annotated[Engine, Depends(from_state("engine"))]
StoreDep = Annotated[Store, Depends(from_state("store"))]
VersionDep = Annotated[CatalogueVersion, Depends(from_state("catalogue_version"))]
DeskDep = Annotated[CreativeDesk, Depends(from_state("creatives"))]
KeysDep = Annotated[KeyAdmin, Depends(from_state("operator_keys"))]
AccountsDep = Annotated[ServiceRecords, Depends(from_state("accounts"))]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
OperatorDep = Annotated[Principal, Depends(require_operator)]


# query parameters that several routes take: each limit defined once
TargetRoiQuery = Annotated[Decimal, Query(ge=Decimal("0.10"), le=100, max_digits=8, decimal_places=2)]
DailyBudgetQuery = Annotated[int, Query(ge=10_000, le=10**13)]
CampaignIdQuery = Annotated[str | None, Query(max_length=64)]
MerchantIdQuery = Annotated[str | None, Query(max_length=64, description="operator only")]


@dataclass(frozen=True, slots=True)
class Listing:
    """A list request over objects merchants own (shops, campaigns, experiments): the page asked for, the
    store, the caller and the ``merchant_id`` query parameter (the operator's filter; a merchant sees its own)."""

    paging: Paging
    store: Store
    who: Principal
    merchant_id: str | None


def listing(
    paging: PagingDep,
    store: StoreDep,
    who: PrincipalDep,
    merchant_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Listing:
    return Listing(paging, store, who, merchant_id)


ListingDep = Annotated[Listing, Depends(listing)]


_DESK_LOCK = threading.Lock()


@dataclass
class AgentDesk:
    """The merchant decision agent's journal and question backend (``app.state.agent``)."""

    journal: Journal
    asker: LLMAsker | OfflineAsker


def agent_desk(request: Request) -> AgentDesk:
    """The app's agent desk, made on first use: the journal under ``data_dir`` (``agent_journal.jsonl``) and
    the question backend the settings name (the creative studio's LLM settings; offline without them)."""
    state = request.app.state
    with _DESK_LOCK:
        desk = getattr(state, "agent", None)
        if desk is None:
            s: Settings = state.settings
            desk = AgentDesk(
                Journal(s.data_dir / "agent_journal.jsonl"),
                make_asker(s.llm_url, s.llm_key, s.llm_model, s.llm_timeout_s),
            )
            state.agent = desk
    return desk


AgentDeskDep = Annotated[AgentDesk, Depends(agent_desk)]
