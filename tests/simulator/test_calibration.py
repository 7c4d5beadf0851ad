from __future__ import annotations

from sitewide.simulator.calibration import calibration_dict, calibration_report
from sitewide.simulator.config import SimConfig

SMALL = SimConfig(users=2_000, merchants=20, seed=5)


def test_calibration_is_within_tolerance_for_ctr_cvr_and_prices_on_several_datasets() -> None:
    out = calibration_dict(SMALL, n_requests=8_000)
    checked = [r for r in out["rows"] if r["tolerance"] is not None]
    failed = [r for r in checked if not r["ok"]]
    assert not failed, failed
    assert out["all_ok"]
    datasets = {r["dataset"] for r in checked}
    assert {
        "Ali-CCP (ESMM full data)",
        "Open Bandit random",
        "Taobao display-ad sample",
        "Walmart",
    } <= datasets
    metrics = {r["metric"].split(" ")[0] for r in checked}
    assert {"CTR", "CVR", "price"} <= metrics


def test_calibration_detects_a_world_calibrated_to_other_rates() -> None:
    off = calibration_dict(SMALL.with_(target_ctr_search=0.08, target_cvr=0.02), n_requests=4_000)
    bad = {r["metric"] for r in off["rows"] if r["ok"] is False}
    assert "CTR search" in bad and "CVR (orders / clicks)" in bad
    assert not off["all_ok"]


def test_calibration_report_is_a_table_with_a_row_per_statistic() -> None:
    table = calibration_report(SMALL, n_requests=2_000)
    assert table.row_count == len(calibration_dict(SMALL, n_requests=2_000)["rows"])


def test_calibration_report_adds_a_runs_realised_rates_as_context() -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from doubles import make_fixed_engine

    from sitewide.simulator.runner import run_simulation

    cfg = SimConfig(days=1, users=100, merchants=3, products=100, ticks_per_day=4, seed=2)
    res = run_simulation(cfg, make_fixed_engine, progress=False)
    rows = calibration_dict(SMALL, n_requests=1_000, result=res)["rows"]
    realised = {r["metric"]: r for r in rows if "realised" in r["metric"]}
    assert realised["CTR human, realised in run"]["simulated"] == res.summary()["human_ctr"]
    assert all(r["tolerance"] is None for r in realised.values())
