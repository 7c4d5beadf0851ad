"""Applying a suggestion with one click: through the same use cases as the API (the merchant's own principal,
so the same ownership checks), written to an audit journal with who, when, what and the inverse action, so
that every applied suggestion can be undone.

The journal is append-only: an undo is a new entry (``undoes`` = the entry it reverses). It lives in memory
and, when given a path, also in a JSON-lines file (one line per entry, written before the call returns).
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import asdict, dataclass, replace
from decimal import Decimal
from pathlib import Path

from sitewide.agent.facts import Scope, findings
from sitewide.agent.types import Action, ActionKind, Suggestion
from sitewide.api.schemas import CampaignPatch
from sitewide.domain.accounts import Principal
from sitewide.domain.types import Conflict, NotFound, ValidationError
from sitewide.service.scope import visible_campaign, visible_product
from sitewide.service.usecases import appeals as appeals_uc
from sitewide.service.usecases import campaigns as campaigns_uc


@dataclass(frozen=True, slots=True)
class JournalEntry:
    id: str
    ts_ms: int
    actor: str  # who clicked (the key prefix, or a name)
    merchant_id: str
    suggestion_id: str
    action: Action
    inverse: Action | None  # None: cannot be undone (an appeal is the operator's to resolve)
    result: str  # what changed, in words
    undoes: str | None = None


class Journal:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._entries: list[JournalEntry] = []
        self._lock = threading.Lock()

    def add(self, e: JournalEntry) -> JournalEntry:
        with self._lock:
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(asdict(e), ensure_ascii=False, default=str) + "\n")
            self._entries.append(e)
        return e

    def entries(self, merchant_id: str) -> list[JournalEntry]:
        """The merchant's entries, newest first."""
        return [e for e in reversed(self._entries) if e.merchant_id == merchant_id]

    def get(self, merchant_id: str, entry_id: str) -> JournalEntry:
        e = next((e for e in self._entries if e.id == entry_id and e.merchant_id == merchant_id), None)
        if e is None:
            raise NotFound(f"journal entry {entry_id} not found")
        return e

    def undone(self, entry_id: str) -> bool:
        return any(e.undoes == entry_id for e in self._entries)


def perform(scope: Scope, a: Action) -> tuple[Action | None, str]:
    """Do ``a`` as the scope's merchant; returns the inverse action and what changed."""
    eng, store, who = scope.engine, scope.store, scope.who
    if a.kind is ActionKind.SET_TARGET_ROI:
        if a.campaign_id is None or a.target_roi is None:
            raise ValidationError("set_target_roi needs campaign_id and target_roi")
        c = visible_campaign(store, who, a.campaign_id)
        campaigns_uc.update_campaign(eng, store, who, c.id, CampaignPatch(target_roi=Decimal(a.target_roi)))
        return replace(a, target_roi=str(c.target_roi)), f"{c.id}: target ROI {c.target_roi} → {a.target_roi}"
    if a.kind is ActionKind.SET_BUDGET:
        if a.campaign_id is None or a.daily_budget_micros is None:
            raise ValidationError("set_budget needs campaign_id and daily_budget_micros")
        c = visible_campaign(store, who, a.campaign_id)
        campaigns_uc.update_campaign(
            eng, store, who, c.id, CampaignPatch(daily_budget_micros=a.daily_budget_micros)
        )
        old = int(c.daily_budget_micros)
        return replace(
            a, daily_budget_micros=old
        ), f"{c.id}: daily budget {old} → {a.daily_budget_micros} micros"
    if a.kind is ActionKind.MOVE_BUDGET:
        if a.campaign_id is None or a.from_campaign_id is None or not a.amount_micros or a.amount_micros < 0:
            raise ValidationError(
                "move_budget needs campaign_id, from_campaign_id and a positive amount_micros"
            )
        to = visible_campaign(store, who, a.campaign_id)
        frm = visible_campaign(store, who, a.from_campaign_id)
        left = int(frm.daily_budget_micros) - a.amount_micros
        if left <= 0:
            raise ValidationError(
                f"from_campaign_id: {frm.id} has only {int(frm.daily_budget_micros)} micros"
            )
        campaigns_uc.update_campaign(eng, store, who, frm.id, CampaignPatch(daily_budget_micros=left))
        campaigns_uc.update_campaign(
            eng,
            store,
            who,
            to.id,
            CampaignPatch(daily_budget_micros=int(to.daily_budget_micros) + a.amount_micros),
        )
        inv = replace(a, campaign_id=frm.id, from_campaign_id=to.id)
        return inv, f"moved {a.amount_micros} micros of daily budget {frm.id} → {to.id}"
    if a.kind is ActionKind.PIN_CREATIVE:
        if a.product_id is None:
            raise ValidationError("pin_creative needs product_id")
        visible_product(store, who, a.product_id)
        prev = eng.creatives.pinned(a.product_id)
        eng.creatives.pin(a.product_id, a.creative_id)
        return replace(
            a, creative_id=prev
        ), f"{a.product_id}: pinned {prev or 'none'} → {a.creative_id or 'none'}"
    if a.kind is ActionKind.APPEAL:
        if a.product_id is None:
            raise ValidationError("appeal needs product_id")
        ap = appeals_uc.create_appeal(
            store, scope.accounts, who, "product", a.product_id, a.message or "review"
        )
        return None, f"appeal {ap.id} filed on {a.product_id}"
    raise ValidationError(f"{a.kind.value} is advice for the merchant's operations, not a one-click action")


