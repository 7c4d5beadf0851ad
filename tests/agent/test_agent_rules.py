"""The pure rules on hand-built facts: a clean merchant raises nothing; each problem raises its finding."""

from __future__ import annotations

from dataclasses import replace

from sitewide.agent.rules import diagnose
from sitewide.agent.types import (
    ActionKind,
    CampaignFacts,
    CreativeFacts,
    FindingKind,
    MerchantFacts,
    ProductFacts,
    ShopFacts,
)
from sitewide.domain.eligibility_rules import RuleResult
from sitewide.domain.money import roi
from sitewide.domain.reports import CampaignDay
from sitewide.domain.shop_score import FactorScore, ShopScore

DAY = "2026-01-05"


def day_row(day: str, impressions: int, clicks: int, orders: int, spend: int, gmv: int) -> CampaignDay:
    """A settled campaign-day as the campaign report gives it (no invalid clicks, no compensation)."""
    return CampaignDay(impressions, clicks, 0, orders, spend, gmv, 0, roi(gmv, spend), day=day)


def factor(name: str, raw: float, sub_score: float, weight: float) -> FactorScore:
    return FactorScore(name, raw, raw, sub_score, weight, weight * sub_score, "")


def clean() -> MerchantFacts:
    days = (
        day_row("2026-01-04", 900, 40, 6, 20_000_000, 60_000_000),
        day_row(DAY, 1000, 45, 7, 25_000_000, 70_000_000),
    )
    camp = CampaignFacts("c1", "easy", True, 2.0, 50_000_000, ("p1", "p2"), days)
    prods = (
        ProductFacts("p1", "mouse", "s1", True, (), 40_000_000, 4, 30_000_000, 1),
        ProductFacts("p2", "cable", "s1", True, (), 20_000_000, 2, 40_000_000, 1),
    )
    factors = (factor("on_time", 0.97, 85.0, 0.2), factor("rating", 4.5, 87.5, 0.3))
    shop = ShopFacts("s1", ShopScore("s1", 86.0, factors, "test", 1.03))
    creatives = (
        CreativeFacts("p1", "A", "search", 800, 40, True),
        CreativeFacts("p1", "B", "search", 300, 4, False),
    )
    return MerchantFacts("m1", DAY, (camp,), prods, (shop,), creatives, market_roi=2.8)


def test_a_clean_merchant_raises_nothing() -> None:
    assert diagnose(clean()) == []


def test_a_pinned_loser_is_found_and_unpinned() -> None:
    f = clean()
    f = replace(f, creatives=tuple(replace(c, pinned=not c.pinned) for c in f.creatives))
    (x,) = diagnose(f)
    assert x.kind is FindingKind.LOSING_CREATIVE and x.subject == "B"
    assert x.suggestion is not None and x.suggestion.action.kind is ActionKind.PIN_CREATIVE
    assert x.suggestion.action.creative_id is None and x.suggestion.effect.gmv_micros_per_day > 0
    assert {c.ids[1] for c in x.evidence} == {"A", "B"}


def test_a_thin_difference_is_not_a_loser() -> None:
    f = clean()
    f = replace(
        f,
        creatives=(
            CreativeFacts("p1", "A", "search", 80, 4, False),
            CreativeFacts("p1", "B", "search", 80, 2, True),
        ),
    )
    assert diagnose(f) == []


def test_target_far_above_the_market_with_spend_starved() -> None:
    f = clean()
    (c,) = f.campaigns
    starved = day_row(DAY, 100, 3, 1, 2_000_000, 20_000_000)
    f = replace(f, campaigns=(replace(c, target_roi=9.0, days=(c.days[0], starved)),))
    (x,) = diagnose(f)
    assert x.kind is FindingKind.TARGET_TOO_HIGH and x.suggestion is not None
    assert x.suggestion.action.target_roi == "2.8" and x.suggestion.effect.basis == "own reports"
    # the same target with spend flowing is the merchant's choice, not a problem
    f2 = replace(f, campaigns=(replace(c, target_roi=9.0),))
    assert diagnose(f2) == []


def test_shop_factor_and_best_seller_out_of_the_pool() -> None:
    f = clean()
    bad_factors = (factor("on_time", 0.8, 0.0, 0.2), factor("rating", 4.5, 87.5, 0.3))
    bad = ShopFacts("s1", ShopScore("s1", 62.0, bad_factors, "test", 0.91))
    p1 = replace(
        f.products[0], eligible=False, failures=(RuleResult("stock", 1, False, "out_of_stock", "stock 0"),)
    )
    got = diagnose(replace(f, shops=(bad,), products=(p1, f.products[1])))
    assert [x.kind for x in got] == [FindingKind.INELIGIBLE_BEST_SELLER, FindingKind.SHOP_SCORE_FACTOR] or {
        x.kind for x in got
    } == {FindingKind.INELIGIBLE_BEST_SELLER, FindingKind.SHOP_SCORE_FACTOR}
    shop = next(x for x in got if x.kind is FindingKind.SHOP_SCORE_FACTOR)
    assert shop.suggestion is not None and shop.suggestion.action.factor == "on_time"
    assert not shop.suggestion.action.one_click
    # a product that sold little is no best seller
    p2 = replace(
        f.products[1], eligible=False, failures=(RuleResult("stock", 1, False, "out_of_stock", "stock 0"),)
    )
    assert diagnose(replace(f, products=(f.products[0], p2))) == []
