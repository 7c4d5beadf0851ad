from __future__ import annotations

import doubles
import pandas as pd
import pytest

from sitewide.simulator.config import SimConfig
from sitewide.simulator.runner import run_many, run_ray


def test_ray_runner_gives_the_same_metrics_as_the_in_process_runner() -> None:
    ray = pytest.importorskip("ray")
    ray.cloudpickle.register_pickle_by_value(doubles)  # the test double is not an installed module
    cfgs = [SimConfig(days=1, users=80, merchants=3, products=120, ticks_per_day=6, seed=s) for s in (11, 12)]
    local = run_many(cfgs, doubles.make_fixed_engine)
    remote = run_ray(cfgs, doubles.make_fixed_engine, num_cpus=2)
    assert len(remote) == 2
    for a, b in zip(local, remote, strict=True):
        pd.testing.assert_frame_equal(a.ticks, b.ticks)
        pd.testing.assert_frame_equal(a.campaigns, b.campaigns)
    assert local[0].summary() != local[1].summary()
