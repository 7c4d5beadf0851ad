from __future__ import annotations

import pandas as pd
import pytest

from sitewide.client import SitewideClient
from sitewide.http_engine import HttpMarketEngine
from sitewide.simulator.config import SimConfig
from sitewide.simulator.runner import run_simulation
from sitewide.wiring import world_engine, world_engine_factory


def test_simulator_over_http_matches_the_in_process_engine() -> None:
    """The same market driven through the service's HTTP API gives the same metrics as in-process."""
    testclient = pytest.importorskip("fastapi.testclient")
    try:
        from sitewide.service.app import create_app
    except ImportError as exc:  # pragma: no cover - the service is built alongside
        pytest.skip(f"service not importable: {exc}")
    cfg = SimConfig(
        days=1, users=60, merchants=3, products=80, ticks_per_day=4, seed=21, report_impressions=True
    )

    def over_http(world):  # type: ignore[no-untyped-def]
        app = create_app(engine=world_engine(world), announce=None)
        key = app.state.bootstrap_operator_key  # platform calls (serve, events, settle) need the operator key
        return HttpMarketEngine(
            SitewideClient("http://testserver", api_key=key, http=testclient.TestClient(app))
        )

    local = run_simulation(cfg, world_engine_factory(), progress=False)
    remote = run_simulation(cfg, over_http, progress=False)
    pd.testing.assert_frame_equal(local.ticks, remote.ticks)
    pd.testing.assert_frame_equal(local.campaigns, remote.campaigns)


def test_http_engine_splits_big_serve_batches_without_changing_the_answer() -> None:
    import numpy as np
    from fastapi.testclient import TestClient

    from sitewide.ports import RequestBatch
    from sitewide.service.app import create_app
    from sitewide.simulator.world import build_world

    world = build_world(SimConfig(days=1, users=20, merchants=2, products=40, seed=3))
    app = create_app(engine=world_engine(world), announce=None)
    eng = HttpMarketEngine(
        SitewideClient("http://testserver", api_key=app.state.bootstrap_operator_key, http=TestClient(app))
    )
    n = 7
    batch = RequestBatch(
        [f"r{i}" for i in range(n)],
        [f"u{i}" for i in range(n)],
        np.zeros(n, np.int64),
        ["usb drive"] * n,
        world.base_ms + 1,
        4,
    )
    whole = eng.serve_batch(batch)
    eng.SERVE_BATCH = 3
    parts = eng.serve_batch(batch)
    assert parts.product_idx.shape == (n, 4)
    assert (parts.product_idx == whole.product_idx).all()
