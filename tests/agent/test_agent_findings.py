"""The agent's diagnosis over a real engine's reports: what it finds, what it cites, whose data it reads."""

from __future__ import annotations

import pytest
from agent_market import DAY, Market

from sitewide.agent.facts import Scope, findings
from sitewide.agent.types import ActionKind, FindingKind
from sitewide.domain.accounts import Principal
from sitewide.domain.types import NotFound, ValidationError


def scope(m: Market, merchant: str) -> Scope:
    return Scope.of(m.engine, m.engine.store, m.accounts, Principal("merchant", merchant))


def test_finds_the_early_budget_and_the_best_seller_out_of_the_pool(market: Market) -> None:
    facts, got = findings(scope(market, "m1"), DAY)
    kinds = {f.kind for f in got}
    assert kinds == {FindingKind.BUDGET_EXHAUSTED, FindingKind.INELIGIBLE_BEST_SELLER}
    budget = next(f for f in got if f.kind is FindingKind.BUDGET_EXHAUSTED)
    assert budget.subject == "c1" and budget.suggestion is not None
    a = budget.suggestion.action
    assert a.kind is ActionKind.SET_BUDGET and a.daily_budget_micros and a.daily_budget_micros > 50_000_000
    best = next(f for f in got if f.kind is FindingKind.INELIGIBLE_BEST_SELLER)
    assert best.subject == "p00" and best.suggestion is not None
    assert best.suggestion.action.kind is ActionKind.FIX_FACTOR and best.suggestion.action.factor == "stock"


def test_every_finding_cites_the_rows_it_used_with_their_values(market: Market) -> None:
    _, got = findings(scope(market, "m1"), DAY)
    rep = market.engine.campaign_report("c1")
    day = next(d for d in rep.days if d.day == DAY)
    for f in got:
        assert f.evidence, f
    budget = next(f for f in got if f.kind is FindingKind.BUDGET_EXHAUSTED)
    row = next(c for c in budget.evidence if c.source == "report:campaign_day")
    assert row.ids == ("c1", DAY)
    assert row.value("spend") == f"{day.spend_micros / 1e6:,.2f}"
    assert row.value("orders") == str(day.orders)
    when = next(c for c in budget.evidence if c.source == "events:clicks")
    # 95 % of 50.00 is the 24th click at 2.00, three hours plus 23 × 3 minutes after midnight
    assert when.value("budget_95pct_spent_at") == "04:09"
    best = next(f for f in got if f.kind is FindingKind.INELIGIBLE_BEST_SELLER)
    elig = next(c for c in best.evidence if c.source == "eligibility")
    assert elig.ids == ("p00",) and elig.value("eligible") == "false"


def test_over_high_target_is_found_with_a_forecast_effect(market: Market) -> None:
    facts, got = findings(scope(market, "m2"), DAY)
    (f,) = got
    assert f.kind is FindingKind.TARGET_TOO_HIGH and f.subject == "c2"
    assert f.suggestion is not None
    assert f.suggestion.action.kind is ActionKind.SET_TARGET_ROI
    assert float(f.suggestion.action.target_roi or 0) < 8.0
    assert f.suggestion.effect.basis == "forecast"
    assert f.suggestion.effect.gmv_micros_per_day > 0


def test_a_merchant_reads_only_its_own_objects(market: Market) -> None:
    facts, got = findings(scope(market, "m1"), DAY)
    assert {c.id for c in facts.campaigns} == {"c1"}
    assert all(int(p.id[1:]) % 2 == 0 for p in facts.products)
    assert {s.id for s in facts.shops} == {"s1"}
    text = " ".join(f.en + f.zh + " ".join(c.text() for c in f.evidence) for f in got)
    assert "c2" not in text and "p01" not in text


def test_scope_never_switches_merchant(market: Market) -> None:
    m1 = Principal("merchant", "m1")
    with pytest.raises(NotFound):
        Scope.of(market.engine, market.engine.store, market.accounts, m1, "m2")
    with pytest.raises(ValidationError):
        Scope.of(market.engine, market.engine.store, market.accounts, Principal("operator"))
    op = Scope.of(market.engine, market.engine.store, market.accounts, Principal("operator"), "m2")
    assert op.merchant_id == "m2" and not op.who.is_operator


def test_a_day_that_is_not_a_calendar_day_is_a_validation_error(market: Market) -> None:
    with pytest.raises(ValidationError):
        findings(scope(market, "m1"), "0000-00-00")
