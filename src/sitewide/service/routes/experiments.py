"""Merchant experiments over HTTP: create, list, get, results (with the verdict), stop, apply the winner.

Scoping as for campaigns: a merchant sees and changes only experiments on its own campaigns (others' are
404); the operator sees all. Business rules live in :mod:`sitewide.service.experiments`.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, StringConstraints

from sitewide.domain.accounts import Principal
from sitewide.domain.experiments import Arm, Experiment, ExperimentKind, Guardrails, unit_hash
from sitewide.domain.money import Micros
from sitewide.domain.sequential import Metric
from sitewide.domain.types import ValidationError
from sitewide.engine import Engine
from sitewide.service import experiments as uc
from sitewide.service.deps import EngineDep, OperatorDep, PrincipalDep
from sitewide.service.schemas import Budget, ErrorOut, Id, Name, Page, Strict, TargetRoi
from sitewide.service.scope import page, visible_campaign

router = APIRouter(tags=["experiments"], responses={401: {"model": ErrorOut}})
ArmName = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_\-]+$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=500)]


class ArmIn(Strict):
    name: ArmName
    weight: Annotated[int, Field(ge=1, le=1000)] = 1
    creative_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    title: Text | None = None
    image_url: Text | None = None
    target_roi: TargetRoi | None = None
    daily_budget_micros: Budget | None = None
    spend_cap_micros: Annotated[int, Field(gt=0, le=10**15)] | None = None


class GuardrailsIn(Strict):
    min_roi: Annotated[float, Field(gt=0, le=100)] | None = None
    min_orders: Annotated[int, Field(ge=1, le=10**6)] = 10
    max_ctr_drop: Annotated[float, Field(gt=0, lt=1)] | None = None


class ExperimentIn(Strict):
    """Arms vary a creative/title/main image (``kind: creative``, name the ``product_ids``) or the campaign's
    target ROI / daily budget (``kind: campaign``: every arm runs as its own campaign on its own slice of
    budget and users). The first arm is the control."""

    merchant_id: Id | None = None
    name: Name
    kind: Literal["creative", "campaign"]
    campaign_id: Id
    product_ids: list[Id] = Field(default_factory=list, max_length=500)
    arms: list[ArmIn] = Field(min_length=2, max_length=8)
    metric: Literal["ctr", "cvr", "gmv_per_impression", "roi"] = "ctr"
    alpha: Annotated[float, Field(ge=0.001, le=0.2)] = 0.05
    n_star: Annotated[int, Field(ge=10, le=10**9)] = 10_000
    budget_split: bool = True
    auto_stop: bool = True
    guardrails: GuardrailsIn = Field(default_factory=GuardrailsIn)


class ArmOut(BaseModel):
    name: str
    weight: int
    creative_id: str | None
    title: str | None
    image_url: str | None
    target_roi: Decimal | None
    daily_budget_micros: int | None
    spend_cap_micros: int | None


class ExperimentOut(BaseModel):
    id: str
    merchant_id: str
    name: str
    kind: str
    campaign_id: str
    product_ids: list[str]
    arms: list[ArmOut]
    metric: str
    alpha: float
    n_star: int
    budget_split: bool
    auto_stop: bool
    guardrails: dict[str, float | int | None]
    status: str
    winner: str | None
    stop_reason: str
    created_ms: int
    stopped_ms: int | None
    applied: bool


class ArmTotalsOut(BaseModel):
    arm: str
    users: int
    impressions: int
    clicks: int
    orders: int
    spend_micros: int
    gmv_micros: int
    roi: float | None


class ComparisonOut(BaseModel):
    """Treatment vs the control on one metric. ``lift`` and its always-valid ``lift_halfwidth`` are relative
    (0.041 = +4.1 %); ``fixed_lift_halfwidth`` is the fixed-horizon one, valid only at a single planned look."""

    metric: str
    arm: str
    control: float
    treatment: float
    lift: float | None
    lift_halfwidth: float | None
    fixed_lift_halfwidth: float | None
    significant: bool
    variance_reduction: float
    users_control: int
    users_treatment: int


class ArmStatementOut(BaseModel):
    """Settled money of a campaign-level arm's own campaign (as in its settlement statement)."""

    arm: str
    campaign_id: str
    spend_micros: int
    gmv_micros: int
    compensation_micros: int


