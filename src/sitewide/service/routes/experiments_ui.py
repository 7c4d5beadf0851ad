"""Console pages for merchant experiments: list and create, watch (verdict, lifts with intervals), stop, apply.

Same login, scoping and same-origin rule as the rest of the dashboard (:mod:`.ui`); the work is done by
:mod:`sitewide.service.usecases.experiments`.
"""

from __future__ import annotations

import math
import re
from decimal import InvalidOperation
from typing import Any

import plotly.graph_objects as go
from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError as PydanticError

from sitewide.api.experiments import ExperimentIn
from sitewide.domain.experiments import ExperimentStatus
from sitewide.domain.money import parse_amount
from sitewide.domain.sequential import METRIC_LABEL, Metric
from sitewide.domain.types import DomainError
from sitewide.i18n import Translator
from sitewide.service.present import result_out
from sitewide.service.routes.ui import FormUi, PageUi, Ui, fig_json, layout, pyd_message, redirect
from sitewide.service.scope import owner_filter
from sitewide.service.usecases import experiments as uc
from sitewide.service.usecases.experiments import ExperimentResult

router = APIRouter(prefix="/ui", include_in_schema=False)


def _list_page(ui: Ui, values: dict[str, Any], error: str | None, status: int = 200) -> HTMLResponse:
    exps = uc.list_experiments(ui.store, ui.who)
    arm_ids = {f"{e.id}." for e in exps}
    camps = [
        c
        for c in ui.store.list_campaigns(owner_filter(ui.who, None))
        if not any(c.id.startswith(p) for p in arm_ids)  # not an experiment's own arm campaign
    ]
    return ui.page(
        "experiments.html",
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
def experiments_page(ui: PageUi) -> Response:
    return _list_page(ui, dict(DEFAULTS), None)


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
    ui: FormUi,
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
        exp = uc.create(ui.engine, ui.store, uc.build_experiment(ui.engine, ui.store, ui.who, body))
        return redirect(f"/ui/experiments/{exp.id}?done=started")
    except PydanticError as exc:
        err = ui.t("Please check the form: {what}", what=pyd_message(exc))
    except (DomainError, ValueError, InvalidOperation) as exc:
        err = str(exc) or ui.t("Spend cap must be an amount in {cur}, e.g. 50.00.", cur=ui.currency)
    return _list_page(ui, values, err, status=422)


def _lift_chart(ui: Ui, res: Any) -> str:
    fig = go.Figure()
    for c in res.comparisons:
        if c.lift is None:
            continue
        hw = c.lift_halfwidth if c.lift_halfwidth is not None else 0.0
        fig.add_scatter(
            x=[100 * c.lift],
            y=[f"{ui.t.code('metric', Metric(c.metric).value)} · {c.arm}"],
            mode="markers",
            marker={"size": 11, "color": "#2e7d32" if c.significant else "#757575"},
            error_x={"type": "data", "array": [100 * hw], "visible": True},
            showlegend=False,
        )
    fig.add_vline(x=0, line_dash="dash", line_color="#999")
    t = ui.t
    layout(
        fig,
        t("Lift over the control, always-valid 95 % interval"),
        x=t("lift (%)"),
        y=t("metric · arm"),
        empty=t("No data yet."),
    )
    return fig_json(fig)


# the reasons a test stops, as the use case writes them (sitewide.domain.experiments.guardrail_breach, ...)
CONCLUSIVE = re.compile(r"conclusive on (?P<metric>.+)")
ROI_FLOOR = re.compile(
    r"guardrail: arm (?P<arm>\S+) ROI (?P<roi>\S+) < (?P<floor>\S+) after (?P<n>\d+) orders"
)
CTR_DROP = re.compile(
    r"guardrail: arm (?P<arm>\S+) CTR (?P<lift>\S+) % \(at most (?P<upper>\S+) %\), "
    r"below the allowed −(?P<drop>\d+) %"
)


def verdict_words(t: Translator, r: ExperimentResult) -> str:
    """The verdict sentence in the page's language, from the same figures as the use case's (English)
    ``verdict``: the primary metric's best treatment against the control; a stopped test says why and what
    it serves."""
    exp = r.experiment
    primary = r.comparisons[exp.metric]
    best = max(range(len(primary)), key=lambda i: primary[i].diff if primary[i].significant else -1e300)
    c = primary[best]
    a, b = exp.arms[0].name, exp.arms[best + 1].name
    running = exp.status is ExperimentStatus.RUNNING
    metric = t.code("metric", exp.metric.value)
    pct, hw = 100 * c.lift, 100 * c.lift_halfwidth
    band = f"{abs(pct):.1f} % ± {hw:.1f} %" if math.isfinite(hw) else f"{abs(pct):.1f} %"
    sign, keep = ("+" if pct >= 0 else "−"), (b if c.diff > 0 else a)
    if not math.isfinite(c.lift):
        text = (
            t("{b} vs {a}: no {metric} data yet: keep running", a=a, b=b, metric=metric)
            if running
            else t("{b} vs {a}: no {metric} data yet", a=a, b=b, metric=metric)
        )
    elif not c.significant:
        text = (
            t("{b} vs {a}: {metric} {sign}{band}, not conclusive yet: keep running",
              a=a, b=b, metric=metric, sign=sign, band=band)
            if running
            else t("{b} vs {a}: {metric} {sign}{band}, not conclusive", a=a, b=b, metric=metric, sign=sign,
                   band=band)
        )  # fmt: skip
    elif c.diff > 0:
        text = (
            t("{b} lifts {metric} by {band}: stop, keep {arm}", b=b, metric=metric, band=band, arm=keep)
            if running
            else t("{b} lifts {metric} by {band}", b=b, metric=metric, band=band)
        )
    else:
        text = (
            t("{b} lowers {metric} by {band}: stop, keep {arm}", b=b, metric=metric, band=band, arm=keep)
            if running
            else t("{b} lowers {metric} by {band}", b=b, metric=metric, band=band)
        )
    if running:
        return text
    return t(
        "Stopped ({reason}), serving {arm}. {verdict}.",
        reason=_stop_reason(t, exp.stop_reason or ""),
        arm=exp.winner or a,
        verdict=text,
    )


def _stop_reason(t: Translator, reason: str) -> str:
    """Why a test stopped, in the page's language (a reason given through the API: as written)."""
    if m := CONCLUSIVE.fullmatch(reason):
        labels = {v: k for k, v in METRIC_LABEL.items()}
        metric = labels.get(m["metric"])
        return t("conclusive on {metric}", metric=t.code("metric", metric.value) if metric else m["metric"])
    if m := ROI_FLOOR.fullmatch(reason):
        return t("guardrail: arm {arm} ROI {roi} < {floor} after {n} orders", **m.groupdict())
    if m := CTR_DROP.fullmatch(reason):
        return t("guardrail: arm {arm} CTR {lift} % (at most {upper} %), below the allowed −{drop} %",
                 **m.groupdict())  # fmt: skip
    if reason == "stopped from the console":
        return t("stopped from the console")
    return reason


@router.get("/experiments/{experiment_id}", response_class=HTMLResponse, response_model=None)
def experiment_page(ui: PageUi, experiment_id: str) -> Response:
    raw = uc.results(ui.engine, ui.store, uc.visible(ui.store, ui.who, experiment_id))
    res = result_out(raw)
    return ui.page(
        "experiment.html",
        res=res,
        e=res.experiment,
        verdict=verdict_words(ui.t, raw),
        fig=_lift_chart(ui, res),
    )


def _act(ui: Ui, experiment_id: str, apply: bool, winner: str) -> Response:
    exp = uc.visible(ui.store, ui.who, experiment_id)
    try:
        if apply:
            uc.apply_winner(ui.engine, ui.store, exp)
        else:
            uc.stop_experiment(ui.engine, ui.store, exp, winner or None, "stopped from the console")
    except DomainError as exc:
        return ui.error(409, str(exc))
    return redirect(f"/ui/experiments/{experiment_id}?done={'applied' if apply else 'stopped'}")


@router.post("/experiments/{experiment_id}/stop", response_class=HTMLResponse, response_model=None)
def stop_form(ui: FormUi, experiment_id: str, winner: str = Form("")) -> Response:
    return _act(ui, experiment_id, False, winner)


@router.post("/experiments/{experiment_id}/apply", response_class=HTMLResponse, response_model=None)
def apply_form(ui: FormUi, experiment_id: str) -> Response:
    return _act(ui, experiment_id, True, "")


__all__ = ["router"]
