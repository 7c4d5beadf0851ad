"""Pydantic bodies of the experiments API (``/experiments``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from sitewide.api.schemas import Budget, Id, Name, Strict, TargetRoi
from sitewide.domain.experiments import ArmTotals

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
    arms: list[ArmTotals]  # the domain record, served as it is
    comparisons: list[ComparisonOut]
    statement: list[ArmStatementOut]


class StopIn(Strict):
    winner: ArmName | None = None
    reason: Annotated[str, StringConstraints(max_length=200)] = "stopped by the merchant"


class CheckOut(BaseModel):
    id: str
    status: str
    winner: str | None
    verdict: str
