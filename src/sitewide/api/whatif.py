"""Bodies of the operator's what-if jobs (``POST /whatif/jobs``, ``GET /whatif/jobs/{id}``;
``sitewide.service.routes.whatif``). A job runs the same simulated market under the current policy and under
``changes``, side by side on common random numbers, in a process of its own (never the serving process), with
bounded work: the limits below are the API's, refused with 422 past them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from sitewide.api.schemas import Strict

MAX_DAYS = 3
MAX_USERS = 5_000
MAX_MERCHANTS = 50
MAX_SEEDS = 3
MAX_CHANGES = 8

JobStatus = Literal["queued", "running", "done", "failed"]
ChangeValue = bool | int | float | str


class WhatIfJobIn(Strict):
    """The policy change to try (``changes``: ``alpha``, ``reserve_cpc_micros``, ``max_ad_share``,
    ``min_ad_spacing``, eligibility thresholds such as ``min_rating``, the guarantee's ``trigger_roi_factor``,
    ``min_orders``, ``window_days``, ``cap_ratio_of_spend``, or any engine setting; an unknown key is 422) and
    the simulated market it is tried on (days × shoppers × merchants, averaged over ``seeds`` markets)."""

    changes: Annotated[dict[str, ChangeValue], Field(min_length=1, max_length=MAX_CHANGES)]
    days: Annotated[int, Field(ge=1, le=MAX_DAYS)] = 1
    users: Annotated[int, Field(ge=1, le=MAX_USERS)] = 1_000
    merchants: Annotated[int, Field(ge=1, le=MAX_MERCHANTS)] = 20
    seeds: Annotated[int, Field(ge=1, le=MAX_SEEDS)] = 1


class WhatIfRowOut(BaseModel):
    """One figure under the current policy and under the change (``change`` = changed − current); null where the
    figure is undefined (a rate of nothing, e.g. the refund rate of a market with no purchase)."""

    figure: str
    current: float | None
    changed: float | None
    change: float | None


class WhatIfJobOut(BaseModel):
    """A job's state; ``rows`` once it is ``done``, ``error`` once it has ``failed``."""

    id: str
    status: JobStatus
    request: WhatIfJobIn
    created_ms: int
    finished_ms: int | None = None
    error: str | None = None
    rows: list[WhatIfRowOut] | None = None
