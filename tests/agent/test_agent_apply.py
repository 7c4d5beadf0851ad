"""One-click apply: through the use cases as the merchant, journaled with the inverse, undone once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from agent_market import DAY, Market

from sitewide.agent.apply import Journal, apply_suggestion, perform, undo
from sitewide.agent.facts import Scope, findings
from sitewide.agent.types import Action, ActionKind, Effect, FindingKind, Suggestion
from sitewide.domain.accounts import Principal
from sitewide.domain.types import Conflict, NotFound, ValidationError


def scope(m: Market, merchant: str) -> Scope:
    return Scope.of(m.engine, m.engine.store, m.accounts, Principal("merchant", merchant))


def test_apply_changes_the_campaign_and_undo_restores_it(market: Market, tmp_path: Path) -> None:
    s1 = scope(market, "m1")
    _, got = findings(s1, DAY)
    sug = next(f for f in got if f.kind is FindingKind.BUDGET_EXHAUSTED).suggestion
    assert sug is not None and sug.action.daily_budget_micros is not None
    journal = Journal(tmp_path / "audit.jsonl")
    e = apply_suggestion(s1, sug, journal, actor="key:abc")
    c1 = market.engine.store.get_campaign("c1")
    assert c1 is not None and int(c1.daily_budget_micros) == sug.action.daily_budget_micros
    assert e.inverse is not None and e.inverse.daily_budget_micros == 50_000_000
    assert e.actor == "key:abc" and e.merchant_id == "m1" and e.ts_ms == market.clock.now
    line = json.loads((tmp_path / "audit.jsonl").read_text().splitlines()[0])
    assert line["suggestion_id"] == sug.id and line["inverse"]["daily_budget_micros"] == 50_000_000
    u = undo(s1, journal, e.id, actor="key:abc")
    c1 = market.engine.store.get_campaign("c1")
    assert c1 is not None and int(c1.daily_budget_micros) == 50_000_000
    assert u.undoes == e.id
    with pytest.raises(Conflict):
        undo(s1, journal, e.id, actor="key:abc")
    assert [x.id for x in journal.entries("m1")] == [u.id, e.id]


def test_a_merchant_cannot_apply_to_another_merchants_campaign(market: Market) -> None:
    forged = Suggestion(
        "x", Action(ActionKind.SET_TARGET_ROI, campaign_id="c2", target_roi="1.0"),
        Effect(0, 0, "own reports", ""), "", "",
    )  # fmt: skip
    with pytest.raises(NotFound):
        apply_suggestion(scope(market, "m1"), forged, Journal(), actor="m1")
    c2 = market.engine.store.get_campaign("c2")
    assert c2 is not None and str(c2.target_roi) == "8.00"


def test_undo_of_another_merchants_entry_is_not_found(market: Market) -> None:
    journal = Journal()
    _, got = findings(scope(market, "m2"), DAY)
    assert got[0].suggestion is not None
    e = apply_suggestion(scope(market, "m2"), got[0].suggestion, journal, actor="m2")
    with pytest.raises(NotFound):
        undo(scope(market, "m1"), journal, e.id, actor="m1")


def test_pin_is_reversible_and_advice_is_not_one_click(market: Market) -> None:
    s1 = scope(market, "m1")
    with pytest.raises(ValidationError):
        perform(s1, Action(ActionKind.FIX_FACTOR, product_id="p00", factor="stock"))
    with pytest.raises(NotFound):
        perform(s1, Action(ActionKind.PIN_CREATIVE, product_id="p01", creative_id=None))
    inv, _ = perform(s1, Action(ActionKind.PIN_CREATIVE, product_id="p02", creative_id=None))
    assert inv is not None and inv.creative_id is None


def test_move_budget_between_own_campaigns_and_back(market: Market) -> None:
    from decimal import Decimal

    from sitewide.domain.money import Micros
    from sitewide.domain.types import Campaign

    market.engine.add_campaign(Campaign("c3", "m1", "spare", ("p02",), Decimal("2"), Micros(40_000_000)))
    s1 = scope(market, "m1")
    move = Action(ActionKind.MOVE_BUDGET, campaign_id="c1", from_campaign_id="c3", amount_micros=10_000_000)
    inv, _ = perform(s1, move)
    budgets = {c.id: int(c.daily_budget_micros) for c in market.engine.store.list_campaigns("m1")}
    assert budgets == {"c1": 60_000_000, "c3": 30_000_000}
    assert inv is not None
    perform(s1, inv)
    budgets = {c.id: int(c.daily_budget_micros) for c in market.engine.store.list_campaigns("m1")}
    assert budgets == {"c1": 50_000_000, "c3": 40_000_000}
    with pytest.raises(ValidationError):
        perform(
            s1,
            Action(ActionKind.MOVE_BUDGET, campaign_id="c1", from_campaign_id="c3", amount_micros=40_000_000),
        )
    with pytest.raises(NotFound):
        perform(
            s1,
            Action(ActionKind.MOVE_BUDGET, campaign_id="c1", from_campaign_id="c2", amount_micros=1_000_000),
        )
