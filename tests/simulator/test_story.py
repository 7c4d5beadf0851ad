from __future__ import annotations

import pandas as pd
from doubles import FixedScoreEngine, make_fixed_engine

from sitewide.domain.time import DAY_MS
from sitewide.domain.types import EventKind
from sitewide.simulator.config import SimConfig
from sitewide.simulator.metrics import SimResult, summary_table
from sitewide.simulator.runner import run_simulation
from sitewide.simulator.story import Story, daily_curve
from sitewide.simulator.world import build_world


def _run(cfg: SimConfig) -> tuple[SimResult, FixedScoreEngine]:
    world = build_world(cfg)
    engine = FixedScoreEngine(world)
    return Story(world, engine).run(), engine


def test_same_seed_gives_identical_metrics(tiny: SimConfig) -> None:
    a = run_simulation(tiny, make_fixed_engine, progress=False)
    b = run_simulation(tiny, make_fixed_engine, progress=False)
    pd.testing.assert_frame_equal(a.ticks, b.ticks)
    pd.testing.assert_frame_equal(a.campaigns, b.campaigns)
    assert a.summary() == b.summary()


def test_different_seeds_give_different_metrics(tiny: SimConfig) -> None:
    a = run_simulation(tiny, make_fixed_engine, progress=False)
    b = run_simulation(tiny.with_(seed=tiny.seed + 1), make_fixed_engine, progress=False)
    assert a.summary() != b.summary()
    assert not a.ticks["requests"].equals(b.ticks["requests"])


def test_orders_follow_their_clicks_and_refunds_follow_their_orders(tiny: SimConfig) -> None:
    res, eng = _run(tiny)
    ev = eng.events
    orders = [e for e in ev.values() if e.kind == EventKind.ORDER]
    refunds = [e for e in ev.values() if e.kind == EventKind.REFUND]
    assert orders, "the tiny market should produce orders"
    for o in orders:
        click = ev[o.click_id]  # every order names a click the engine has seen
        assert click.kind == EventKind.CLICK
        assert o.ts_ms > click.ts_ms and o.user_id == click.user_id and o.product_id == click.product_id
        assert o.order_value_micros > 0 and isinstance(o.order_value_micros, int)
    for r in refunds:
        assert ev[r.order_id].ts_ms < r.ts_ms
        assert r.order_value_micros == ev[r.order_id].order_value_micros
    assert res.summary()["orders_sent"] == len(orders)


def test_bots_click_but_no_order_comes_from_a_bot(tiny: SimConfig) -> None:
    world = build_world(tiny)
    engine = FixedScoreEngine(world)
    Story(world, engine).run()
    bots = {world.users.ids[i] for i in range(len(world.users)) if world.users.is_bot[i]}
    kinds_by_user = [(e.kind, e.user_id) for e in engine.events.values()]
    assert any(k == EventKind.CLICK and u in bots for k, u in kinds_by_user)
    assert not any(k == EventKind.ORDER and u in bots for k, u in kinds_by_user)


def test_promoted_clicks_carry_campaign_and_price_and_organic_ones_do_not(tiny: SimConfig) -> None:
    _, eng = _run(tiny)
    clicks = [e for e in eng.events.values() if e.kind == EventKind.CLICK]
    assert any(c.campaign_id for c in clicks) and any(not c.campaign_id for c in clicks)
    for c in clicks:
        assert (c.campaign_id is not None) == (c.price_micros > 0)


def test_events_fall_inside_the_simulated_days(tiny: SimConfig) -> None:
    world = build_world(tiny)
    res, eng = _run(tiny)
    end = world.base_ms + tiny.days * DAY_MS
    assert all(world.base_ms <= e.ts_ms < end for e in eng.events.values())
    assert res.ticks["ts_ms"].is_monotonic_increasing
    assert len(res.ticks) == tiny.days * tiny.ticks_per_day


def test_settlement_rows_come_from_the_engine_each_day(tiny: SimConfig) -> None:
    res, eng = _run(tiny)
    per_day = res.campaigns.groupby("day")["campaign_id"].nunique()
    assert list(per_day.index) == list(range(tiny.days))
    assert (per_day == len(eng.campaign_ids())).all()
    # the engine's settled spend equals the CPC of promoted clicks the simulator sent
    assert res.campaigns["spend_micros"].sum() == res.campaigns["true_click_cost_micros"].sum()


def test_impressions_are_reported_only_when_asked(tiny: SimConfig) -> None:
    _, eng_off = _run(tiny)
    res_on, eng_on = _run(tiny.with_(report_impressions=True))
    assert not any(e.kind == EventKind.IMPRESSION for e in eng_off.events.values())
    n_imp = sum(e.kind == EventKind.IMPRESSION for e in eng_on.events.values())
    assert n_imp == res_on.summary()["impressions"]


def test_traffic_follows_the_daily_curve() -> None:
    curve = daily_curve(24)
    assert abs(curve.sum() - 1.0) < 1e-9
    assert curve[21] > 3 * curve[4]  # evening peak, night trough (Open Bandit's hourly mix, Tokyo time)


def test_result_round_trips_through_parquet(tiny: SimConfig, tmp_path) -> None:  # type: ignore[no-untyped-def]
    res = run_simulation(tiny, make_fixed_engine, progress=True)
    res.save(tmp_path / "run")
    back = SimResult.load(tmp_path / "run")
    pd.testing.assert_frame_equal(res.ticks, back.ticks)
    assert back.summary() == res.summary()
    assert summary_table(res).row_count >= 10


def test_campaigns_start_and_stop_on_their_scheduled_days(tiny: SimConfig) -> None:
    cfg = tiny.with_(days=3, merchants=12, late_start_share=0.5, early_stop_share=0.7, campaign_share=1.0)
    world = build_world(cfg)
    starts, stops = world.campaign_start_day, world.campaign_stop_day
    assert (starts > 0).any() and (stops < cfg.days).any()
    assert (stops > starts).all()
    engine = FixedScoreEngine(world)
    assert set(engine.campaign_ids()) == {c.id for c in world.campaigns_starting(0)}
    Story(world, engine).run()
    assert set(engine.campaign_ids()) == {c.id for c in world.campaigns}
    assert engine.paused == {c.id for c, d in zip(world.campaigns, stops, strict=True) if d < cfg.days}
    promoted_days = {
        (e.campaign_id, (e.ts_ms - world.base_ms) // DAY_MS)
        for e in engine.events.values()
        if e.kind == EventKind.CLICK and e.campaign_id
    }
    for cid, day in promoted_days:
        i = world.campaign_index[cid]
        assert starts[i] <= day < stops[i]


_CHILD = """
import sys, json
sys.path.insert(0, {here!r})
from doubles import make_fixed_engine
from sitewide.simulator import SimConfig, run_simulation
cfg = SimConfig(days=1, users=120, merchants=4, products=150, ticks_per_day=6, seed=8, target_cvr=0.05)
print(json.dumps(run_simulation(cfg, make_fixed_engine, progress=False).summary(), sort_keys=True))
"""


def test_same_seed_gives_identical_metrics_across_processes_and_hash_seeds() -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = _CHILD.format(here=str(Path(__file__).parent))
    outs = []
    for hash_seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        outs.append(
            subprocess.run(
                [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
            ).stdout
        )
    assert outs[0] == outs[1] and outs[0].strip()
