"""The operator's what-if as jobs outside the serving process, and the app that has them (issue 21).

:func:`compare_rows` is the what-if itself, the one both ``sitewide whatif`` (the CLI) and a job run:
``whatif.compare`` over a simulated market, as typed rows. :class:`ProcessJobs` implements the service's
``WhatIfJobs`` port: a job is a JSON file under ``root`` (every worker process over the same data dir sees every
job), run by a process of its own (``python -m sitewide.whatif_jobs FILE``, at a lower CPU priority, killed
past ``timeout_s``), at most ``max_running`` at a time. The service never imports this module (an import
contract keeps the simulator and the what-if driver out of serving code): this module is a composition root
above it, and :func:`create_app` / :func:`app_from_env` (what ``sitewide serve`` starts) inject the port.

Bounded work: the request's limits (days, shoppers, merchants, seeds, changes) are the API body's
(``sitewide.api.whatif``); an unknown setting is refused before any process starts.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from functools import partial
from pathlib import Path
from types import NoneType, UnionType
from typing import TYPE_CHECKING, Any, get_args, get_type_hints

from fastapi import FastAPI

from sitewide.api.whatif import ChangeValue, WhatIfJobIn, WhatIfJobOut, WhatIfRowOut
from sitewide.domain.types import Conflict, ValidationError
from sitewide.engine import Engine, EngineConfig
from sitewide.service.app import create_app as create_service_app
from sitewide.settings import Settings
from sitewide.wiring import SCORERS, freeze_heap

if TYPE_CHECKING:
    import pandas as pd

    from sitewide.simulator import SimConfig
    from sitewide.whatif import Setting

JOBS_DIR = "whatif-jobs"


def _setting_kinds(base: EngineConfig) -> dict[str, type | None]:
    """Each settable key's scalar kind (bool, int, float, str; ``X | None`` counts as ``X``), routed as
    ``whatif.apply_changes`` routes it: the engine's own fields first, then the auction's, the eligibility
    policy's, the guarantee's. A field that is not a scalar (a nested policy, a set) has kind None: a what-if
    job cannot change it."""
    from sitewide.whatif import GUARANTEE_KEYS

    contract = base.settlement_policy().default_contract
    kinds: dict[str, type | None] = {}
    for obj, only in (
        (contract, GUARANTEE_KEYS),
        (base.eligibility_policy, None),
        (base.auction, None),
        (base, None),
    ):  # later wins: the order apply_changes gives precedence in
        for name, hint in get_type_hints(type(obj)).items():
            if only is not None and name not in only:
                continue
            if isinstance(hint, UnionType):
                args = [a for a in get_args(hint) if a is not NoneType]
                hint = args[0] if len(args) == 1 else hint
            kind = {Decimal: float}.get(hint, hint)
            kinds[name] = kind if kind in (bool, int, float, str) else None
    kinds.pop("version", None)
    return kinds


def _fits(value: object, kind: type) -> bool:
    """``value`` is a ``kind`` (a bool is no number; an int may be a float; a float is finite)."""
    if kind is bool or isinstance(value, bool):
        return kind is bool and isinstance(value, bool)
    if kind is float:
        return isinstance(value, int | float) and math.isfinite(value)
    return isinstance(value, kind)


def check_changes(changes: Mapping[str, Any]) -> None:
    """Refuse, with ``ValidationError`` (a 422) before any market runs: an unknown setting, a value of the wrong
    kind (``alpha="x"``, ``min_orders=1.5``, ``use_shop_score=3``; a number where a float goes must be finite),
    an unknown scorer, and a value the settings themselves refuse (``alpha=-1``, ``mechanism="x"``)."""
    from sitewide.whatif import apply_changes

    base = EngineConfig()
    kinds = _setting_kinds(base)
    bad = []
    for k, v in changes.items():
        kind = kinds.get(k, object)
        if kind is None:
            bad.append(f"{k} (not a single value: a what-if job cannot change it)")
        elif kind is not object and not _fits(v, kind):
            bad.append(f"{k}={v!r} (expects {kind.__name__})")
        elif k == "scorer" and v not in SCORERS:
            bad.append(f"scorer={v!r} (expects one of {', '.join(SCORERS)})")
    if bad:
        raise ValidationError(f"bad value(s) for engine setting(s): {'; '.join(bad)}")
    try:
        apply_changes(base, changes).settlement_policy()  # unknown keys; the settings' own checks
    except ValidationError:
        raise
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise ValidationError(f"bad value(s) for engine setting(s): {exc}") from exc


def ray_sweep(
    base: SimConfig,
    settings: Sequence[Setting],
    seeds: Sequence[int],
    *,
    engine_base: EngineConfig | None = None,
    address: str | None = None,
    num_cpus: int | None = None,
) -> pd.DataFrame:
    """``whatif.sweep`` with one Ray task per seed: each builds its seed's world once and runs every setting on
    it (common random numbers, as ``sweep`` does); the rows come back in ``sweep``'s order, so the frame is the
    one ``sweep`` gives here. ``address``: None for a local Ray, ``"auto"`` or ``"ray://host:10001"`` for a
    cluster."""
    import pandas as pd
    import ray  # optional extra

    from sitewide.simulator.runner import ray_session
    from sitewide.whatif import sweep

    with ray_session(address, num_cpus):
        task = ray.remote(num_cpus=1)(sweep)
        parts = ray.get([task.remote(base, list(settings), [s], engine_base=engine_base) for s in seeds])
    return pd.concat(parts, ignore_index=True)


def compare_rows(
    changes: Mapping[str, ChangeValue],
    *,
    days: int,
    users: int,
    merchants: int,
    seeds: int,
    ray: bool = False,
    address: str | None = None,
) -> list[WhatIfRowOut]:
    """The what-if: the same simulated market (``days`` × ``users`` shoppers × ``merchants``, mean over
    ``seeds`` markets) under the current policy and under ``changes``, one row per figure; the seeds' markets on
    Ray workers with ``ray`` (``address``: a cluster's, else a local Ray)."""
    from sitewide.simulator import SimConfig
    from sitewide.whatif import compare

    check_changes(changes)
    runner = partial(ray_sweep, address=address) if ray else None
    base = SimConfig(days=days, users=users, merchants=merchants)
    df = compare(base, changes, seeds=range(seeds), runner=runner)
    return [
        WhatIfRowOut(figure=str(name), **{c: _defined(r[c]) for c in ("current", "changed", "change")})
        for name, r in df.iterrows()
    ]


def _defined(v: object) -> float | None:
    f = float(v)  # type: ignore[arg-type]
    return f if math.isfinite(f) else None


def _now_ms() -> int:
    return int(time.time() * 1000)


def _write(path: Path, job: WhatIfJobOut) -> None:
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(job.model_dump_json())
    os.replace(tmp, path)  # a reader sees the old state or the new, never half of one


class ProcessJobs:
    """The ``WhatIfJobs`` port: jobs as files under ``root``, each run by a separate process."""

    def __init__(self, root: Path, *, max_running: int = 1, timeout_s: int = 900) -> None:
        self.root, self.max_running, self.timeout_s = Path(root), max_running, timeout_s

    def _path(self, job_id: str) -> Path | None:
        if len(job_id) != 32 or any(c not in "0123456789abcdef" for c in job_id):
            return None  # not an id this class made (and never a path outside root)
        return self.root / f"{job_id}.json"

    def _read(self, path: Path) -> WhatIfJobOut | None:
        try:
            job = WhatIfJobOut.model_validate_json(path.read_text())
        except (OSError, ValueError):
            return None
        late = job.status in ("queued", "running") and _now_ms() > job.created_ms + (self.timeout_s + 60) * 1000
        if late:  # its process died without a word (killed with the machine, say): say so
            job = job.model_copy(update={"status": "failed", "error": "the job's process is gone (timed out)"})
        return job

    def get(self, job_id: str) -> WhatIfJobOut | None:
        path = self._path(job_id)
        return self._read(path) if path is not None else None

    def running(self) -> int:
        if not self.root.exists():
            return 0
        jobs = (self._read(p) for p in self.root.glob("*.json"))
        return sum(1 for j in jobs if j is not None and j.status in ("queued", "running"))

    def submit(self, request: WhatIfJobIn) -> WhatIfJobOut:
        check_changes(request.changes)
        if self.running() >= self.max_running:
            raise Conflict(f"{self.max_running} what-if job(s) already running: try again when it has finished")
        self.root.mkdir(parents=True, exist_ok=True)
        job = WhatIfJobOut(id=uuid.uuid4().hex, status="queued", request=request, created_ms=_now_ms())
        path = self.root / f"{job.id}.json"
        _write(path, job)
        with (self.root / f"{job.id}.log").open("wb") as log:
            subprocess.Popen(
                [sys.executable, "-m", "sitewide.whatif_jobs", str(path), str(self.timeout_s)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # outlives a worker's restart; never a child the server waits on
            )
        return job


def run_job(path: Path, timeout_s: int) -> WhatIfJobOut:
    """Run the job in ``path`` here (the job's own process), writing its state as it goes."""
    job = WhatIfJobOut.model_validate_json(path.read_text())
    job = job.model_copy(update={"status": "running"})
    _write(path, job)

    def _timeout(*_: object) -> None:
        raise TimeoutError(f"the what-if took longer than {timeout_s} s")

    signal.signal(signal.SIGALRM, _timeout)
    signal.alarm(timeout_s)
    r = job.request
    try:
        rows = compare_rows(r.changes, days=r.days, users=r.users, merchants=r.merchants, seeds=r.seeds)
        job = job.model_copy(update={"status": "done", "rows": rows})
    except Exception as exc:  # the job fails with the reason; the file always gets a final state
        job = job.model_copy(update={"status": "failed", "error": f"{type(exc).__name__}: {exc}"})
    finally:
        signal.alarm(0)
    job = job.model_copy(update={"finished_ms": _now_ms()})
    _write(path, job)
    return job


def create_app(settings: Settings | None = None, engine: Engine | None = None, **kwargs: Any) -> FastAPI:
    """The service's app (``service.app.create_app``, same arguments) with what-if jobs (``data_dir/whatif-jobs``,
    one at a time): the composition root ``sitewide serve`` uses."""
    settings = settings or Settings()
    jobs = ProcessJobs(settings.data_dir / JOBS_DIR)
    return create_service_app(settings, engine, whatif_jobs=jobs, **kwargs)


def app_from_env() -> FastAPI:
    """``sitewide serve --workers N``'s factory: each worker process builds the app (its own engine) from the
    ``SITEWIDE_*`` environment the CLI set, so every worker runs over the same data dir / database; the worker's
    heap is frozen once the app is built (``wiring.freeze_heap``)."""
    app = create_app(Settings(), announce=None)
    freeze_heap()
    return app


if __name__ == "__main__":  # python -m sitewide.whatif_jobs JOB_FILE TIMEOUT_S
    os.nice(5)  # below the serving processes
    run_job(Path(sys.argv[1]), int(sys.argv[2]))
