"""The merchant decision agent's API: findings, questions, one-click apply (audited, reversible) and the daily
digest. A merchant always acts for itself; the operator names the merchant (``merchant_id``). The work is in
:mod:`sitewide.agent`; the agent's desk (journal, question backend) lives on ``app.state.agent``."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from sitewide.agent.apply import Journal, apply_suggestion, undo
from sitewide.agent.digest import daily_digest, render
from sitewide.agent.facts import Scope, findings
from sitewide.agent.llm import LLMAsker, OfflineAsker, make_asker
from sitewide.agent.present import answer_out, entry_out, findings_out
from sitewide.agent.types import Suggestion
from sitewide.api.agent import AnswerOut, ApplyIn, AskIn, DigestOut, FindingsOut, JournalEntryOut
from sitewide.api.schemas import Day, Id
from sitewide.domain.accounts import Principal
from sitewide.domain.types import NotFound, ValidationError
from sitewide.service.deps import AccountsDep, EngineDep, PrincipalDep, StoreDep, errors
from sitewide.settings import Settings

router = APIRouter(prefix="/agent", tags=["agent"], responses=errors(401))
_LOCK = threading.Lock()


@dataclass
class AgentDesk:
    journal: Journal
    asker: LLMAsker | OfflineAsker


def agent_desk(request: Request) -> AgentDesk:
    """The app's agent desk, made on first use: the journal under ``data_dir`` (``agent_journal.jsonl``) and
    the question backend the settings name (the creative studio's LLM settings; offline without them)."""
    state = request.app.state
    with _LOCK:
        desk = getattr(state, "agent", None)
        if desk is None:
            s: Settings = state.settings
            desk = AgentDesk(
                Journal(s.data_dir / "agent_journal.jsonl"),
                make_asker(s.llm_url, s.llm_key, s.llm_model, s.llm_timeout_s),
            )
            state.agent = desk
    return desk


DeskDep = Annotated[AgentDesk, Depends(agent_desk)]
MerchantQ = Annotated[Id | None, Query(description="required for the operator")]


def merchant_scope(
    engine: EngineDep,
    store: StoreDep,
    accounts: AccountsDep,
    who: PrincipalDep,
    merchant_id: MerchantQ = None,
) -> Scope:
    """The merchant a call without a body acts for: the caller itself, or the one the operator names."""
    return Scope.of(engine, store, accounts, who, merchant_id)


ScopeDep = Annotated[Scope, Depends(merchant_scope)]


def actor(who: Principal) -> str:
    return f"{who.role}:{who.merchant_id or ''}:{who.key_prefix}"


def find_suggestion(scope: Scope, suggestion_id: str, day: str | None) -> Suggestion:
    """The suggestion as the agent makes it now (never one the caller wrote): recomputed for the day."""
    _, got = findings(scope, day)
    s = next((f.suggestion for f in got if f.suggestion and f.suggestion.id == suggestion_id), None)
    if s is None:
        raise NotFound(f"suggestion {suggestion_id} not found (the agent does not make it now)")
    return s


@router.get("/findings", response_model=FindingsOut, responses=errors(404, 422))
def get_findings(
    engine: EngineDep,
    store: StoreDep,
    accounts: AccountsDep,
    who: PrincipalDep,
    day: Day | None = None,
    merchant_id: MerchantQ = None,
) -> FindingsOut:
    """Diagnoses of the merchant's campaigns, products, shops and creatives for ``day`` (default: its last
    settled day): each finding with the rows it rests on and a suggestion with its expected effect."""
    scope = Scope.of(engine, store, accounts, who, merchant_id)
    facts, got = findings(scope, day)
    return findings_out(scope.merchant_id, facts.day, got)


@router.post("/ask", response_model=AnswerOut, responses=errors(404, 422))
def ask(
    body: AskIn, engine: EngineDep, store: StoreDep, accounts: AccountsDep, who: PrincipalDep, desk: DeskDep
) -> AnswerOut:
    """A question in English or Chinese, answered from the merchant's own reports (offline templates, or the
    configured model calling the same read-only tools) with the rows it used."""
    scope = Scope.of(engine, store, accounts, who, body.merchant_id)
    return answer_out(desk.asker.ask(scope, body.question))


@router.post("/apply", status_code=201, response_model=JournalEntryOut, responses=errors(404, 409, 422))
def apply(
    body: ApplyIn, engine: EngineDep, store: StoreDep, accounts: AccountsDep, who: PrincipalDep, desk: DeskDep
) -> JournalEntryOut:
    """Apply a suggestion the agent makes now, through the same use cases as the API; recorded in the journal
    with who, when, what and the inverse action."""
    scope = Scope.of(engine, store, accounts, who, body.merchant_id)
    s = find_suggestion(scope, body.suggestion_id, body.day)
    if not s.action.one_click:
        raise ValidationError(f"suggestion {s.id} is advice ({s.action.kind.value}): nothing to apply")
    return entry_out(apply_suggestion(scope, s, desk.journal, actor(who)))


@router.get("/journal", response_model=list[JournalEntryOut])
def journal(scope: ScopeDep, desk: DeskDep) -> list[JournalEntryOut]:
    """The merchant's applied suggestions and undos, newest first."""
    return [entry_out(e) for e in desk.journal.entries(scope.merchant_id)]


@router.post(
    "/journal/{entry_id}/undo", status_code=201, response_model=JournalEntryOut, responses=errors(404, 409)
)
def undo_entry(entry_id: str, scope: ScopeDep, desk: DeskDep, who: PrincipalDep) -> JournalEntryOut:
    """Apply the stored inverse of an applied suggestion (once; an appeal cannot be undone: 409)."""
    return entry_out(undo(scope, desk.journal, entry_id, actor(who)))


@router.get("/digest", response_model=DigestOut)
def digest(
    engine: EngineDep, store: StoreDep, accounts: AccountsDep, who: PrincipalDep, day: Day | None = None
) -> DigestOut:
    """The day's findings: the operator's for every merchant with campaigns, a merchant's for itself."""
    d = daily_digest(engine, store, accounts, who, day)
    return DigestOut(
        day=day,
        merchants=[findings_out(x.merchant_id, x.day, list(x.findings)) for x in d],
        text_en=render(d, "en"),
        text_zh=render(d, "zh"),
    )
