"""Console page of the merchant decision agent: the day's findings with their evidence and suggestions (apply
with one click), a question box (English or Chinese) and the journal of applied suggestions (undo). Same
login, scoping and same-origin rule as the rest of the dashboard (:mod:`.ui`); the work is :mod:`sitewide.agent`."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from sitewide.agent.apply import actor, apply_current, undo
from sitewide.agent.ask import Answer
from sitewide.agent.facts import Scope, findings
from sitewide.domain.types import Conflict, NotFound, ValidationError
from sitewide.service.deps import agent_desk
from sitewide.service.routes.ui import FormUi, PageUi, Ui, redirect

router = APIRouter(prefix="/ui", include_in_schema=False)


def _scope(ui: Ui, merchant_id: str | None) -> Scope | None:
    if ui.who.is_operator and not merchant_id:
        return None
    return Scope.of(ui.engine, ui.store, ui.accounts, ui.who, merchant_id or None)


def _view(
    ui: Ui,
    request: Request,
    merchant_id: str | None,
    answer: Answer | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    scope = _scope(ui, merchant_id)
    if scope is None:
        merchants = sorted({c.merchant_id for c in ui.store.list_campaigns()})
        return ui.page("agent.html", status=status, scope=None, merchants=merchants, error=error)
    facts, got = findings(scope, None)
    desk = agent_desk(request)
    return ui.page(
        "agent.html",
        status=status,
        scope=scope,
        mid=scope.merchant_id if ui.who.is_operator else "",
        day=facts.day,
        findings=got,
        answer=answer,
        journal=desk.journal.entries(scope.merchant_id)[:50],
        undone={e.undoes for e in desk.journal.entries(scope.merchant_id) if e.undoes},
        error=error,
    )


def _back(mid: str) -> str:
    return f"/ui/agent?merchant_id={mid}" if mid else "/ui/agent"


@router.get("/agent", response_class=HTMLResponse, response_model=None)
def agent_page(ui: PageUi, request: Request, merchant_id: str = "") -> Response:
    return _view(ui, request, merchant_id)


@router.post("/agent/ask", response_class=HTMLResponse, response_model=None)
def ask_form(ui: FormUi, request: Request, question: str = Form(""), merchant_id: str = Form("")) -> Response:
    scope = _scope(ui, merchant_id)
    if scope is None or not question.strip():
        return _view(ui, request, merchant_id, error="ask a question", status=422)
    answer = agent_desk(request).asker.ask(scope, question.strip()[:2_000])
    return _view(ui, request, merchant_id, answer=answer)


@router.post("/agent/apply", response_class=HTMLResponse, response_model=None)
def apply_form(
    ui: FormUi, request: Request, suggestion_id: str = Form(""), merchant_id: str = Form("")
) -> Response:
    scope = _scope(ui, merchant_id)
    if scope is None:
        return _view(ui, request, merchant_id, error="choose a merchant", status=422)
    try:
        apply_current(scope, suggestion_id, None, agent_desk(request).journal, ui.who)
    except (NotFound, ValidationError, Conflict) as exc:
        return _view(ui, request, merchant_id, error=str(exc), status=422)
    return redirect(_back(merchant_id))


@router.post("/agent/undo/{entry_id}", response_class=HTMLResponse, response_model=None)
def undo_form(ui: FormUi, request: Request, entry_id: str, merchant_id: str = Form("")) -> Response:
    scope = _scope(ui, merchant_id)
    if scope is None:
        return _view(ui, request, merchant_id, error="choose a merchant", status=422)
    try:
        undo(scope, agent_desk(request).journal, entry_id, actor(ui.who))
    except (NotFound, ValidationError, Conflict) as exc:
        return _view(ui, request, merchant_id, error=str(exc), status=422)
    return redirect(_back(merchant_id))
