"""Merchant experiments, the use cases shared by the JSON API and the console: create, results, stop, apply.

- **create** checks everything first (the campaign is the merchant's, arms valid, no other running test on
  the campaign), then, for a campaign-level test, creates one campaign per arm (its budget slice, its
  terms) and pauses the parent while the test runs; serving follows at once.
- **results** reads the experiment's events (and the same users' events over an equally long pre-period, the
  CUPED covariate), compares every treatment with the control on CTR, CVR, GMV per impression and ROI with
  always-valid intervals, writes the verdict, and stops the test by itself when a guardrail is breached (the
  control is kept) or, with ``auto_stop``, when the primary metric is conclusive (the better arm is kept).
- **stop** serves only the winner from then on; **apply** makes the winner permanent: a campaign-level
  winner's terms go to the parent campaign (arm campaigns paused, the parent resumed); a creative winner's
  title becomes the product's title.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from sitewide.api.experiments import ExperimentIn
from sitewide.domain.accounts import Principal
from sitewide.domain.experiments import (
    Arm,
    ArmTotals,
    Experiment,
    ExperimentKind,
    ExperimentStatus,
    Guardrails,
    arm_campaign_id,
    arm_campaigns,
    experiment_data,
    guardrail_breach,
    stop,
    unit_hash,
    validate,
    winning_terms,
)
from sitewide.domain.money import Micros
from sitewide.domain.sequential import METRIC_LABEL, Comparison, Metric, compare, verdict
from sitewide.domain.types import CampaignStatus, Conflict, NotFound, ValidationError
from sitewide.engine import Engine
from sitewide.ports import Store
from sitewide.service.scope import owner_filter, visible_campaign


@dataclass(frozen=True, slots=True)
class ArmStatement:
    """What settlement booked for a campaign-level arm's own campaign: charges, GMV, ROI-guarantee
    compensation (the same figures as the campaign's statement)."""

    arm: str
    campaign_id: str
    spend_micros: int
    gmv_micros: int
    compensation_micros: int


@dataclass(frozen=True, slots=True)
class ExperimentResult:
    experiment: Experiment
    totals: tuple[ArmTotals, ...]
    comparisons: dict[Metric, tuple[Comparison, ...]]  # per metric: arm i+1 vs the control
    verdict: str
    leader: str | None  # the arm the primary metric says to keep, when conclusive
    statement: tuple[ArmStatement, ...] = ()  # campaign-level tests: each arm campaign's settled money


def new_experiment_id() -> str:
    return f"x{uuid.uuid4().hex[:12]}"


def create(engine: Engine, store: Store, exp: Experiment) -> Experiment:
    parent = store.get_campaign(exp.campaign_id)
    if parent is None:
        raise NotFound(f"campaign {exp.campaign_id} not found")
    if exp.kind is ExperimentKind.CAMPAIGN and not exp.product_ids:
        exp = replace(exp, product_ids=parent.product_ids)
    exp = replace(exp, created_ms=exp.created_ms or engine.clock.now_ms())
    validate(exp, parent)
    for a in exp.arms:  # a creative arm shows one of the product's approved creatives (sitewide.creative)
        if a.creative_id is not None:
            for pid in exp.product_ids:
                if a.creative_id not in {c.id for c in engine.creatives.creatives(pid)}:
                    raise ValidationError(
                        f"arm {a.name}: {a.creative_id} is not an approved creative of {pid}"
                    )
    for other in store.list_experiments(parent.merchant_id):
        if other.campaign_id == exp.campaign_id and other.status is ExperimentStatus.RUNNING:
            raise Conflict(f"campaign {exp.campaign_id} already runs experiment {other.id}")
    if store.get_experiment(exp.id) is not None:
        raise Conflict(f"experiment {exp.id} exists")
    store.put_experiment(exp)
    if exp.kind is ExperimentKind.CAMPAIGN:
        for c in arm_campaigns(exp, parent):
            engine.add_campaign(c)
        engine.update_campaign(replace(parent, status=CampaignStatus.PAUSED))
    engine.reload_experiments()
    return exp


def get(store: Store, experiment_id: str, merchant_id: str | None = None) -> Experiment:
    """The experiment, or NotFound — also when it belongs to another merchant."""
    e = store.get_experiment(experiment_id)
    if e is None or (merchant_id is not None and e.merchant_id != merchant_id):
        raise NotFound(f"experiment {experiment_id} not found")
    return e


def visible(store: Store, who: Principal, experiment_id: str) -> Experiment:
    """The experiment when the caller may see it (a merchant: its own), else NotFound."""
    return get(store, experiment_id, None if who.is_operator else who.merchant_id)


def list_experiments(
    store: Store, who: Principal, merchant_id: str | None = None, status: str | None = None
) -> list[Experiment]:
    """The caller's experiments (the operator's: all, or one merchant's), newest first."""
    owner = owner_filter(who, merchant_id)
    exps = [e for e in store.list_experiments(owner) if status is None or e.status.value == status]
    return sorted(exps, key=lambda e: (-e.created_ms, e.id))


def check_running(engine: Engine, store: Store) -> list[ExperimentResult]:
    """Apply every running test's stopping rules now (the operator's periodic job); each one's result after."""
    return [
        results(engine, store, e) for e in store.list_experiments() if e.status is ExperimentStatus.RUNNING
    ]


def build_experiment(engine: Engine, store: Store, who: Principal, body: ExperimentIn) -> Experiment:
    """The domain object for a request (the campaign must be visible to the caller)."""
    camp = visible_campaign(store, who, body.campaign_id)
    if body.merchant_id not in (None, camp.merchant_id):
        raise ValidationError("merchant_id: the campaign belongs to another merchant")
    xid = new_experiment_id()
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


def results(
    engine: Engine, store: Store, exp: Experiment, now_ms: int | None = None, act: bool = True
) -> ExperimentResult:
    """Per-arm totals, comparisons and the verdict; with ``act`` a running test stops itself on a guardrail
    breach or, with ``auto_stop``, once the primary metric is conclusive."""
    now = engine.clock.now_ms() if now_ms is None else now_ms
    end = exp.stopped_ms if exp.stopped_ms is not None else now + 1
    span = max(end - exp.created_ms, 1)
    data = experiment_data(
        exp,
        store.events_between(exp.created_ms, end),
        store.events_between(max(0, exp.created_ms - span), exp.created_ms),
    )
    comps: dict[Metric, tuple[Comparison, ...]] = {}
    alpha = exp.alpha / (len(exp.arms) - 1)  # Bonferroni over the treatments: the test's error stays ≤ α
    for m, sums in data.sums.items():
        comps[m] = tuple(compare(sums[0], s, m, alpha, float(exp.n_star), cuped=True) for s in sums[1:])
    primary = comps[exp.metric]
    best = max(range(len(primary)), key=lambda i: primary[i].diff if primary[i].significant else -1e300)
    c = primary[best]
    text = verdict(c, exp.arms[0].name, exp.arms[best + 1].name)
    leader = (exp.arms[best + 1].name if c.diff > 0 else exp.arms[0].name) if c.significant else None
    if act and exp.status is ExperimentStatus.RUNNING:
        breach = guardrail_breach(exp, data, comps[Metric.CTR])
        if breach is not None:
            exp = stop_experiment(engine, store, exp, exp.arms[0].name, breach, now)
        elif exp.auto_stop and leader is not None:
            exp = stop_experiment(
                engine, store, exp, leader, f"conclusive on {METRIC_LABEL[exp.metric]}", now
            )
    if exp.status is ExperimentStatus.STOPPED:
        last = verdict(c, exp.arms[0].name, exp.arms[best + 1].name, running=False)
        text = f"Stopped ({exp.stop_reason}), serving {exp.winner or exp.arms[0].name}. {last}."
    return ExperimentResult(exp, data.totals, comps, text, leader, statement(store, exp))


def statement(store: Store, exp: Experiment) -> tuple[ArmStatement, ...]:
    """Settled charges, GMV and compensation per arm campaign (empty for a creative test: its arms share one
    campaign, their spend is in the results' per-arm totals)."""
    if exp.kind is not ExperimentKind.CAMPAIGN:
        return ()
    out = []
    for a in exp.arms:
        cid = arm_campaign_id(exp.id, a.name)
        figs = store.day_figures("0000-01-01", "9999-12-31", cid).values()
        evals = store.guarantee_evaluations("0000-01-01", "9999-12-31", cid).values()
        out.append(
            ArmStatement(
                a.name,
                cid,
                sum(f.spend_micros for f in figs),
                sum(f.gmv_micros for f in figs),
                sum(g.due_micros for g in evals),
            )
        )
    return tuple(out)


def stop_experiment(
    engine: Engine, store: Store, exp: Experiment, winner: str | None, reason: str, now_ms: int | None = None
) -> Experiment:
    """Stop; from now on everyone is served the winner (the control when None). A campaign-level winner's
    arm campaign takes the whole tested budget; the other arms are paused."""
    done = stop(exp, engine.clock.now_ms() if now_ms is None else now_ms, winner, reason)
    store.put_experiment(done)
    if done.kind is ExperimentKind.CAMPAIGN:
        keep = arm_campaign_id(done.id, done.winner or done.arms[0].name)
        parent = store.get_campaign(done.campaign_id)
        for a in done.arms:
            c = store.get_campaign(arm_campaign_id(done.id, a.name))
            if c is None or parent is None:
                continue
            if c.id == keep:
                budget = a.daily_budget_micros or parent.daily_budget_micros
                engine.update_campaign(replace(c, daily_budget_micros=budget))
            else:
                engine.update_campaign(replace(c, status=CampaignStatus.PAUSED))
    engine.reload_experiments()
    return done


def apply_winner(engine: Engine, store: Store, exp: Experiment) -> Experiment:
    """Make the winner permanent (stopping first is required: a running test has no winner yet)."""
    if exp.status is not ExperimentStatus.STOPPED or exp.winner is None:
        raise Conflict(f"experiment {exp.id}: stop it with a winner before applying")
    if exp.applied:
        return exp
    parent = store.get_campaign(exp.campaign_id)
    if parent is None:
        raise NotFound(f"campaign {exp.campaign_id} not found")
    if exp.kind is ExperimentKind.CAMPAIGN:
        for a in exp.arms:
            c = store.get_campaign(arm_campaign_id(exp.id, a.name))
            if c is not None and c.status is not CampaignStatus.PAUSED:
                engine.update_campaign(replace(c, status=CampaignStatus.PAUSED))
        engine.update_campaign(winning_terms(exp, parent))
    else:
        title = exp.arms[exp.arm_index(exp.winner)].title
        if title:
            products = [
                replace(p, title=title) for p in (store.get_product(pid) for pid in exp.product_ids) if p
            ]
            store.upsert_products(products)
            engine.upsert_products(products)
    done = replace(exp, applied=True)
    store.put_experiment(done)
    engine.reload_experiments()
    return done


__all__ = [
    "ArmStatement",
    "ExperimentResult",
    "apply_winner",
    "build_experiment",
    "check_running",
    "create",
    "get",
    "list_experiments",
    "new_experiment_id",
    "results",
    "statement",
    "stop_experiment",
    "visible",
]
