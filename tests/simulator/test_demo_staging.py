"""The demo market's staging (``sitewide.simulator.demo``): which campaigns get the three sets of terms, the
leaked coupon that makes one campaign's orders cheap, and the promoted-only impressions the demo reports."""

from __future__ import annotations

from doubles import FixedScoreEngine

from sitewide.domain.time import DAY_MS
from sitewide.domain.types import EventKind
from sitewide.simulator.config import SimConfig
from sitewide.simulator.demo import COUPON_PAID_SHARE, DEMO_CAMPAIGNS, apply_demo_campaigns, coupon
from sitewide.simulator.story import Story
from sitewide.simulator.world import build_world


def _small() -> SimConfig:
    # the demo's market, shorter and with more buying, so that a test sees orders of every campaign
    return SimConfig.demo(seed=7).with_(users=1_000, days=2, target_cvr=0.3)


def test_the_three_sets_of_terms_go_to_the_largest_campaigns_in_order() -> None:
    world = build_world(_small())
    sizes = sorted(len(c.product_ids) for c in world.campaigns)
    staged = apply_demo_campaigns(world)
    assert [spec.kind for _, spec in staged] == ["budget", "roi_target", "guarantee"]
    assert [len(c.product_ids) for c, _ in staged] == sizes[-3:]  # the staged miss gets the largest
    for c, spec in staged:
        assert world.campaigns[world.campaign_index[c.id]] == c
        assert (c.name, c.target_roi, int(c.daily_budget_micros)) == (
            spec.name,
            spec.target_roi,
            spec.daily_budget_micros,
        )
    assert len({c.id for c, _ in staged}) == len(DEMO_CAMPAIGNS)


def test_the_coupon_makes_only_that_campaigns_orders_cheap_while_it_lasts() -> None:
    world = build_world(_small())
    staged = apply_demo_campaigns(world)
    couponed = next(c for c, spec in staged if spec.kind == "guarantee")
    engine = FixedScoreEngine(world)
    story = Story(world, engine)
    price = {p.id: int(p.price_micros) for p in world.product_list}
    couponed_ids = set(couponed.product_ids)

    def ratios(day: int) -> tuple[list[float], list[float]]:
        """Each order's value ÷ its product's list price, for the clicks of ``day``: the campaign's, the others'."""
        seen = set(engine.events)
        story.run_day(day)
        start = world.base_ms + day * DAY_MS
        new = [e for k, e in engine.events.items() if k not in seen]
        orders = [
            e for e in new if e.kind == EventKind.ORDER and engine.events[e.click_id or ""].ts_ms >= start
        ]
        mine = [e.order_value_micros / price[e.product_id] for e in orders if e.product_id in couponed_ids]
        others = [
            e.order_value_micros / price[e.product_id] for e in orders if e.product_id not in couponed_ids
        ]
        return mine, others

    def whole(r: float) -> bool:  # a whole number of items at the list price
        return abs(r - round(r)) < 1e-9 and r >= 1

    coupon(story, couponed, on=True)
    mine, others = ratios(0)
    assert mine and others, "the small market should sell the campaign's products and others"
    assert all(whole(r) for r in others)
    paid = [r / COUPON_PAID_SHARE for r in mine]  # items bought, at a tenth of the price (down to the micro)
    assert all(abs(q - round(q)) < 1e-3 and round(q) >= 1 for q in paid) and min(mine) < 1
    coupon(story, couponed, on=False)
    mine, others = ratios(1)
    assert mine and all(whole(r) for r in mine + others)


def test_promoted_only_impressions_are_the_promoted_slots_shown() -> None:
    cfg = _small().with_(days=1)
    world = build_world(cfg)
    engine = FixedScoreEngine(world)
    res = Story(world, engine).run()
    imps = [e for e in engine.events.values() if e.kind == EventKind.IMPRESSION]
    assert imps and all(e.campaign_id for e in imps)
    assert len(imps) == res.ticks["promoted_impressions"].sum() < res.ticks["impressions"].sum()
