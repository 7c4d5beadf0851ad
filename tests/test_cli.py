from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sitewide.cli import app, main


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


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["simulate", "--days", "0"], "--days must be at least 1"),
        (["simulate", "--users", "-5"], "--users must be at least 1"),
        (["simulate", "--days", "abc"], "Invalid value for '--days'"),
        (["serve", "--port", "99999"], "--port must be between 1 and 65535"),
        (["serve", "--scorer-path", "/nonexistent/ranker.pt"], "no such file"),
        (["train", "--epochs", "0"], "--epochs must be at least 1"),
        (["demo", "--port", "-1"], "--port must be between 0 and 65535"),
        (["no-such-command"], "No such command"),
    ],
)
def test_bad_values_exit_non_zero_with_one_clear_line(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code not in (0, None)
    out = capsys.readouterr()
    lines = [ln for ln in out.err.splitlines() if ln.strip()]
    assert len(lines) == 1, out.err
    assert lines[0].startswith("sitewide: error:") and says in lines[0], lines[0]
    assert "Traceback" not in out.err + out.out


def test_serve_on_a_busy_port_fails_before_creating_a_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(SystemExit) as exc:
            main(["serve", "--port", str(port), "--data-dir", str(tmp_path)])
    assert exc.value.code not in (0, None)
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err
    assert "operator API key" not in err  # the shown-once key was not generated and lost
    assert not (tmp_path / "sitewide.sqlite").exists()


def test_help_works_through_the_entry_point(capsys: pytest.CaptureFixture[str]) -> None:
    main(["simulate", "--help"])
    out = capsys.readouterr().out
    assert "simulated days" in out and "simulated shoppers" in out


def test_bare_command_prints_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([])
    out = capsys.readouterr()
    assert "simulate" in out.out and "Traceback" not in out.err


@pytest.mark.parametrize(("flag", "logged"), [([], False), (["--access-log"], True)])
def test_serve_writes_an_access_log_only_when_asked(
    flag: list[str], logged: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No per-request log line by default (it costs about as much CPU as a third of the request)."""
    import uvicorn

    import sitewide.whatif_jobs
    import sitewide.wiring

    seen: dict[str, object] = {}
    monkeypatch.setattr(sitewide.whatif_jobs, "create_app", lambda settings: "app")
    monkeypatch.setattr(sitewide.wiring, "freeze_heap", lambda: None)
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw, app=app))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    main(["serve", "--port", str(port), "--data-dir", str(tmp_path), *flag])
    assert seen["app"] == "app" and seen["access_log"] is logged
