"""Experiment scenarios with a known true lift, vectorised over many experiments at once.

**Creative scenario.** Every user has hidden traits the engine never sees: an activity level (impressions
per period), a base click-through rate, a conversion rate, an order value, and a *preference* ``p`` for the
treatment creative's style. Under the treatment a user's CTR is ``ctr × (1 + lift) × exp(γ p − γ²/2)`` with
``p ~ N(0, 1)`` independent of the rest, so individual users like or dislike the new creative, but the
population's true CTR lift is exactly ``lift`` (``E[exp(γ p − γ²/2)] = 1``). A user's pre-period (same
traits, control creative) is the CUPED covariate. Users are assigned to arms by the production hash
(:func:`sitewide.domain.experiments.assign_many`) and arrive over ``ticks`` looks.

**Campaign scenario.** One merchant's campaign tests two target ROIs. Each user brings impression
opportunities with an expected GMV ``v`` and a best competing bid ``c``; an arm bids ``v / ROI × noise`` (the
noise is its bidder's pacing) and wins when it beats ``c`` (paying ``c``). The true effect of rolling out
B's terms is computed from the same opportunities with B bidding alone vs A bidding alone. With the
**budget split** each user sees one arm only; **without** it both arms bid for every user and the higher
one wins — B takes the opportunities A would have won, and the measured lift is inflated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sitewide.domain.experiments import assign_many
from sitewide.domain.sequential import ArmSums

FArray = np.ndarray


@dataclass(frozen=True)
class CreativeScenario:
    experiments: int = 1000
    users: int = 2000  # per experiment, both arms together
    ticks: int = 50  # looks: users arrive evenly, the test is checked after each tick
    lift: float = 0.0  # true relative CTR lift of arm B (0: an A/A test)
    preference: float = 0.5  # γ: spread of users' hidden taste for B's style
    impressions_per_user: float = 20.0
    ctr: float = 0.03
    cvr: float = 0.05
    order_value: float = 60.0  # currency units


@dataclass(frozen=True)
class TickSums:
    """Per experiment × tick × arm sums (``[E, T]`` fields) for CTR with the pre-period clicks as the
    covariate, and for GMV per impression."""

    ctr: tuple[ArmSums, ArmSums]
    gmv: tuple[ArmSums, ArmSums]
    true_lift: float


def _sums_by_tick(
    e: FArray, t: FArray, arm: FArray, y: FArray, x: FArray, z: FArray, shape: tuple[int, int]
) -> tuple[ArmSums, ArmSums]:
    out = []
    for k in (0, 1):
        sel = arm == k
        idx = e[sel] * shape[1] + t[sel]
        size = shape[0] * shape[1]

        def s(v: FArray, sel: FArray = sel, idx: FArray = idx, size: int = size) -> FArray:
            return np.bincount(idx, weights=v[sel], minlength=size).reshape(shape)

        ys, xs, zs = y, x, z
        out.append(
            ArmSums(
                n=s(np.ones_like(ys)),
                sy=s(ys),
                sx=s(xs),
                syy=s(ys * ys),
                sxx=s(xs * xs),
                sxy=s(xs * ys),
                sz=s(zs),
                szz=s(zs * zs),
                syz=s(ys * zs),
                sxz=s(xs * zs),
            )
        )
    return out[0], out[1]


def simulate_creative(sc: CreativeScenario, rng: np.random.Generator, salt: str = "exp") -> TickSums:
    """Simulate ``sc.experiments`` independent experiments; returns the per-tick sums (not cumulative)."""
    n_e, n_u = sc.experiments, sc.users
    shape = (n_e, sc.ticks)
    total = n_e * n_u
    e = np.repeat(np.arange(n_e), n_u)
    # users arrive in random order, evenly over the ticks
    t = (rng.permuted(np.tile(np.arange(n_u), (n_e, 1)), axis=1).ravel() * sc.ticks) // n_u
    arm = np.concatenate(
        [assign_many(f"{salt}-{i}", [1, 1], (f"u{i}-{j}" for j in range(n_u))) for i in range(n_e)]
    )
    activity = rng.gamma(2.0, sc.impressions_per_user / 2.0, size=total)
    base = np.clip(sc.ctr * rng.lognormal(-0.18, 0.6, size=total), 0.0, 0.5)  # heterogeneous, mean ≈ ctr
    taste = rng.standard_normal(total)
    g = sc.preference
    mult = np.where(arm == 1, (1.0 + sc.lift) * np.exp(g * taste - g * g / 2), 1.0)
    ctr = np.clip(base * mult, 0.0, 1.0)
    cvr = np.clip(sc.cvr * rng.lognormal(-0.125, 0.5, size=total), 0.0, 1.0)
    value = sc.order_value * rng.lognormal(-0.08, 0.4, size=total)
    imp = rng.poisson(activity).astype(np.float64)
    clicks = rng.binomial(imp.astype(np.int64), ctr).astype(np.float64)
    orders = rng.binomial(clicks.astype(np.int64), cvr).astype(np.float64)
    gmv = orders * value
    pre_imp = rng.poisson(activity)
    pre_clicks = rng.binomial(pre_imp, base).astype(np.float64)
    pre_gmv = rng.binomial(pre_clicks.astype(np.int64), cvr) * value
    ctr_sums = _sums_by_tick(e, t, arm, clicks, imp, pre_clicks, shape)
    gmv_sums = _sums_by_tick(e, t, arm, gmv, imp, pre_gmv, shape)
    return TickSums(ctr=ctr_sums, gmv=gmv_sums, true_lift=sc.lift)


@dataclass(frozen=True)
class CampaignScenario:
    users: int = 20_000
    opportunities_per_user: int = 10
    roi_a: float = 4.0
    roi_b: float = 3.0
    pacing_noise: float = 0.3  # lognormal σ of each arm's bid multiplier per opportunity


@dataclass(frozen=True)
class CampaignOutcome:
    true_lift: float  # GMV of B's terms rolled out to everyone ÷ A's, − 1
    split_lift: float  # measured with the budget split (users hashed into arms, one arm per user)
    no_split_lift: float  # measured without it (both arms bid on every user; GMV attributed per arm)
    split_ci: float  # 95 % fixed-horizon half-width of the split estimate (relative)


def simulate_campaign(sc: CampaignScenario, rng: np.random.Generator, salt: str = "camp") -> CampaignOutcome:
    n, k = sc.users, sc.opportunities_per_user
    value = rng.lognormal(np.log(0.05), 1.0, size=(n, k)) * rng.lognormal(0, 0.5, size=(n, 1))
    comp = rng.lognormal(np.log(0.012), 0.7, size=(n, k))  # the best rival's bid for the slot
    noise_a = rng.lognormal(0, sc.pacing_noise, size=(n, k))
    noise_b = rng.lognormal(0, sc.pacing_noise, size=(n, k))
    bid_a = value / sc.roi_a * noise_a
    bid_b = value / sc.roi_b * noise_b
    gmv_a_alone = (value * (bid_a > comp)).sum(axis=1)  # per user, A's terms for everyone
    gmv_b_alone = (value * (bid_b > comp)).sum(axis=1)
    true_lift = gmv_b_alone.sum() / gmv_a_alone.sum() - 1
    # budget split: each user sees one arm
    arm = assign_many(salt, [1, 1], (f"u{i}" for i in range(n)))
    per_user = np.where(arm == 1, gmv_b_alone, gmv_a_alone)
    ma, mb = per_user[arm == 0].mean(), per_user[arm == 1].mean()
    split = mb / ma - 1
    va = per_user[arm == 0].var() / (arm == 0).sum()
    vb = per_user[arm == 1].var() / (arm == 1).sum()
    ci = 1.96 * np.sqrt(vb / ma**2 + va * mb**2 / ma**4)
    # no split: both arms in every auction, the merchant's higher bid takes the slot
    top = np.maximum(bid_a, bid_b)
    won = top > comp
    gmv_a = (value * (won & (bid_a >= bid_b))).sum()
    gmv_b = (value * (won & (bid_b > bid_a))).sum()
    return CampaignOutcome(float(true_lift), float(split), float(gmv_b / gmv_a - 1), float(ci))


__all__ = [
    "CampaignOutcome",
    "CampaignScenario",
    "CreativeScenario",
    "TickSums",
    "simulate_campaign",
    "simulate_creative",
]