def _record(
    scope: Scope, journal: Journal, actor: str, suggestion_id: str, action: Action, undoes: str | None = None
) -> JournalEntry:
    """Perform ``action`` as the scope's merchant, then journal it with its inverse."""
    inverse, result = perform(scope, action)
    entry = JournalEntry(
        f"j-{uuid.uuid4().hex[:12]}", scope.engine.clock.now_ms(), actor, scope.merchant_id, suggestion_id,
        action, inverse, result, undoes,
    )  # fmt: skip
    return journal.add(entry)


def apply_suggestion(scope: Scope, s: Suggestion, journal: Journal, actor: str) -> JournalEntry:
    return _record(scope, journal, actor, s.id, s.action)


def actor(who: Principal) -> str:
    """Who a journal entry names: role, merchant and key prefix."""
    return f"{who.role}:{who.merchant_id or ''}:{who.key_prefix}"


def find_suggestion(scope: Scope, suggestion_id: str, day: str | None) -> Suggestion:
    """The suggestion as the agent makes it now (never one the caller wrote): recomputed for the day."""
    _, got = findings(scope, day)
    s = next((f.suggestion for f in got if f.suggestion and f.suggestion.id == suggestion_id), None)
    if s is None:
        raise NotFound(f"suggestion {suggestion_id} not found (the agent does not make it now)")
    return s


def apply_current(
    scope: Scope, suggestion_id: str, day: str | None, journal: Journal, who: Principal
) -> JournalEntry:
    """One click (the API's ``POST /agent/apply`` and the console's button): the suggestion the agent makes now,
    applied and journalled; advice that is not a one-click action is a ValidationError."""
    s = find_suggestion(scope, suggestion_id, day)
    if not s.action.one_click:
        raise ValidationError(f"suggestion {s.id} is advice ({s.action.kind.value}): nothing to apply")
    return apply_suggestion(scope, s, journal, actor(who))


def undo(scope: Scope, journal: Journal, entry_id: str, actor: str) -> JournalEntry:
    """Apply the stored inverse of one of the merchant's entries (once)."""
    e = journal.get(scope.merchant_id, entry_id)
    if e.inverse is None:
        raise Conflict(f"journal entry {entry_id} cannot be undone ({e.action.kind.value})")
    if e.undoes is not None or journal.undone(entry_id):
        raise Conflict(f"journal entry {entry_id} is already undone or is itself an undo")
    return _record(scope, journal, actor, e.suggestion_id, e.inverse, undoes=e.id)


__all__ = [
    "Journal",
    "JournalEntry",
    "actor",
    "apply_current",
    "apply_suggestion",
    "find_suggestion",
    "perform",
    "undo",
]