class ResultOut(BaseModel):
    experiment: ExperimentOut
    verdict: str
    leader: str | None
    arms: list[ArmTotalsOut]
    comparisons: list[ComparisonOut]
    statement: list[ArmStatementOut]


class StopIn(Strict):
    winner: ArmName | None = None
    reason: Annotated[str, StringConstraints(max_length=200)] = "stopped by the merchant"


def _num(v: float) -> float | None:
    return round(v, 6) if math.isfinite(v) else None


def experiment_out(e: Experiment) -> ExperimentOut:
    d = e.to_dict()
    return ExperimentOut(
        **{k: v for k, v in d.items() if k not in ("arms", "salt")},  # type: ignore[arg-type]
        arms=[ArmOut(**a) for a in d["arms"]],  # type: ignore[attr-defined]
    )


def result_out(r: uc.ExperimentResult) -> ResultOut:
    comps = []
    for m, cs in r.comparisons.items():
        for arm, c in zip(r.experiment.arms[1:], cs, strict=True):
            comps.append(
                ComparisonOut(
                    metric=m.value,
                    arm=arm.name,
                    control=round(c.control, 9),
                    treatment=round(c.treatment, 9),
                    lift=_num(c.lift),
                    lift_halfwidth=_num(c.lift_halfwidth),
                    fixed_lift_halfwidth=_num(c.fixed_halfwidth / abs(c.control)) if c.control else None,
                    significant=c.significant,
                    variance_reduction=round(c.variance_reduction, 4),
                    users_control=c.users_control,
                    users_treatment=c.users_treatment,
                )
            )
    arms = [ArmTotalsOut(**{f: getattr(t, f) for f in ArmTotalsOut.model_fields}) for t in r.totals]
    return ResultOut(
        experiment=experiment_out(r.experiment),
        verdict=r.verdict,
        leader=r.leader,
        arms=arms,
        comparisons=comps,
        statement=[
            ArmStatementOut(**{f: getattr(x, f) for f in ArmStatementOut.model_fields}) for x in r.statement
        ],
    )


def build_experiment(engine: Engine, who: Principal, body: ExperimentIn) -> Experiment:
    """The domain object for a request (the campaign must be visible to the caller)."""
    camp = visible_campaign(engine, who, body.campaign_id)
    if body.merchant_id not in (None, camp.merchant_id):
        raise ValidationError("merchant_id: the campaign belongs to another merchant")
    xid = uc.new_experiment_id()
    return Experiment(
        id=xid,
        merchant_id=camp.merchant_id,
        name=body.name,
        kind=ExperimentKind(body.kind),
        campaign_id=camp.id,
        product_ids=tuple(dict.fromkeys(body.product_ids)),
        arms=tuple(
            Arm(
                name=a.name,
                weight=a.weight,
                creative_id=a.creative_id,
                title=a.title,
                image_url=a.image_url,
                target_roi=a.target_roi,
                daily_budget_micros=None if a.daily_budget_micros is None else Micros(a.daily_budget_micros),
                spend_cap_micros=None if a.spend_cap_micros is None else Micros(a.spend_cap_micros),
            )
            for a in body.arms
        ),
        salt=f"{xid}:{unit_hash(xid, camp.id):.12f}",
        metric=Metric(body.metric),
        alpha=body.alpha,
        n_star=body.n_star,
        budget_split=body.budget_split,
        auto_stop=body.auto_stop,
        guardrails=Guardrails(
            body.guardrails.min_roi, body.guardrails.min_orders, body.guardrails.max_ctr_drop
        ),
        created_ms=engine.clock.now_ms(),
    )


def _visible(engine: Engine, who: Principal, experiment_id: str) -> Experiment:
    return uc.get(engine, experiment_id, None if who.is_operator else who.merchant_id)


