"""Merchant A/B experiments: arms, deterministic assignment, budget split, guardrails, the data of a test.

**Assignment** is a hash of the experiment's salt and the user id (BLAKE2b, not Python's ``hash``, so it is
the same in every process and on every server): a user sees the same arm on every request, nothing is
stored per user, and events can be attributed to arms afterwards by hashing again.

**Two kinds of experiment.**
- ``creative``: arms vary what a product shows — a creative, its title or its main image. The product's ads
  and organic slots stay the same; the serving path labels each slot with the user's arm.
- ``campaign``: arms vary the campaign's terms — target ROI or daily budget. This uses a **budget-split**
  design: every arm becomes its own campaign with its own slice of the budget *and* of the users, so two arms
  of one merchant never bid against each other in one auction. Without the split, the arm that bids higher
  wins the auctions the other would have won, and the test measures cannibalisation, not the effect of the
  terms (``bench/experiments.py`` prints both).

**Guardrails**: a spend cap per arm (the serving path never lets an arm's spend pass it, see
``sitewide.experimentation``) and an automatic stop when a guardrail metric is breached (an arm's ROI below
a floor after enough orders, or a treatment's always-valid CTR interval entirely below an allowed drop).

A **stopped** experiment serves only its winner (the control when stopped without one).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from enum import StrEnum

import numpy as np

from sitewide.domain.money import Micros, roi
from sitewide.domain.sequential import ArmSums, Comparison, Metric
from sitewide.domain.types import Campaign, CampaignStatus, Conflict, Event, EventKind, ValidationError

MAX_ARMS = 8


class ExperimentKind(StrEnum):
    CREATIVE = "creative"  # arms vary a product's creative, title or main image
    CAMPAIGN = "campaign"  # arms vary the campaign's target ROI or budget (budget-split)


class ExperimentStatus(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class Arm:
    """One variant. The first arm of an experiment is the control.

    ``weight``: traffic share ∝ weight. Creative arms set any of ``creative_id``/``title``/``image_url``;
    campaign arms ``target_roi`` and/or ``daily_budget_micros`` (the full-traffic budget being tested: the arm's
    campaign gets it × the arm's traffic share). ``spend_cap_micros``: the most this arm may spend over the
    whole experiment (None: no cap)."""

    name: str
    weight: int = 1
    creative_id: str | None = None
    title: str | None = None
    image_url: str | None = None
    target_roi: Decimal | None = None
    daily_budget_micros: Micros | None = None
    spend_cap_micros: Micros | None = None

    def label(self) -> str:
        """What the serving path tells the front end to show for this arm."""
        return self.creative_id or self.title or self.image_url or self.name


@dataclass(frozen=True, slots=True)
class Guardrails:
    """Automatic stops. ``min_roi``: an arm whose ROI is below it after ``min_orders`` orders stops the test;
    ``max_ctr_drop``: a treatment whose always-valid CTR interval lies wholly below ``−max_ctr_drop`` (relative)
    stops it."""

    min_roi: float | None = None
    min_orders: int = 10
    max_ctr_drop: float | None = None


@dataclass(frozen=True, slots=True)
class Experiment:
    id: str
    merchant_id: str
    name: str
    kind: ExperimentKind
    campaign_id: str
    product_ids: tuple[str, ...]  # creative: the products whose display varies; campaign: the campaign's
    arms: tuple[Arm, ...]
    salt: str
    metric: Metric = Metric.CTR
    alpha: float = 0.05
    n_star: int = 10_000  # planned users per arm: the always-valid interval is tightest near it
    budget_split: bool = True
    auto_stop: bool = True  # stop, keeping the winner, as soon as the primary metric is conclusive
    guardrails: Guardrails = field(default_factory=Guardrails)
    status: ExperimentStatus = ExperimentStatus.RUNNING
    winner: str | None = None
    stop_reason: str = ""
    created_ms: int = 0
    stopped_ms: int | None = None
    applied: bool = False

    def arm_index(self, name: str) -> int:
        for i, a in enumerate(self.arms):
            if a.name == name:
                return i
        raise ValidationError(f"experiment {self.id} has no arm {name!r}")

    def shares(self) -> tuple[float, ...]:
        total = sum(a.weight for a in self.arms)
        return tuple(a.weight / total for a in self.arms)

    # storage: a JSON-able document
    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "merchant_id": self.merchant_id,
            "name": self.name,
            "kind": self.kind.value,
            "campaign_id": self.campaign_id,
            "product_ids": list(self.product_ids),
            "arms": [
                {
                    "name": a.name,
                    "weight": a.weight,
                    "creative_id": a.creative_id,
                    "title": a.title,
                    "image_url": a.image_url,
                    "target_roi": None if a.target_roi is None else str(a.target_roi),
                    "daily_budget_micros": a.daily_budget_micros,
                    "spend_cap_micros": a.spend_cap_micros,
                }
                for a in self.arms
            ],
            "salt": self.salt,
            "metric": self.metric.value,
            "alpha": self.alpha,
            "n_star": self.n_star,
            "budget_split": self.budget_split,
            "auto_stop": self.auto_stop,
            "guardrails": {
                "min_roi": self.guardrails.min_roi,
                "min_orders": self.guardrails.min_orders,
                "max_ctr_drop": self.guardrails.max_ctr_drop,
            },
            "status": self.status.value,
            "winner": self.winner,
            "stop_reason": self.stop_reason,
            "created_ms": self.created_ms,
            "stopped_ms": self.stopped_ms,
            "applied": self.applied,
        }

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> Experiment:
        arms = tuple(
            Arm(
                name=str(a["name"]),
                weight=int(a["weight"]),
                creative_id=a.get("creative_id"),
                title=a.get("title"),
                image_url=a.get("image_url"),
                target_roi=None if a.get("target_roi") is None else Decimal(str(a["target_roi"])),
                daily_budget_micros=a.get("daily_budget_micros"),
                spend_cap_micros=a.get("spend_cap_micros"),
            )
            for a in d["arms"]  # type: ignore[attr-defined]
        )
        g = d["guardrails"]
        assert isinstance(g, dict)
        return cls(
            id=str(d["id"]),
            merchant_id=str(d["merchant_id"]),
            name=str(d["name"]),
            kind=ExperimentKind(str(d["kind"])),
            campaign_id=str(d["campaign_id"]),
            product_ids=tuple(d["product_ids"]),  # type: ignore[arg-type]
            arms=arms,
            salt=str(d["salt"]),
            metric=Metric(str(d["metric"])),
            alpha=float(d["alpha"]),  # type: ignore[arg-type]
            n_star=int(d["n_star"]),  # type: ignore[call-overload]
            budget_split=bool(d["budget_split"]),
            auto_stop=bool(d.get("auto_stop", True)),
            guardrails=Guardrails(g.get("min_roi"), int(g.get("min_orders", 10)), g.get("max_ctr_drop")),
            status=ExperimentStatus(str(d["status"])),
            winner=d.get("winner"),  # type: ignore[arg-type]
            stop_reason=str(d.get("stop_reason", "")),
            created_ms=int(d.get("created_ms", 0)),  # type: ignore[call-overload]
            stopped_ms=d.get("stopped_ms"),  # type: ignore[arg-type]
            applied=bool(d.get("applied", False)),
        )


# assignment --------------------------------------------------------------------------------------------
def unit_hash(salt: str, user_id: str) -> float:
    """A uniform number in [0, 1) fixed by (salt, user id): BLAKE2b's first 8 bytes / 2⁶⁴."""
    h = hashlib.blake2b(f"{salt}\x1f{user_id}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2.0**64


def assign_many(salt: str, weights: Sequence[int], user_ids: Iterable[str]) -> np.ndarray:
    """Arm index per user (``[U]`` int64) for traffic weights ``weights``."""
    edges = np.cumsum(np.asarray(weights, dtype=np.float64))
    edges = edges / edges[-1]
    u = np.array([unit_hash(salt, uid) for uid in user_ids], dtype=np.float64)
    return np.minimum(np.searchsorted(edges, u, side="right"), len(edges) - 1).astype(np.int64)


def assign(exp: Experiment, user_id: str) -> int:
    """The arm a running experiment shows this user."""
    return int(assign_many(exp.salt, [a.weight for a in exp.arms], [user_id])[0])


def serving_arm(exp: Experiment, user_id: str) -> int:
    """The arm to serve: the user's own arm while running; the winner for everyone once stopped (the
    control when stopped without a winner)."""
    if exp.status is ExperimentStatus.STOPPED:
        return exp.arm_index(exp.winner) if exp.winner else 0
    return assign(exp, user_id)


# validation, budget split, arm campaigns ---------------------------------------------------------------
def validate(exp: Experiment, campaign: Campaign) -> None:
    """Raise :class:`ValidationError` on an experiment that cannot run (nothing is stored then)."""
    if not exp.name.strip():
        raise ValidationError("an experiment needs a name")
    if not 2 <= len(exp.arms) <= MAX_ARMS:
        raise ValidationError(f"an experiment needs 2..{MAX_ARMS} arms, got {len(exp.arms)}")
    names = [a.name for a in exp.arms]
    if len(set(names)) != len(names) or any(not n or len(n) > 32 for n in names):
        raise ValidationError("arm names must be distinct, 1..32 characters")
    if any(a.weight < 1 or a.weight > 1000 for a in exp.arms):
        raise ValidationError("arm weights must be integers 1..1000")
    if not 0 < exp.alpha < 0.5:
        raise ValidationError("alpha must lie in (0, 0.5)")
    if exp.n_star < 10:
        raise ValidationError("n_star (planned users per arm) must be ≥ 10")
    if exp.campaign_id != campaign.id or exp.merchant_id != campaign.merchant_id:
        raise ValidationError("the experiment's campaign belongs to another merchant")
    unknown = [p for p in exp.product_ids if p not in campaign.product_ids]
    if unknown:
        raise ValidationError(f"products not in campaign {campaign.id}: {', '.join(unknown[:5])}")
    for a in exp.arms:
        if a.spend_cap_micros is not None and a.spend_cap_micros <= 0:
            raise ValidationError(f"arm {a.name}: spend cap must be > 0 micros")
        if a.target_roi is not None and a.target_roi <= 0:
            raise ValidationError(f"arm {a.name}: target ROI must be > 0")
        if a.daily_budget_micros is not None and a.daily_budget_micros <= 0:
            raise ValidationError(f"arm {a.name}: daily budget must be > 0 micros")
    if exp.kind is ExperimentKind.CREATIVE:
        if not exp.product_ids:
            raise ValidationError("a creative experiment names the products whose display it varies")
        if any(a.target_roi is not None or a.daily_budget_micros is not None for a in exp.arms):
            raise ValidationError("creative arms vary creative/title/image; use kind 'campaign' for terms")
    else:
        if any(a.creative_id or a.title or a.image_url for a in exp.arms):
            raise ValidationError(
                "campaign arms vary target ROI or budget; use kind 'creative' for creatives"
            )


def parse_roi(text: object) -> Decimal:
    try:
        return Decimal(str(text))
    except InvalidOperation as exc:
        raise ValidationError(f"not a decimal ROI: {text!r}") from exc


def split_budget(total_micros: int, weights: Sequence[int]) -> tuple[Micros, ...]:
    """Integer micros per arm ∝ weights, summing exactly to ``total_micros`` (largest remainder)."""
    w = [int(x) for x in weights]
    s = sum(w)
    base = [total_micros * x // s for x in w]
    rest = total_micros - sum(base)
    order = sorted(range(len(w)), key=lambda i: (-(total_micros * w[i] % s), i))
    for i in order[:rest]:
        base[i] += 1
    return tuple(Micros(b) for b in base)


def arm_campaign_id(experiment_id: str, arm_name: str) -> str:
    return f"{experiment_id}.{arm_name}"[:64]


def arm_campaigns(exp: Experiment, parent: Campaign) -> list[Campaign]:
    """The campaign each arm of a campaign-level experiment runs as: the parent's products, the arm's target
    ROI, and its own budget slice (∝ traffic share; the arm's tested budget × share when it sets one)."""
    if exp.kind is not ExperimentKind.CAMPAIGN:
        return []
    weights = [a.weight for a in exp.arms]
    slices = split_budget(int(parent.daily_budget_micros), weights)
    shares = exp.shares()
    out = []
    for a, sl, sh in zip(exp.arms, slices, shares, strict=True):
        budget = sl if a.daily_budget_micros is None else Micros(max(1, int(int(a.daily_budget_micros) * sh)))
        if not exp.budget_split:  # the biased design, kept for the benchmark: every arm bids on every user
            budget = sl
        out.append(
            replace(
                parent,
                id=arm_campaign_id(exp.id, a.name),
                name=f"{parent.name} · {exp.name} · {a.name}"[:200],
                target_roi=a.target_roi if a.target_roi is not None else parent.target_roi,
                daily_budget_micros=budget,
                status=CampaignStatus.ACTIVE,
                created_ms=exp.created_ms,
            )
        )
    return out


def winning_terms(exp: Experiment, parent: Campaign) -> Campaign:
    """The parent campaign with the winner's terms (campaign-level) — what "apply the winner" stores."""
    if exp.winner is None:
        raise Conflict(f"experiment {exp.id} has no winner to apply")
    a = exp.arms[exp.arm_index(exp.winner)]
    return replace(
        parent,
        target_roi=a.target_roi if a.target_roi is not None else parent.target_roi,
        daily_budget_micros=a.daily_budget_micros or parent.daily_budget_micros,
        status=CampaignStatus.ACTIVE,
    )


def stop(exp: Experiment, now_ms: int, winner: str | None, reason: str) -> Experiment:
    """Stop a running experiment (serving switches to ``winner``, the control when None)."""
    if exp.status is ExperimentStatus.STOPPED:
        raise Conflict(f"experiment {exp.id} is already stopped")
    if winner is not None:
        exp.arm_index(winner)
    return replace(exp, status=ExperimentStatus.STOPPED, winner=winner, stop_reason=reason, stopped_ms=now_ms)


# the data of a test ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ArmTotals:
    """One arm's users and totals; ``roi`` (GMV ÷ spend, ``None`` without spend) as the results report it.
    The API serves it as it is (field names are the JSON keys)."""

    arm: str
    users: int
    impressions: int
    clicks: int
    orders: int
    spend_micros: int
    gmv_micros: int
    roi: float | None


@dataclass(frozen=True, slots=True)
class ExperimentData:
    """Per arm: the totals and, per metric, the sufficient statistics (with the pre-period as covariate)."""

    totals: tuple[ArmTotals, ...]
    sums: dict[Metric, tuple[ArmSums, ...]]


_COLS = ("impressions", "clicks", "orders", "spend", "gmv")
_RATIO = {
    Metric.CTR: (1, 0),
    Metric.CVR: (2, 1),
    Metric.GMV_PER_IMPRESSION: (4, 0),
    Metric.ROI: (4, 3),
}


def _per_user(exp: Experiment, events: Iterable[Event]) -> dict[str, np.ndarray]:
    """Per user: impressions, clicks, orders, spend (micros), GMV (micros) on the experiment's products
    (creative) or its arms' campaigns (campaign; orders: the campaign's products)."""
    products = set(exp.product_ids)
    arm_ids = {arm_campaign_id(exp.id, a.name) for a in exp.arms}
    out: dict[str, np.ndarray] = {}
    for e in events:
        if e.kind is EventKind.REFUND or not e.user_id:
            continue
        if exp.kind is ExperimentKind.CAMPAIGN and e.kind is not EventKind.ORDER:
            if e.campaign_id not in arm_ids:
                continue
        elif e.product_id not in products:
            continue
        row = out.setdefault(e.user_id, np.zeros(5))
        if e.kind is EventKind.IMPRESSION:
            row[0] += 1
        elif e.kind is EventKind.CLICK:
            row[1] += 1
            row[3] += int(e.price_micros)
        else:
            row[2] += 1
            row[4] += int(e.order_value_micros)
    return out


def experiment_data(
    exp: Experiment, events: Iterable[Event], pre_events: Iterable[Event] = ()
) -> ExperimentData:
    """Aggregate the experiment's events (users → arms by the hash) into per-arm totals and metric sums.
    ``pre_events``: the same users' events before the start; each metric's pre-period numerator is its
    CUPED covariate (0 for a user without history)."""
    now = _per_user(exp, events)
    pre = _per_user(exp, pre_events)
    users = sorted(now)
    arm = assign_many(exp.salt, [a.weight for a in exp.arms], users) if users else np.zeros(0, np.int64)
    cur = np.array([now[u] for u in users]).reshape(len(users), 5)
    old = np.array([pre.get(u, np.zeros(5)) for u in users]).reshape(len(users), 5)
    totals = []
    sums: dict[Metric, list[ArmSums]] = {m: [] for m in _RATIO}
    for k, a in enumerate(exp.arms):
        sel = arm == k
        c = cur[sel]
        t = c.sum(axis=0) if len(c) else np.zeros(5)
        imp, clk, orders, spend, gmv = (int(v) for v in t)
        totals.append(ArmTotals(a.name, int(sel.sum()), imp, clk, orders, spend, gmv, roi(gmv, spend)))
        for m, (y, x) in _RATIO.items():
            sums[m].append(ArmSums.of(c[:, y], c[:, x], old[sel][:, y], axis=0))
    return ExperimentData(tuple(totals), {m: tuple(v) for m, v in sums.items()})


def guardrail_breach(exp: Experiment, data: ExperimentData, ctr: Sequence[Comparison]) -> str | None:
    """The reason to stop now, or None. ``ctr``: each treatment vs control on CTR (always-valid)."""
    g = exp.guardrails
    if g.min_roi is not None:
        for t in data.totals:
            if t.orders >= g.min_orders and t.roi is not None and t.roi < g.min_roi:
                return f"guardrail: arm {t.arm} ROI {t.roi:.2f} < {g.min_roi:.2f} after {t.orders} orders"
    if g.max_ctr_drop is not None:
        for arm, c in zip(exp.arms[1:], ctr, strict=False):
            upper = c.lift + c.lift_halfwidth
            if upper < -g.max_ctr_drop:
                return (
                    f"guardrail: arm {arm.name} CTR {100 * c.lift:+.1f} % (at most {100 * upper:+.1f} %), "
                    f"below the allowed −{100 * g.max_ctr_drop:.0f} %"
                )
    return None


__all__ = [
    "MAX_ARMS",
    "Arm",
    "ArmTotals",
    "Experiment",
    "ExperimentData",
    "ExperimentKind",
    "ExperimentStatus",
    "Guardrails",
    "arm_campaign_id",
    "arm_campaigns",
    "assign",
    "assign_many",
    "experiment_data",
    "guardrail_breach",
    "parse_roi",
    "serving_arm",
    "split_budget",
    "stop",
    "unit_hash",
    "validate",
    "winning_terms",
]
