"""Diagnosis: pure rules over one merchant's :class:`~sitewide.agent.types.MerchantFacts` → findings, each
with the evidence rows it rests on and (where there is something to do) one suggestion with its expected
effect. No I/O; the facts builder (:mod:`sitewide.agent.facts`) reads the data.

The thresholds are :class:`Thresholds` fields. They are judgement, not measurements; what they were checked
against is ``bench/agent.py`` (planted problems in a simulated market vs clean shops), and the comment on each
says why it sits where it does.
"""

from __future__ import annotations

from collections.abc import Callable

from sitewide.agent.rules_campaign import budget_exhausted, target_too_high, target_too_low
from sitewide.agent.rules_items import ineligible_best_seller, losing_creative, shop_score_factor
from sitewide.agent.thresholds import Thresholds
from sitewide.agent.types import ActionKind, Finding, MerchantFacts

RULES: tuple[Callable[[MerchantFacts, Thresholds], list[Finding]], ...] = (
    target_too_high,
    budget_exhausted,
    ineligible_best_seller,
    losing_creative,
    shop_score_factor,
    target_too_low,
)
_SEVERITY = {"high": 0, "medium": 1, "low": 2}


def diagnose(facts: MerchantFacts, thresholds: Thresholds | None = None) -> list[Finding]:
    """Every rule's findings, most severe first, then by expected GMV gain."""
    t = thresholds or Thresholds()
    out = [x for rule in RULES for x in rule(facts, t)]
    out.sort(
        key=lambda x: (
            _SEVERITY[x.severity],
            -(x.suggestion.effect.gmv_micros_per_day if x.suggestion else 0),
        )
    )
    return out


def forecast_requests(facts: MerchantFacts, t: Thresholds | None = None) -> list[tuple[str, float, int]]:
    """The (campaign, target ROI, budget) points the rules would like forecasts for: each campaign's current
    terms and the terms its suggestion would set. The facts builder forecasts them and diagnoses again."""
    out: list[tuple[str, float, int]] = []
    for x in diagnose(facts, t):
        a = x.suggestion.action if x.suggestion else None
        if a is None or a.campaign_id is None:
            continue
        c = next((c for c in facts.campaigns if c.id == a.campaign_id), None)
        if c is None:
            continue
        out.append((c.id, c.target_roi, c.daily_budget_micros))
        if a.kind is ActionKind.SET_TARGET_ROI and a.target_roi:
            out.append((c.id, float(a.target_roi), c.daily_budget_micros))
        elif a.kind is ActionKind.SET_BUDGET and a.daily_budget_micros:
            out.append((c.id, c.target_roi, a.daily_budget_micros))
        elif a.kind is ActionKind.MOVE_BUDGET and a.amount_micros:
            out.append((c.id, c.target_roi, c.daily_budget_micros + a.amount_micros))
    return list(dict.fromkeys(out))


__all__ = ["RULES", "Thresholds", "diagnose", "forecast_requests"]