@router.post(
    "/experiments", status_code=201, response_model=ExperimentOut, responses={422: {"model": ErrorOut}}
)
def create_experiment(body: ExperimentIn, engine: EngineDep, who: PrincipalDep) -> ExperimentOut:
    """Start an A/B test on one of the caller's campaigns; serving follows at once. Users are split by a
    hash of their id (stable, nothing stored per user). 409 when the campaign already runs a test."""
    return experiment_out(uc.create(engine, build_experiment(engine, who, body)))


@router.get("/experiments", response_model=Page[ExperimentOut])
def list_experiments(
    engine: EngineDep,
    who: PrincipalDep,
    merchant_id: Annotated[str | None, Query(max_length=64)] = None,
    status: Literal["running", "stopped"] | None = None,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Page[ExperimentOut]:
    """The caller's experiments (the operator's: all, or one merchant's), newest first."""
    owner = merchant_id if who.is_operator else who.merchant_id
    exps = [e for e in engine.store.list_experiments(owner) if status is None or e.status.value == status]
    exps.sort(key=lambda e: (-e.created_ms, e.id))
    items, total = page(exps, offset, limit)
    return Page(items=[experiment_out(e) for e in items], total=total, offset=offset, limit=limit)


class CheckOut(BaseModel):
    id: str
    status: str
    winner: str | None
    verdict: str


@router.post("/experiments/check", response_model=list[CheckOut], responses={403: {"model": ErrorOut}})
def check_experiments(engine: EngineDep, _: OperatorDep) -> list[CheckOut]:
    """Operator only, for a periodic job: apply every running test's stopping rules now (guardrails,
    auto-stop on a conclusive primary metric), so tests stop as soon as the answer is known even when no
    merchant is looking. Returns each running test's state after the check."""
    out = []
    for e in engine.store.list_experiments():
        if e.status.value != "running":
            continue
        r = uc.results(engine, e)
        out.append(
            CheckOut(id=e.id, status=r.experiment.status.value, winner=r.experiment.winner, verdict=r.verdict)
        )
    return out


@router.get(
    "/experiments/{experiment_id}", response_model=ExperimentOut, responses={404: {"model": ErrorOut}}
)
def get_experiment(experiment_id: str, engine: EngineDep, who: PrincipalDep) -> ExperimentOut:
    return experiment_out(_visible(engine, who, experiment_id))


@router.get(
    "/experiments/{experiment_id}/results", response_model=ResultOut, responses={404: {"model": ErrorOut}}
)
def experiment_results(experiment_id: str, engine: EngineDep, who: PrincipalDep) -> ResultOut:
    """Per arm: users, impressions, clicks, orders, spend, GMV; per metric (CTR, CVR, GMV per impression,
    ROI) each arm's lift over the control with its always-valid interval (CUPED on the pre-period); and a
    plain verdict. Looking is free — the intervals hold at every look — and each look applies the test's own
    stopping rules (a guardrail breach stops it keeping the control; with ``auto_stop`` a conclusive primary
    metric stops it keeping the better arm)."""
    return result_out(uc.results(engine, _visible(engine, who, experiment_id)))


@router.post(
    "/experiments/{experiment_id}/stop",
    response_model=ExperimentOut,
    responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)
def stop_experiment(experiment_id: str, body: StopIn, engine: EngineDep, who: PrincipalDep) -> ExperimentOut:
    """Stop the test; from now on every user is served ``winner`` (the control when omitted)."""
    exp = _visible(engine, who, experiment_id)
    return experiment_out(uc.stop_experiment(engine, exp, body.winner, body.reason))


@router.post(
    "/experiments/{experiment_id}/apply",
    response_model=ExperimentOut,
    responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut}},
)
def apply_experiment(experiment_id: str, engine: EngineDep, who: PrincipalDep) -> ExperimentOut:
    """Make the winner permanent: a campaign-level winner's terms go to the campaign (arm campaigns paused);
    a creative winner's title becomes the product's title. 409 before the test is stopped with a winner."""
    return experiment_out(uc.apply_winner(engine, _visible(engine, who, experiment_id)))


__all__ = ["build_experiment", "experiment_out", "result_out", "router"]
