from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from sitewide.cli import app


def test_train_writes_a_checkpoint_the_scorer_loads(tmp_path: Path) -> None:
    from sitewide.models.scorer import load_scorer

    out = tmp_path / "ranker.pt"
    r = CliRunner().invoke(
        app, ["train", "--out", str(out), "--requests", "2000", "--users", "200", "--epochs", "1"]
    )
    assert r.exit_code == 0, r.output
    assert out.is_file()
    assert load_scorer(out) is not None


def test_calibration_prints_simulated_next_to_real() -> None:
    r = CliRunner().invoke(app, ["calibration"])
    assert r.exit_code == 0, r.output
    assert "CTR" in r.output and "CVR" in r.output
