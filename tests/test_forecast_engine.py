"""Campaign forecasts by replay on the real engine: they follow the draft's products, budget and target, use
logged traffic once there is some, and carry a band around the point."""

from __future__ import annotations

import pytest

from sitewide.domain.forecast import CampaignDraft
from sitewide.domain.types import ValidationError
from sitewide.engine import Engine, EngineConfig
from sitewide.simulator.config import SimConfig
from sitewide.simulator.story import Story
from sitewide.simulator.world import World, build_world
from sitewide.wiring import world_engine


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(
        SimConfig(
            days=1,
            users=500,
            merchants=6,
            products=200,
            ticks_per_day=8,
            seed=4,
            campaign_share=1.0,
            target_cvr=0.1,
        )
    )


@pytest.fixture(scope="module")
def served(world: World) -> Engine:
    engine = world_engine(world, EngineConfig(scorer="priors"))
    Story(world, engine).run()
    return engine


def test_forecasts_change_when_products_change(served: Engine, world: World) -> None:
    a, b = world.campaigns[0], world.campaigns[1]
    fa = served.forecast(CampaignDraft(a.product_ids, 2.0, 50_000_000))
    fb = served.forecast(CampaignDraft(b.product_ids, 2.0, 50_000_000))
    both = served.forecast(CampaignDraft(a.product_ids + b.product_ids, 2.0, 50_000_000))
    assert fa.traffic == "logged" and fa.replayed_requests > 0
    assert fa.curve[-1].gmv > 0 and fb.curve[-1].gmv > 0
    assert [p.gmv for p in fa.curve] != [p.gmv for p in fb.curve]
    assert both.curve[-1].gmv > max(fa.curve[-1].gmv, fb.curve[-1].gmv)  # more products, more to win
    assert (
        fa.shop_id == world.product_list[[p.id for p in world.product_list].index(a.product_ids[0])].shop_id
    )


def test_budget_and_target_move_the_operating_point(served: Engine, world: World) -> None:
    pids = world.campaigns[0].product_ids
    wide = served.forecast(CampaignDraft(pids, 1.0, 10_000_000_000))
    tight = served.forecast(CampaignDraft(pids, 1.0, 1_000_000))
    assert tight.expected.spend <= 1_000_000 + 1 and wide.expected.spend > tight.expected.spend
    strict = served.forecast(CampaignDraft(pids, 50.0, 10_000_000_000))
    assert strict.expected.spend < wide.expected.spend
    for f in (wide, tight):
        e = f.expected
        assert e.band.gmv_low <= e.gmv or e.gmv == 0
        # the expected day is inside its band, unless the band is one-sided: a day likely to sell nothing
        assert e.gmv <= e.band.gmv_high or e.band.gmv_low == 0
        assert e.gmv >= f.draft.target_roi * e.spend * f.factor - 1.0
    spends = [p.spend for p in wide.curve]
    assert spends[-1] > spends[0]  # higher bids buy more


def test_synthetic_traffic_before_any_log(world: World) -> None:
    fresh = world_engine(world, EngineConfig(scorer="priors"))
    f = fresh.forecast(CampaignDraft(world.campaigns[0].product_ids, 2.0, 50_000_000))
    assert f.traffic == "synthetic" and f.basis == "prior"
    with pytest.raises(ValidationError):
        fresh.forecast(CampaignDraft(("no-such-product",), 2.0, 50_000_000))
