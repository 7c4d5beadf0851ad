"""The 1-minute soak of bench/load.py (slow): real servers (``sitewide serve --workers 2``) on PostgreSQL at 70 %
of the sustainable max rate of the soak's own mix (measured on the same server just before). Every acknowledged
event is stored exactly once and memory stays flat after the warm-up, always; the p99 stays within 2x the idle p99
measured on the same server — asserted when the machine was not oversubscribed during the soak (1-minute load
average at most its core count). Above that, the soak's servers get a fraction of a core and both tails are the
neighbours' bursts (docs/scaling.md), so that test is skipped with the figures in its reason. Under that load the
servers keep serving ads: a serving process whose shared spend read went stale (its follower thread starved)
would answer organic results only, cheaper requests that would flatter the p99. One run serves the four tests. The documented full run is ``--soak 600``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from scripts.pg import ENV_URL, unreachable_reason

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def soak_out() -> str:
    skip = unreachable_reason(os.environ.get(ENV_URL))
    if skip:
        pytest.skip(skip)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    return subprocess.run(
        [sys.executable, "bench/load.py", "--no-load", "--soak", "60"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    ).stdout


@pytest.mark.slow
def test_one_minute_soak_loses_no_event(soak_out: str) -> None:
    lost = re.search(r"^metric: soak_lost_events=(-?\d+) target=0 acked=(\d+)", soak_out, re.M)
    assert lost is not None, soak_out
    assert int(lost.group(1)) == 0 and int(lost.group(2)) > 0


@pytest.mark.slow
def test_one_minute_soak_memory_is_flat_after_the_warm_up(soak_out: str) -> None:
    growth = re.search(r"^metric: soak_rss_growth=([\d.]+)", soak_out, re.M)
    assert growth is not None and float(growth.group(1)) < 0.10, soak_out


@pytest.mark.slow
def test_one_minute_soak_p99_within_twice_idle(soak_out: str) -> None:
    m = re.search(
        r"^metric: soak_p99_ms=\S+ baseline=\S+ ratio=([\d.]+) target=2 .* load=([\d.]+)-([\d.]+) cores=(\d+)",
        soak_out,
        re.M,
    )
    assert m is not None, soak_out
    ratio, load_max, cores = float(m.group(1)), float(m.group(3)), int(m.group(4))
    if load_max > cores:
        pytest.skip(f"machine oversubscribed during the soak (load up to {load_max} on {cores} cores): p99 ratio {ratio}")
    assert ratio <= 2.0, soak_out


@pytest.mark.slow
def test_one_minute_soak_keeps_serving_ads(soak_out: str) -> None:
    m = re.search(r"^metric: soak_promoted_per_serve=([\d.]+) baseline=([\d.]+) .* min_10s=([\d.]+)", soak_out, re.M)
    assert m is not None, soak_out
    under, idle, worst = (float(x) for x in m.groups())
    assert idle > 0 and under >= 0.8 * idle and worst >= 0.5 * idle, soak_out
