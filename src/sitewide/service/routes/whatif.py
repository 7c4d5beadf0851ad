"""The operator's what-if jobs: ``POST /whatif/jobs`` starts one (202), ``GET /whatif/jobs/{id}`` reads its state
and, once done, the side-by-side result. Operator only.

The simulation never runs in the serving process, and the service never imports the what-if driver (an import
contract): the route talks to the :class:`WhatIfJobs` port, which the composition root
(``sitewide.whatif_jobs.create_app``, what ``sitewide serve`` starts) injects through ``create_app``; an app
built without it has no what-if routes.
"""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import APIRouter, Depends, Request

from sitewide.api.whatif import WhatIfJobIn, WhatIfJobOut
from sitewide.domain.types import NotFound
from sitewide.service.deps import OperatorDep, errors


class WhatIfJobs(Protocol):
    """Where what-if jobs run. ``submit`` checks the request (an unknown setting raises ``ValidationError``; no
    room for another running job raises ``Conflict``) and starts the job elsewhere; ``get`` reads a job's state
    (None when there is no such job)."""

    def submit(self, request: WhatIfJobIn) -> WhatIfJobOut: ...
    def get(self, job_id: str) -> WhatIfJobOut | None: ...


def _jobs(request: Request) -> WhatIfJobs:
    jobs: WhatIfJobs = request.app.state.whatif_jobs  # the router is included only with them
    return jobs


JobsDep = Annotated[WhatIfJobs, Depends(_jobs)]
router = APIRouter(tags=["what-if"], responses=errors(401, 403))


@router.post("/whatif/jobs", status_code=202, response_model=WhatIfJobOut, responses=errors(409, 422))
def create_job(body: WhatIfJobIn, _: OperatorDep, jobs: JobsDep) -> WhatIfJobOut:
    """Start a what-if job: the simulated market under the current policy and under ``changes``. 422 on an
    unknown setting or past a limit, 409 while another job is running."""
    return jobs.submit(body)


@router.get("/whatif/jobs/{job_id}", response_model=WhatIfJobOut, responses=errors(404))
def read_job(job_id: str, _: OperatorDep, jobs: JobsDep) -> WhatIfJobOut:
    """A what-if job's state; ``rows`` (figure, current, changed, change) once it is done."""
    got = jobs.get(job_id)
    if got is None:
        raise NotFound(f"no what-if job {job_id}")
    return got
