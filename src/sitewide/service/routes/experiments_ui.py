"""Console pages for merchant experiments: list and create, watch (verdict, lifts with intervals), stop, apply.

Same login, scoping and same-origin rule as the rest of the dashboard (:mod:`.dashboard`); the work is done by
the JSON routes' helpers and :mod:`sitewide.service.experiments`.
"""

from __future__ import annotations

from decimal import InvalidOperation
from typing import Any

import plotly.graph_objects as go
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError as PydanticError

from sitewide.domain.accounts import Principal
from sitewide.domain.money import parse_amount
from sitewide.domain.sequential import METRIC_LABEL, Metric
from sitewide.domain.types import DomainError, NotFound
from sitewide.service import experiments as uc
from sitewide.service.routes.dashboard import (
    _engine,
    _fig_json,
    _layout,
    _page,
    _pyd_message,
    _same_origin,
    _to_login,
    _who,
)
from sitewide.service.routes.experiments import ExperimentIn, build_experiment, result_out

router = APIRouter(prefix="/ui", include_in_schema=False)


def _list_page(
    request: Request, who: Principal, values: dict[str, Any], error: str | None, status: int = 200
) -> HTMLResponse:
    engine = _engine(request)
    owner = None if who.is_operator else who.merchant_id
    exps = sorted(engine.store.list_experiments(owner), key=lambda e: (-e.created_ms, e.id))
    arm_ids = {f"{e.id}." for e in exps}
    camps = [
        c
        for c in engine.store.list_campaigns(owner)
        if not any(c.id.startswith(p) for p in arm_ids)  # not an experiment's own arm campaign
    ]
    return _page(
        request,
        "experiments.html",
        who,
        status=status,
        experiments=exps,
        campaigns=camps,
        values=values,
        error=error,
    )


DEFAULTS: dict[str, Any] = {
    "name": "",
    "campaign_id": "",
    "kind": "creative",
    "product_ids": "",
    "a_value": "",
    "b_value": "",
    "metric": "ctr",
    "cap_cny": "",
}


@router.get("/experiments", response_class=HTMLResponse, response_model=None)
def experiments_page(request: Request) -> Response:
    who = _who(request)
    if who is None:
        return _to_login()
    return _list_page(request, who, dict(DEFAULTS), None)


def _arm(name: str, kind: str, value: str, cap: int | None) -> dict[str, Any]:
    arm: dict[str, Any] = {"name": name, "spend_cap_micros": cap}
    value = value.strip()
    if kind == "campaign":
        if value:
            arm["target_roi"] = value
    elif value:
        arm["title"] = value
    return arm


@router.post("/experiments", response_class=HTMLResponse, response_model=None)
def create_experiment_form(
    request: Request,
    name: str = Form(""),
    campaign_id: str = Form(""),
    kind: str = Form("creative"),
    product_ids: str = Form(""),
    a_value: str = Form(""),
    b_value: str = Form(""),
    metric: str = Form("ctr"),
    cap_cny: str = Form(""),
) -> Response:
    """Two arms from the form: A (control) and B — titles for a creative test, target ROIs for a campaign one."""
    who = _who(request)
    if who is None or not _same_origin(request):
        return _to_login()
    engine = _engine(request)
    values = {
        "name": name,
        "campaign_id": campaign_id,
        "kind": kind,
        "product_ids": product_ids,
        "a_value": a_value,
        "b_value": b_value,
        "metric": metric,
        "cap_cny": cap_cny,
    }
    try:
        cap = int(parse_amount(cap_cny.strip())) if cap_cny.strip() else None
        body = ExperimentIn(
            name=name.strip(),
            kind=kind,  # type: ignore[arg-type]
            campaign_id=campaign_id,
            product_ids=[p.strip() for p in product_ids.split(",") if p.strip()],
            arms=[_arm("A", kind, a_value, cap), _arm("B", kind, b_value, cap)],  # type: ignore[list-item]
            metric=metric,  # type: ignore[arg-type]
        )
        exp = uc.create(engine, build_experiment(engine, who, body))
        return RedirectResponse(f"/ui/experiments/{exp.id}", status_code=303)
    except PydanticError as exc:
        err = _pyd_message(exc)
    except (DomainError, ValueError, InvalidOperation) as exc:
        err = str(exc) or "Spend cap must be an amount in CNY, e.g. 50.00."
    return _list_page(request, who, values, err, status=422)


def _lift_chart(res: Any) -> str:
    fig = go.Figure()
    for c in res.comparisons:
        if c.lift is None:
            continue
        hw = c.lift_halfwidth if c.lift_halfwidth is not None else 0.0
        fig.add_scatter(
            x=[100 * c.lift],
            y=[f"{METRIC_LABEL[Metric(c.metric)]} · {c.arm}"],
            mode="markers",
            marker={"size": 11, "color": "#2e7d32" if c.significant else "#757575"},
            error_x={"type": "data", "array": [100 * hw], "visible": True},
            showlegend=False,
        )
    fig.add_vline(x=0, line_dash="dash", line_color="#999")
    _layout(fig, "Lift over the control, always-valid 95 % interval (%)", xaxis_title="lift %")
    return _fig_json(fig)


@router.get("/experiments/{experiment_id}", response_class=HTMLResponse, response_model=None)
def experiment_page(request: Request, experiment_id: str) -> Response:
    who = _who(request)
    if who is None:
        return _to_login()
    engine = _engine(request)
    try:
        exp = uc.get(engine, experiment_id, None if who.is_operator else who.merchant_id)
    except NotFound:
        return _page(request, "error.html", who, status=404, message=f"experiment {experiment_id} not found")
    res = result_out(uc.results(engine, exp))
    return _page(request, "experiment.html", who, res=res, e=res.experiment, fig=_lift_chart(res))


def _act(request: Request, experiment_id: str, apply: bool, winner: str) -> Response:
    who = _who(request)
    if who is None or not _same_origin(request):
        return _to_login()
    engine = _engine(request)
    try:
        exp = uc.get(engine, experiment_id, None if who.is_operator else who.merchant_id)
        if apply:
            uc.apply_winner(engine, exp)
        else:
            uc.stop_experiment(engine, exp, winner or None, "stopped from the console")
    except NotFound:
        return _page(request, "error.html", who, status=404, message=f"experiment {experiment_id} not found")
    except DomainError as exc:
        return _page(request, "error.html", who, status=409, message=str(exc))
    return RedirectResponse(f"/ui/experiments/{experiment_id}", status_code=303)


@router.post("/experiments/{experiment_id}/stop", response_class=HTMLResponse, response_model=None)
def stop_form(request: Request, experiment_id: str, winner: str = Form("")) -> Response:
    return _act(request, experiment_id, False, winner)


@router.post("/experiments/{experiment_id}/apply", response_class=HTMLResponse, response_model=None)
def apply_form(request: Request, experiment_id: str) -> Response:
    return _act(request, experiment_id, True, "")


__all__ = ["router"]
