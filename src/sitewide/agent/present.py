"""The agent's typed results as the API's bodies (:mod:`sitewide.api.agent`)."""

from __future__ import annotations

from dataclasses import fields

from sitewide.agent.apply import JournalEntry
from sitewide.agent.ask import Answer
from sitewide.agent.types import Action, Citation, Finding
from sitewide.api.agent import (
    ActionOut,
    AnswerOut,
    CitationOut,
    EffectOut,
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
    return FindingOut(
        kind=f.kind.value,
        subject=f.subject,
        severity=f.severity,
        en=f.en,
        zh=f.zh,
        evidence=[citation_out(c) for c in f.evidence],
        suggestion=None
        if s is None
        else SuggestionOut(
            id=s.id,
            action=action_out(s.action),
            effect=EffectOut(
                gmv_micros_per_day=s.effect.gmv_micros_per_day,
                spend_micros_per_day=s.effect.spend_micros_per_day,
                basis=s.effect.basis,
                note=s.effect.note,
            ),
            title_en=s.title_en,
            title_zh=s.title_zh,
        ),
    )


def findings_out(merchant_id: str, day: str, fs: list[Finding]) -> FindingsOut:
    return FindingsOut(merchant_id=merchant_id, day=day, findings=[finding_out(f) for f in fs])


def answer_out(a: Answer) -> AnswerOut:
    return AnswerOut(
        question=a.question,
        lang=a.lang,
        text=a.text,
        citations=[citation_out(c) for c in a.citations],
        calls=[ToolCallOut(name=c.name, args=dict(c.args), result=c.result) for c in a.calls],
        backend=a.backend,
        error=a.error,
    )


def entry_out(e: JournalEntry) -> JournalEntryOut:
    return JournalEntryOut(
        id=e.id,
        ts_ms=e.ts_ms,
        actor=e.actor,
        merchant_id=e.merchant_id,
        suggestion_id=e.suggestion_id,
        action=action_out(e.action),
        inverse=None if e.inverse is None else action_out(e.inverse),
        result=e.result,
        undoes=e.undoes,
    )
