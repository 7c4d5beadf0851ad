"""Ghost-bid holdouts on the real engine in a small simulated market: the share is respected, ghost wins are
never billed, an unset holdout changes nothing, and the estimate sees a real effect."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from sitewide.domain.incrementality import HoldoutEntry
from sitewide.domain.time import DAY_MS
from sitewide.domain.types import NotFound, ValidationError
from sitewide.engine import Engine, EngineConfig
from sitewide.simulator.story import Story
from sitewide.simulator.world import World
from sitewide.wiring import world_engine


def _run(holdout_world: World, share: float, **per_campaign: float) -> Engine:
    engine = world_engine(holdout_world, EngineConfig(scorer="priors", holdout_share=share, holdout_seed=7))
    for cid, s in per_campaign.items():
        engine.holdout.set_share(cid, s)
    Story(holdout_world, engine).run()
    return engine


def _log(engine: Engine) -> list[HoldoutEntry]:
    """Every campaign's logged would-wins, as the store holds them."""
    return [e for cid in engine.campaign_ids() for e in engine.holdout.entries(cid, 0, 10**15)]


@pytest.fixture(scope="module")
def held(holdout_world: World) -> Engine:
    return _run(holdout_world, 0.3)


def test_ghost_share_is_respected(held: Engine) -> None:
    counts = Counter((e.campaign_id, e.ghost) for e in _log(held))
    ghosts = sum(v for (_, g), v in counts.items() if g)
    total = sum(counts.values())
    assert total > 2_000
    assert abs(ghosts / total - 0.3) < 0.03
    for cid in {c for c, _ in counts}:
        n = counts[(cid, True)] + counts[(cid, False)]
        if n >= 400:  # per campaign too (binomial sd ≤ 0.023 here)
            assert abs(counts[(cid, True)] / n - 0.3) < 0.08, cid


def test_ghost_wins_are_never_billed(holdout_world: World) -> None:
    cids = [c.id for c in holdout_world.campaigns_starting(0)]
    engine = _run(holdout_world, 0.0, **{cids[0]: 1.0})
    ghosts = [e for e in _log(engine) if e.campaign_id == cids[0]]
    assert ghosts and all(e.ghost for e in ghosts)
    start = holdout_world.base_ms
    clicks = engine.store.events_between(start, start + 2 * DAY_MS, ["click"])
    assert not any(e.campaign_id == cids[0] for e in clicks)
    report = engine.settle(start, start + DAY_MS, preview=True)
    spend = {c.campaign_id: int(c.spend_micros) for c in report.campaigns}
    assert spend.get(cids[0], 0) == 0
    assert sum(spend.values()) > 0  # the others still pay
    inc = engine.incrementality(cids[0], start, start + DAY_MS)
    assert inc.exposed_wins == 0 and inc.ghost_wins == len(ghosts)
    assert inc.incremental_gmv_micros is None and inc.spend_micros == 0
    assert inc.holdout_cost_micros > 0  # the ad revenue given up


def test_no_holdout_serves_exactly_as_before(holdout_world: World) -> None:
    from sitewide.ports import RequestBatch

    a = world_engine(holdout_world, EngineConfig(scorer="priors"))
    b = world_engine(holdout_world, EngineConfig(scorer="priors", holdout_share=0.0))
    users = holdout_world.users.ids[:50]
    batch = RequestBatch(
        request_ids=[f"r{i}" for i in range(50)],
        user_ids=users,
        kinds=np.ones(50, dtype=np.int64),
        queries=[""] * 50,
        ts_ms=holdout_world.base_ms,
        slots=10,
    )
    x, y = a.serve_batch(batch), b.serve_batch(batch)
    assert (x.product_idx == y.product_idx).all() and (x.promoted == y.promoted).all()
    assert x.promoted.any()
    assert not _log(b)


