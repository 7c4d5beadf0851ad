"""The merchant decision agent's API: findings, questions, one-click apply (audited, reversible) and the daily
digest. A merchant always acts for itself; the operator names the merchant (``merchant_id``). The work is in
:mod:`sitewide.agent`; the agent's desk (journal, question backend) lives on ``app.state.agent``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from sitewide.agent.apply import actor, apply_current, undo
from sitewide.agent.digest import daily_digest, render
from sitewide.agent.facts import Scope, findings
from sitewide.agent.present import answer_out, entry_out, findings_out
from sitewide.api.agent import AnswerOut, ApplyIn, AskIn, DigestOut, FindingsOut, JournalEntryOut
from sitewide.api.schemas import Day, Id
from sitewide.service.deps import AccountsDep, AgentDeskDep, EngineDep, PrincipalDep, StoreDep, errors

router = APIRouter(prefix="/agent", tags=["agent"], responses=errors(401))


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
    body: AskIn,
    engine: EngineDep,
    store: StoreDep,
    accounts: AccountsDep,
    who: PrincipalDep,
    desk: AgentDeskDep,
) -> AnswerOut:
    """A question in English or Chinese, answered from the merchant's own reports (offline templates, or the
    configured model calling the same read-only tools) with the rows it used."""
    scope = Scope.of(engine, store, accounts, who, body.merchant_id)
    return answer_out(desk.asker.ask(scope, body.question))


@router.post("/apply", status_code=201, response_model=JournalEntryOut, responses=errors(404, 409, 422))
def apply(
    body: ApplyIn,
    engine: EngineDep,
    store: StoreDep,
    accounts: AccountsDep,
    who: PrincipalDep,
    desk: AgentDeskDep,
) -> JournalEntryOut:
    """Apply a suggestion the agent makes now, through the same use cases as the API; recorded in the journal
    with who, when, what and the inverse action."""
    scope = Scope.of(engine, store, accounts, who, body.merchant_id)
    return entry_out(apply_current(scope, body.suggestion_id, body.day, desk.journal, who))


@router.get("/journal", response_model=list[JournalEntryOut])
def journal(scope: ScopeDep, desk: AgentDeskDep) -> list[JournalEntryOut]:
    """The merchant's applied suggestions and undos, newest first."""
    return [entry_out(e) for e in desk.journal.entries(scope.merchant_id)]


@router.post(
    "/journal/{entry_id}/undo", status_code=201, response_model=JournalEntryOut, responses=errors(404, 409)
)
def undo_entry(entry_id: str, scope: ScopeDep, desk: AgentDeskDep, who: PrincipalDep) -> JournalEntryOut:
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
