"""The forecast's band calibrates itself in production: every settlement pairs the engine's own day-start
forecasts with what settled and refits the level and σ; with too few settled campaign-days the stated prior
stays."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sitewide.domain.forecast import DEFAULT_SIGMA, CampaignDraft, ForecastPair, fit_calibration
from sitewide.domain.time import day_bounds, day_index, day_of
from sitewide.engine import Engine, EngineConfig
from sitewide.engine.forecast import MIN_PAIRS
from sitewide.service.app import create_app
from sitewide.settings import Settings
from sitewide.simulator.config import SimConfig
from sitewide.simulator.story import Story
from sitewide.simulator.world import World, build_world
from sitewide.wiring import world_engine

OPERATOR_KEY = "sw_0123456789ab_operator-key-for-forecast"


@pytest.fixture(scope="module")
def world() -> World:
    cfg = SimConfig(
        days=5,
        users=400,
        merchants=10,
        products=160,
        ticks_per_day=6,
        seed=7,
        campaign_share=1.0,
        target_cvr=0.1,
    )
    return build_world(cfg)


@pytest.fixture(scope="module")
def ran(world: World) -> tuple[Engine, list[tuple[int, float, str]]]:
    """The engine after the story, and after each day: (pairs fitted on, σ, a draft forecast's basis)."""
    engine = world_engine(world, EngineConfig(scorer="priors", forecast_calibration_campaigns=100))
    story = Story(world, engine)
    draft = CampaignDraft(world.campaigns[0].product_ids, 2.0, 50_000_000, campaign_id=world.campaigns[0].id)
    seen = []
    for day in range(world.config.days):
        story.run_day(day)
        cal = engine.forecaster.calibration
        seen.append((cal.pairs, engine.forecast(draft).sigma, engine.forecast(draft).basis))
    return engine, seen


def test_too_few_settled_days_keep_the_stated_prior(ran: tuple[Engine, list[tuple[int, float, str]]]) -> None:
    _, seen = ran
    pairs, sigma, basis = seen[0]  # day 0 settled: only tomorrow's forecasts exist, nothing to pair yet
    assert pairs == 0 and sigma == DEFAULT_SIGMA and basis == "prior"
    assert all(s == DEFAULT_SIGMA for p, s, _ in seen if p < MIN_PAIRS)


def test_a_forecast_after_enough_settled_days_uses_the_fitted_sigma(
    ran: tuple[Engine, list[tuple[int, float, str]]], world: World
) -> None:
    engine, seen = ran
    pairs, sigma, basis = seen[-1]
    assert pairs >= MIN_PAIRS and basis in ("shop", "category", "market")
    assert sigma != DEFAULT_SIGMA
    # the fit is the one the kept forecasts and the store's settled GMV give (recomputed independently)
    fc = engine.forecaster
    days = sorted({d for _, d in fc.day_forecasts})
    figs = engine.store.day_figures(days[0], days[-1], products=False)
    settled_until = max(d for _, d in figs)
    redo = [
        ForecastPair(
            f.shop_id,
            f.category,
            f.point.gmv,
            f.point.orders,
            float(figs[k].gmv_micros if k in figs else 0),
            figs[k].orders if k in figs else 0,
            day_index(f.day),
        )
        for k, f in sorted(fc.day_forecasts.items(), key=lambda kv: (kv[1].day, kv[0]))
        if f.day <= settled_until and f.point.gmv > 0 and f.point.orders > 0
    ]
    assert len(redo) == pairs
    again = fit_calibration(redo)
    assert again == fc.calibration
    # the draft's band uses the σ of its size bin (its expected orders before the bin's level)
    draft = CampaignDraft(world.campaigns[0].product_ids, 2.0, 50_000_000, campaign_id=world.campaigns[0].id)
    f = engine.forecast(draft)
    size = again.size_of(f.raw.gmv, f.raw.orders, f.shop_id, f.category)
    assert again.sigma_for(size) == pytest.approx(sigma)
    assert f.expected.band == again.calibrated(f.raw, f.shop_id, f.category).band
    # tomorrow's forecasts are kept, one per active campaign, for the next settlement to pair
    assert {c for c, d in fc.day_forecasts if d > settled_until} == set(engine.campaign_ids())


def test_the_service_serves_the_fitted_band(
    ran: tuple[Engine, list[tuple[int, float, str]]], world: World, tmp_path: Path
) -> None:
    engine, seen = ran
    app = create_app(Settings(data_dir=tmp_path, load_catalogue=False), engine, operator_key=OPERATOR_KEY)
    c = world.campaigns[0]
    with TestClient(app, headers={"Authorization": f"Bearer {OPERATOR_KEY}"}) as op:
        r = op.get(
            "/forecast/campaign",
            params={
                "product_ids": list(c.product_ids),
                "target_roi": "2.00",
                "daily_budget_micros": 50_000_000,
                "campaign_id": c.id,
            },
        )
    assert r.status_code == 200, r.text
    f = r.json()
    assert f["sigma"] == pytest.approx(seen[-1][1]) and f["sigma"] != DEFAULT_SIGMA
    assert f["basis"] == seen[-1][2] and f["traffic"] == "logged"


def test_calibration_is_off_unless_configured(world: World) -> None:
    engine = world_engine(world, EngineConfig(scorer="priors"))
    Story(world, engine).run_day(0)
    assert engine.forecaster.day_forecasts == {}


def test_the_engine_lock_is_held_per_replay_not_for_the_whole_refit(
    ran: tuple[Engine, list[tuple[int, float, str]]], world: World
) -> None:
    engine, _ = ran
    held: list[bool] = []

    @contextmanager
    def guard() -> Iterator[None]:
        held.append(True)
        with engine._reading():
            yield

    fc = engine.forecaster
    later = max(
        d for _, d in fc.day_forecasts
    )  # a day after every kept forecast: nothing recorded for it yet
    end = day_bounds(later)[1]
    fc.settled(engine.store, end, guard)
    active = len(engine.campaign_ids())
    assert len(held) == 1 + active  # the campaign list, then one replay each
    assert sum(d == day_of(end) for _, d in fc.day_forecasts) == active
