"""The operator's what-if sweep: qualitative invariants on a tiny market with the real engine."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from sitewide.domain.types import ValidationError
from sitewide.engine import EngineConfig
from sitewide.simulator.config import SimConfig
from sitewide.simulator.runner import run_simulation
from sitewide.whatif import (
    Setting,
    alpha_reserve_grid,
    apply_changes,
    frontier_chart,
    summarise,
    sweep,
)
from sitewide.wiring import world_engine_factory


@pytest.fixture(scope="module")
def market() -> SimConfig:
    return SimConfig(
        days=1,
        users=300,
        merchants=6,
        products=200,
        ticks_per_day=8,
        seed=5,
        campaign_share=1.0,
        target_cvr=0.1,
    )


@pytest.fixture(scope="module")
def grid() -> list[Setting]:
    return alpha_reserve_grid([0.0, 1.0], {"low": 10_000, "high": 200_000})


@pytest.fixture(scope="module")
def frame(market: SimConfig, grid: list[Setting]) -> pd.DataFrame:
    return sweep(market, grid, seeds=[5, 6])


def test_one_row_per_seed_and_setting(frame: pd.DataFrame, grid: list[Setting]) -> None:
    assert len(frame) == 2 * len(grid)
    assert list(frame["setting"][: len(grid)]) == [s.label for s in grid]
    assert sorted(set(frame["seed"])) == [5, 6]
    for col in ("ad_revenue_micros", "gmv_micros", "ndcg", "ctr", "compensation_micros"):
        assert col in frame.columns


def test_alpha_zero_is_organic_only(frame: pd.DataFrame) -> None:
    zero = frame[frame["alpha"] == 0.0]
    assert len(zero) == 4
    assert (zero["promoted_impressions"] == 0).all()
    assert (zero["ad_revenue_micros"] == 0).all()
    assert (zero["gmv_promoted_micros"] == 0).all()
    assert (zero["compensation_micros"] == 0).all()
    # the reserve cannot matter when nothing is promoted: same world, same stream, same row
    for _, g in zero.groupby("seed"):
        rows = g.drop(columns=["setting", "reserve_cpc_micros"]).reset_index(drop=True)
        pd.testing.assert_frame_equal(rows.iloc[[0]], rows.iloc[[1]].set_axis([0]))


def test_positive_alpha_earns_ad_revenue(frame: pd.DataFrame) -> None:
    pos = frame[frame["alpha"] > 0]
    assert (pos["promoted_impressions"] > 0).all()
    assert (pos["ad_revenue_micros"] > 0).all()
    # the settled spend never exceeds what the clicks were priced at (settlement may drop invalid clicks)
    assert (pos["ad_revenue_micros"] <= pos["clicked_cpc_micros"]).all()
    assert (pos["net_ad_revenue_micros"] == pos["ad_revenue_micros"] - pos["compensation_micros"]).all()
    # promoted slots go to ads, so relevance on the sampled requests is not what organic-only gives
    for seed, g in frame.groupby("seed"):
        organic = g[g["alpha"] == 0]["ndcg"].iloc[0]
        assert (g[g["alpha"] > 0]["ndcg"] != organic).all(), seed


def test_every_promoted_click_pays_at_least_the_reserve(frame: pd.DataFrame) -> None:
    pos = frame[frame["alpha"] > 0]
    assert (pos["promoted_clicks"] > 0).all()
    assert (pos["clicked_cpc_micros"] >= pos["reserve_cpc_micros"] * pos["promoted_clicks"]).all()
    organic = frame[frame["alpha"] == 0]
    assert (organic["promoted_clicks"] == 0).all()


def test_same_seed_same_row(market: SimConfig, grid: list[Setting], frame: pd.DataFrame) -> None:
    again = sweep(market, [grid[1]], seeds=[6])
    first = frame[(frame["seed"] == 6) & (frame["setting"] == grid[1].label)].reset_index(drop=True)
    pd.testing.assert_frame_equal(again, first)


def test_sweep_row_matches_run_simulation(market: SimConfig, frame: pd.DataFrame) -> None:
    cfg = apply_changes(EngineConfig(), {"alpha": 1.0, "reserve_cpc_micros": 10_000})
    s = run_simulation(market.with_(seed=5), world_engine_factory(cfg), progress=False).summary()
    row = frame[(frame["seed"] == 5) & (frame["alpha"] == 1.0) & (frame["reserve_cpc_micros"] == 10_000)]
    assert len(row) == 1
    r = row.iloc[0]
    assert r["ad_revenue_micros"] == s["campaign_spend_micros"]
    assert r["gmv_micros"] == s["gmv_micros"]
    assert r["ndcg"] == pytest.approx(s["ndcg"])


def test_changes_routed_and_validated() -> None:
    cfg = apply_changes(EngineConfig(), {"alpha": 2.0, "use_shop_score": False, "max_ad_share": 0.3})
    assert cfg.auction.alpha == 2.0 and cfg.auction.max_ad_share == 0.3 and not cfg.use_shop_score
    assert EngineConfig().auction.alpha != 2.0  # the base is untouched
    with pytest.raises(ValidationError):
        apply_changes(EngineConfig(), {"alhpa": 1.0})
    with pytest.raises(ValidationError):
        apply_changes(EngineConfig(), {"alpha": -1.0})  # the auction's own validation still applies
    with pytest.raises(ValidationError):
        sweep(SimConfig(users=10), [Setting("a"), Setting("a")])


def test_chart_is_self_contained(frame: pd.DataFrame, tmp_path: Path) -> None:
    files = frontier_chart(frame, tmp_path / "sub" / "frontier.html")
    html = files[0].read_text(encoding="utf-8")
    assert files[0].name == "frontier.html"
    assert re.search(r"<script[^>]*\ssrc=", html) is None  # no external script: plotly.js is inlined
    assert len(html) > 1_000_000  # plotly.js inlined
    assert "ad revenue vs GMV" in html


def test_summarise_means_over_seeds(frame: pd.DataFrame, grid: list[Setting]) -> None:
    m = summarise(frame)
    assert list(m["setting"]) == [s.label for s in grid]
    assert (m["seeds"] == 2).all()
    one = frame[frame["setting"] == grid[1].label]
    got = m.loc[m["setting"] == grid[1].label, "ad_revenue_micros"].iloc[0]
    assert got == pytest.approx(one["ad_revenue_micros"].mean())


def test_changes_reach_the_pool_and_the_guarantee() -> None:
    from decimal import Decimal

    cfg = apply_changes(
        EngineConfig(), {"min_rating": 4.2, "trigger_roi_factor": 0.5, "min_orders": 3, "alpha": 0.1}
    )
    assert cfg.eligibility_policy.min_rating == 4.2 and cfg.eligibility_policy.version == "what-if"
    contract = cfg.settlement_policy().default_contract
    assert contract.trigger_roi_factor == Decimal("0.5") and contract.min_orders == 3
    assert cfg.auction.alpha == 0.1
    assert EngineConfig().settlement_policy().default_contract.min_orders != 3  # the base is untouched


def test_compare_shows_the_change_side_by_side(market: SimConfig) -> None:
    from sitewide.whatif import compare

    table = compare(market, {"max_ad_share": 0.0}, seeds=[5])
    assert list(table.columns) == ["current", "changed", "change"]
    assert table.loc["promoted_impressions", "current"] > 0
    assert table.loc["promoted_impressions", "changed"] == 0  # no ad slots left
    assert table.loc["ad_revenue_micros", "change"] < 0


def test_parse_changes_reads_values_and_refuses_unknown_keys() -> None:
    from sitewide.domain.types import ValidationError
    from sitewide.whatif import parse_changes

    got = parse_changes(["alpha=2", "max_ad_share=0.25", "use_shop_score=false", "mechanism=vcg"])
    assert got == {"alpha": 2, "max_ad_share": 0.25, "use_shop_score": False, "mechanism": "vcg"}
    with pytest.raises(ValidationError, match="no_such_knob"):
        parse_changes(["no_such_knob=1"])
    with pytest.raises(ValidationError, match="KEY=VALUE"):
        parse_changes(["alpha"])


def test_the_whatif_command_prints_both_policies_side_by_side(capsys: pytest.CaptureFixture[str]) -> None:
    from sitewide.cli import main

    main(["whatif", "max_ad_share=0", "--users", "150", "--merchants", "4"])
    out = capsys.readouterr().out
    assert "what-if: max_ad_share=0" in out
    assert "current" in out and "changed" in out and "change" in out
    row = next(line for line in out.splitlines() if "promoted_impressions" in line)
    cells = [c.strip() for c in row.split("│") if c.strip()]
    assert cells[0] == "promoted_impressions" and float(cells[1].replace(",", "")) > 0 and cells[2] == "0"
    with pytest.raises(SystemExit):
        main(["whatif", "no_such_knob=1"])
    assert "unknown engine setting" in capsys.readouterr().err


@pytest.mark.slow
def test_a_ray_sweep_gives_the_frame_of_the_sweep_here(market: SimConfig) -> None:
    pytest.importorskip("ray")
    from sitewide.whatif_jobs import ray_sweep

    settings = [Setting("current", {}), Setting("alpha=2", {"alpha": 2.0})]
    here = sweep(market, settings, [0, 1])
    pd.testing.assert_frame_equal(ray_sweep(market, settings, [0, 1], num_cpus=2), here)
