"""The operator's what-if jobs (``POST /whatif/jobs``, ``GET /whatif/jobs/{id}``): a small job runs in a process
of its own and completes with the side-by-side figures the CLI prints; unknown settings and fields are 422
before anything starts; the limits are enforced; one job at a time; operator only; a server built without the
port has no what-if routes."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from conftest import OPERATOR_KEY, merchant_key
from sitewide.api.whatif import MAX_DAYS, MAX_SEEDS, MAX_USERS
from sitewide.domain.types import Product, Shop
from sitewide.settings import Settings
from sitewide.storage.sql import SqlStore
from sitewide.whatif_jobs import JOBS_DIR, compare_rows, create_app
from sitewide.wiring import seeded_engine

SMALL = {"days": 1, "users": 100, "merchants": 3}


@pytest.fixture()
def jobs_app(tmp_path: Path, shops: list[Shop], products: list[Product]) -> FastAPI:
    engine = seeded_engine(SqlStore.sqlite(tmp_path / "t.sqlite"), shops, products)
    return create_app(Settings(data_dir=tmp_path, load_catalogue=False), engine, operator_key=OPERATOR_KEY)


@pytest.fixture()
def op(jobs_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(jobs_app, headers={"Authorization": f"Bearer {OPERATOR_KEY}"}) as c:
        yield c


def test_a_small_job_runs_elsewhere_and_completes_side_by_side(
    jobs_app: FastAPI, op: TestClient, tmp_path: Path
) -> None:
    r = op.post("/whatif/jobs", json={"changes": {"max_ad_share": 0}, **SMALL})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] in ("queued", "running") and job["rows"] is None
    busy = op.post("/whatif/jobs", json={"changes": {"alpha": 1.0}, **SMALL})  # one at a time
    assert busy.status_code == 409 and "already running" in busy.json()["detail"]
    deadline = time.monotonic() + 300
    while (got := op.get(f"/whatif/jobs/{job['id']}").json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, got
        time.sleep(0.5)
    assert got["status"] == "done", got
    assert got["finished_ms"] >= got["created_ms"]
    rows = {row["figure"]: row for row in got["rows"]}
    shut = rows["promoted_impressions"]
    assert shut["current"] > 0 and shut["changed"] == 0 and shut["change"] == -shut["current"]
    assert rows["max_ad_share"]["changed"] == 0
    # the job's process, not this one, ran the market: its log sits beside the job, and its figures are the
    # ones the CLI's function gives for the same request (common random numbers: deterministic per seed)
    assert (tmp_path / JOBS_DIR / f"{job['id']}.log").exists()
    here = compare_rows({"max_ad_share": 0}, days=1, users=100, merchants=3, seeds=1)
    assert [(x.figure, x.changed) for x in here if x.figure == "ad_revenue_micros"] == [
        ("ad_revenue_micros", rows["ad_revenue_micros"]["changed"])
    ]
    assert jobs_app.state.whatif_jobs.running() == 0  # room again (without leaving a job running after the test)


@pytest.mark.parametrize(
    "body, says",
    [
        ({"changes": {"no_such_knob": 1}}, "unknown engine setting"),
        ({"changes": {"alpha": 1}, "colour": "red"}, "colour"),
        ({"changes": {}}, "changes"),
        ({"changes": {"alpha": 1}, "days": MAX_DAYS + 1}, "days"),
        ({"changes": {"alpha": 1}, "users": MAX_USERS + 1}, "users"),
        ({"changes": {"alpha": 1}, "seeds": MAX_SEEDS + 1}, "seeds"),
        ({"changes": {"alpha": 1}, "days": 0}, "days"),
        # a value of the wrong kind, or one the setting refuses, is 422 too (not a job that fails inside)
        ({"changes": {"alpha": "x"}}, "alpha='x' (expects float)"),
        ({"changes": {"gmv_weight": "x"}}, "gmv_weight='x'"),
        ({"changes": {"min_orders": 1.5}}, "min_orders=1.5 (expects int)"),
        ({"changes": {"trigger_roi_factor": "x"}}, "trigger_roi_factor='x'"),
        ({"changes": {"min_rating": "x"}}, "min_rating='x'"),
        ({"changes": {"use_shop_score": 3}}, "use_shop_score=3 (expects bool)"),
        ({"changes": {"scorer": "zzz"}}, "scorer='zzz'"),
        ({"changes": {"pacing": 1}}, "cannot change it"),
        ({"changes": {"alpha": -1}}, "alpha must be"),
        ({"changes": {"mechanism": "x"}}, "mechanism must be"),
    ],
)
def test_bad_keys_and_past_the_limits_are_422_and_start_nothing(
    op: TestClient, tmp_path: Path, body: dict[str, object], says: str
) -> None:
    r = op.post("/whatif/jobs", json=body)
    assert r.status_code == 422 and says in r.json()["detail"], r.text
    jobs = tmp_path / JOBS_DIR
    assert not jobs.exists() or not os.listdir(jobs)


def test_operator_only_and_unknown_ids(jobs_app: FastAPI, op: TestClient) -> None:
    with TestClient(jobs_app) as anon:
        assert anon.post("/whatif/jobs", json={"changes": {"alpha": 1}}).status_code == 401
    with TestClient(jobs_app, headers={"Authorization": f"Bearer {merchant_key(op, 'm1')}"}) as m1:
        assert m1.post("/whatif/jobs", json={"changes": {"alpha": 1}}).status_code == 403
        assert m1.get(f"/whatif/jobs/{'0' * 32}").status_code == 403
    assert op.get(f"/whatif/jobs/{'0' * 32}").status_code == 404
    assert op.get("/whatif/jobs/..%2F..%2Fetc").status_code == 404


def test_a_server_without_the_port_has_no_whatif_routes(app: FastAPI) -> None:
    with TestClient(app, headers={"Authorization": f"Bearer {OPERATOR_KEY}"}) as c:
        assert c.post("/whatif/jobs", json={"changes": {"alpha": 1}}).status_code == 404
        assert "/whatif/jobs" not in c.get("/openapi.json").json()["paths"]
