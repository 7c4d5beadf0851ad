"""Bodies of the merchant decision agent's endpoints: findings with their evidence and suggestions, questions
and answers with citations, applied suggestions (the audit journal) and the daily digest."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, computed_field
from pydantic.dataclasses import dataclass

from sitewide.agent.types import Action, Effect
from sitewide.api.schemas import Day, Id, Strict


class CitationOut(BaseModel):
    source: str = Field(description="the report or table, e.g. report:campaign_day, eligibility, shop_score")
    ids: list[str] = Field(description="what finds the row: campaign, day, product, shop, creative …")
    values: dict[str, str] = Field(description="the values used, as the report shows them")


@dataclass(frozen=True)
class ActionOut(Action):
    """The agent's :class:`~sitewide.agent.types.Action` as it is (field names are the JSON keys), with
    ``one_click``: whether ``POST /agent/apply`` can apply it (advice cannot)."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def one_click(self) -> bool:
        return super().one_click


class SuggestionOut(BaseModel):
    id: str
    action: ActionOut
    effect: Effect  # the agent's record as it is
    title_en: str
    title_zh: str


class FindingOut(BaseModel):
    kind: str
    subject: str
    severity: str
    en: str
    zh: str
    evidence: list[CitationOut]
    suggestion: SuggestionOut | None


class FindingsOut(BaseModel):
    merchant_id: str
    day: str
    findings: list[FindingOut]


class DigestOut(BaseModel):
    day: str | None
    merchants: list[FindingsOut]
    text_en: str
    text_zh: str


class AskIn(Strict):
    question: Annotated[str, Field(min_length=1, max_length=2_000)]
    merchant_id: Id | None = Field(
        None, description="required for the operator; a merchant asks about itself"
    )


class ToolCallOut(BaseModel):
    name: str
    args: dict[str, str]
    result: str


class AnswerOut(BaseModel):
    question: str
    lang: str
    text: str
    citations: list[CitationOut]
    calls: list[ToolCallOut]
    backend: str
    error: str | None = None


class ApplyIn(Strict):
    suggestion_id: Annotated[str, Field(min_length=1, max_length=200)]
    day: Day | None = Field(None, description="the day diagnosed (default: the last settled day)")
    merchant_id: Id | None = Field(None, description="required for the operator")


class JournalEntryOut(BaseModel):
    id: str
    ts_ms: int
    actor: str
    merchant_id: str
    suggestion_id: str
    action: ActionOut
    inverse: ActionOut | None
    result: str
    undoes: str | None


__all__ = [
    "ActionOut",
    "AnswerOut",
    "ApplyIn",
    "AskIn",
    "CitationOut",
    "DigestOut",
    "FindingOut",
    "FindingsOut",
    "JournalEntryOut",
    "SuggestionOut",
    "ToolCallOut",
]
