"""Merchant experiments over HTTP: create, list, get, results (with the verdict), stop, apply the winner.

Scoping as for campaigns: a merchant sees and changes only experiments on its own campaigns (others' are
404); the operator sees all. Business rules live in :mod:`sitewide.service.usecases.experiments`.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter

from sitewide.api.experiments import CheckOut, ExperimentIn, ExperimentOut, ResultOut, StopIn
from sitewide.api.schemas import Page
from sitewide.service.deps import EngineDep, ListingDep, OperatorDep, PrincipalDep, StoreDep, errors
from sitewide.service.present import experiment_out, result_out
from sitewide.service.usecases import experiments as uc

router = APIRouter(tags=["experiments"], responses=errors(401))


@router.post("/experiments", status_code=201, response_model=ExperimentOut, responses=errors(422))
def create_experiment(
    body: ExperimentIn, engine: EngineDep, store: StoreDep, who: PrincipalDep
) -> ExperimentOut:
    """Start an A/B test on one of the caller's campaigns; serving follows at once. Users are split by a
    hash of their id (stable, nothing stored per user). 409 when the campaign already runs a test."""
    return experiment_out(uc.create(engine, store, uc.build_experiment(engine, store, who, body)))


@router.get("/experiments", response_model=Page[ExperimentOut])
def list_experiments(
    ls: ListingDep, status: Literal["running", "stopped"] | None = None
) -> Page[ExperimentOut]:
    """The caller's experiments (the operator's: all, or one merchant's), newest first."""
    return ls.paging.page(uc.list_experiments(ls.store, ls.who, ls.merchant_id, status), experiment_out)


@router.post("/experiments/check", response_model=list[CheckOut], responses=errors(403))
def check_experiments(engine: EngineDep, store: StoreDep, _: OperatorDep) -> list[CheckOut]:
    """Operator only, for a periodic job: apply every running test's stopping rules now (guardrails,
    auto-stop on a conclusive primary metric), so tests stop as soon as the answer is known even when no
    merchant is looking. Returns each running test's state after the check."""
    return [
        CheckOut(
            id=r.experiment.id,
            status=r.experiment.status.value,
            winner=r.experiment.winner,
            verdict=r.verdict,
        )
        for r in uc.check_running(engine, store)
    ]


@router.get("/experiments/{experiment_id}", response_model=ExperimentOut, responses=errors(404))
def get_experiment(experiment_id: str, store: StoreDep, who: PrincipalDep) -> ExperimentOut:
    return experiment_out(uc.visible(store, who, experiment_id))


@router.get("/experiments/{experiment_id}/results", response_model=ResultOut, responses=errors(404))
def experiment_results(
    experiment_id: str, engine: EngineDep, store: StoreDep, who: PrincipalDep
) -> ResultOut:
    """Per arm: users, impressions, clicks, orders, spend, GMV; per metric (CTR, CVR, GMV per impression,
    ROI) each arm's lift over the control with its always-valid interval (CUPED on the pre-period); and a
    plain verdict. Looking is free — the intervals hold at every look — and each look applies the test's own
    stopping rules (a guardrail breach stops it keeping the control; with ``auto_stop`` a conclusive primary
    metric stops it keeping the better arm)."""
    return result_out(uc.results(engine, store, uc.visible(store, who, experiment_id)))


@router.post(
    "/experiments/{experiment_id}/stop",
    response_model=ExperimentOut,
    responses=errors(404, 409, 422),
)
def stop_experiment(
    experiment_id: str, body: StopIn, engine: EngineDep, store: StoreDep, who: PrincipalDep
) -> ExperimentOut:
    """Stop the test; from now on every user is served ``winner`` (the control when omitted)."""
    exp = uc.visible(store, who, experiment_id)
    return experiment_out(uc.stop_experiment(engine, store, exp, body.winner, body.reason))


@router.post("/experiments/{experiment_id}/apply", response_model=ExperimentOut, responses=errors(404, 409))
def apply_experiment(
    experiment_id: str, engine: EngineDep, store: StoreDep, who: PrincipalDep
) -> ExperimentOut:
    """Make the winner permanent: a campaign-level winner's terms go to the campaign (arm campaigns paused);
    a creative winner's title becomes the product's title. 409 before the test is stopped with a winner."""
    return experiment_out(uc.apply_winner(engine, store, uc.visible(store, who, experiment_id)))


__all__ = ["router"]
