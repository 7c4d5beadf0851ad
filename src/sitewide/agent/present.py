"""The agent's typed results as the API's bodies (:mod:`sitewide.api.agent`)."""

from __future__ import annotations

from dataclasses import fields

from sitewide.agent.apply import JournalEntry
from sitewide.agent.ask import Answer
from sitewide.agent.types import Action, Citation, Finding
from sitewide.api import fields_of
from sitewide.api.agent import (
    ActionOut,
    AnswerOut,
    CitationOut,
    FindingOut,
    FindingsOut,
    JournalEntryOut,
    SuggestionOut,
    ToolCallOut,
)


def citation_out(c: Citation) -> CitationOut:
    return CitationOut(source=c.source, ids=list(c.ids), values=dict(c.values))


def action_out(a: Action) -> ActionOut:
    return ActionOut(**{f.name: getattr(a, f.name) for f in fields(a)})


def finding_out(f: Finding) -> FindingOut:
    s = f.suggestion
    suggestion = None if s is None else fields_of(SuggestionOut, s, action=action_out(s.action))
    evidence = [citation_out(c) for c in f.evidence]
    return fields_of(FindingOut, f, kind=f.kind.value, evidence=evidence, suggestion=suggestion)


def findings_out(merchant_id: str, day: str, fs: list[Finding]) -> FindingsOut:
    return FindingsOut(merchant_id=merchant_id, day=day, findings=[finding_out(f) for f in fs])


def answer_out(a: Answer) -> AnswerOut:
    calls = [ToolCallOut(name=c.name, args=dict(c.args), result=c.result) for c in a.calls]
    return fields_of(AnswerOut, a, citations=[citation_out(c) for c in a.citations], calls=calls)


def entry_out(e: JournalEntry) -> JournalEntryOut:
    inverse = None if e.inverse is None else action_out(e.inverse)
    return fields_of(JournalEntryOut, e, action=action_out(e.action), inverse=inverse)
