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
