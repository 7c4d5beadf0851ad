"""bench/load.py's CPU accounting: a process's exited children count once they are reaped, so PostgreSQL's cores
(its backends come and go) never read negative and "others" is not PostgreSQL's exited backends."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType


def _load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_load", Path(__file__).parents[1] / "bench" / "load.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def test_an_exited_child_counts_in_the_reaped_cpu_only() -> None:
    load = _load_bench()
    tick = os.sysconf("SC_CLK_TCK")
    before = Path(f"/proc/{os.getpid()}/stat").read_text()
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.4: pass"
    subprocess.run([sys.executable, "-c", burn], check=True)  # waited for: its CPU moves into ours as cutime
    after = Path(f"/proc/{os.getpid()}/stat").read_text()
    reaped = load._stat_cpu_s(after, tick, reaped=True) - load._stat_cpu_s(before, tick, reaped=True)
    own = load._stat_cpu_s(after, tick) - load._stat_cpu_s(before, tick)
    assert reaped - own >= 0.3  # the child's ~0.4 s (plus its start-up), which live-only accounting loses