def test_a_withheld_ad_gives_way_to_the_next_item(holdout_world: World) -> None:
    from sitewide.ports import RequestBatch

    engine = world_engine(holdout_world, EngineConfig(scorer="priors", holdout_share=1.0))
    batch = RequestBatch(
        request_ids=[f"q{i}" for i in range(80)],
        user_ids=holdout_world.users.ids[:80],
        kinds=np.ones(80, dtype=np.int64),
        queries=[""] * 80,
        ts_ms=holdout_world.base_ms,
        slots=10,
    )
    out = engine.serve_batch(batch)
    assert not out.promoted.any()  # every would-win is withheld
    assert (out.product_idx >= 0).all()  # and the slots are still filled (organic items serve)
    assert any(e.ghost for e in _log(engine))


def test_incrementality_of_a_held_out_campaign(held: Engine, holdout_world: World) -> None:
    start = holdout_world.base_ms
    seen = 0
    for cid in held.campaign_ids():
        inc = held.incrementality(cid, start, start + DAY_MS)
        assert inc.holdout_share == pytest.approx(0.3)
        if inc.incremental_gmv_micros is None:
            continue
        seen += 1
        gmv = inc.incremental_gmv_micros
        assert gmv.high is not None and gmv.low <= gmv.value <= gmv.high
        assert inc.exposed_gmv_micros >= 0 and inc.ghost_gmv_micros >= 0
    assert seen >= 3


def test_bad_input(held: Engine, holdout_world: World) -> None:
    with pytest.raises(NotFound):
        held.incrementality("nope", holdout_world.base_ms, holdout_world.base_ms + DAY_MS)
    with pytest.raises(ValidationError):
        held.incrementality(held.campaign_ids()[0], holdout_world.base_ms, holdout_world.base_ms)
    with pytest.raises(ValidationError):
        held.holdout.set_share("c", 1.5)


def test_holdouts_survive_a_restart(holdout_world: World, tmp_path: Path) -> None:
    """Shares and the would-win log are in the store: an engine started again over the same database measures
    the same incrementality and keeps holding out."""
    from sitewide.storage.sql import SqlStore
    from sitewide.wiring import seeded_engine

    cid = holdout_world.campaigns_starting(0)[0].id
    cfg = EngineConfig(scorer="priors", holdout_seed=7)
    path = tmp_path / "h.sqlite"
    first = seeded_engine(
        SqlStore.sqlite(path), holdout_world.shops, holdout_world.product_list, holdout_world.campaigns, cfg
    )
    first.holdout.set_share(cid, 0.5)
    Story(holdout_world, first).run()
    start = holdout_world.base_ms
    before = first.incrementality(cid, start, start + DAY_MS)
    assert before.ghost_wins > 0 and before.exposed_wins > 0
    again = seeded_engine(
        SqlStore.sqlite(path), holdout_world.shops, holdout_world.product_list, holdout_world.campaigns, cfg
    )
    assert again.holdout.share_of(cid) == 0.5
    assert again.incrementality(cid, start, start + DAY_MS) == before


def test_settling_deletes_would_win_entries_past_the_retention(holdout_world: World) -> None:
    from sitewide.engine.holdout import HOLDOUT_RETENTION_DAYS

    engine = world_engine(holdout_world, EngineConfig(scorer="priors"))
    day0 = holdout_world.base_ms
    old = HoldoutEntry("r-old", "c1", True, day0, 5)
    kept = HoldoutEntry("r-kept", "c1", False, day0 + DAY_MS, 5)
    engine.store.append_holdout_entries([old, kept])
    end = day0 + (HOLDOUT_RETENTION_DAYS + 1) * DAY_MS  # day0 is past the retention, day0 + 1 day is not
    engine.settle(end - DAY_MS, end, preview=True)  # a preview changes nothing
    assert engine.holdout.entries("c1", 0, 10**15) == [old, kept]
    engine.settle(end - DAY_MS, end)
    assert engine.holdout.entries("c1", 0, 10**15) == [kept]
    with pytest.raises(ValidationError):
        engine.holdout.prune(end, retention_days=0)
