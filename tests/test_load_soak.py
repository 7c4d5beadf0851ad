"""The 1-minute soak of bench/load.py (slow): real servers, 2 workers on PostgreSQL at 70 % of the max rate of
the soak's own mix (measured on the same server just before), every acknowledged event stored exactly once,
memory flat after the warm-up, p99 within 2x the idle p99 measured on the same server. The documented full run
is ``--soak 600``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from scripts.pg import ENV_URL, unreachable_reason

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_one_minute_soak_loses_no_event() -> None:
    skip = unreachable_reason(os.environ.get(ENV_URL))
    if skip:
        pytest.skip(skip)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    out = subprocess.run(
        [sys.executable, "bench/load.py", "--no-load", "--soak", "60"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    ).stdout
    lost = re.search(r"^metric: soak_lost_events=(-?\d+) ", out, re.M)
    assert lost is not None, out
    assert int(lost.group(1)) == 0
    growth = re.search(r"^metric: soak_rss_growth=([\d.]+)", out, re.M)
    assert growth is not None and float(growth.group(1)) < 0.10, out
    p99 = re.search(r"^metric: soak_p99_ms=\S+ baseline=\S+ ratio=([\d.]+) target=2 rate=", out, re.M)
    assert p99 is not None and float(p99.group(1)) <= 2.0, out
