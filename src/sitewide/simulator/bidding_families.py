"""Independent auto-bidding environment families, for judging bidders outside the project's own simulator.

Nothing here comes from ``simulator/bidding_env.py`` (the project's own environment, which the learned
policy was trained on); the designs follow published benchmarks and auction formats:

* ``gsp`` — multi-slot GSP with position exposure (AuctionNet, NeurIPS 2024 competition: 3 slots, exposure
  probabilities per slot, pay the next bid per exposure) against a population of heterogeneous competitors
  that adapt tick by tick: truthful (``value ÷ R``), PID on ROI, a pacing dual, budget-capped aggressive
  bidders and a "learned" time-of-day plan; every competitor has its own budget and stops when it is spent.
* ``first_price`` — single slot, first-price payment (campaigns with an even index) or a soft floor
  (Zeithammer 2019: above the soft floor the winner pays max(second bid, soft floor), between the hard and
  the soft floor it pays its own bid), against the same competitor population.
* ``calibration`` — second price, but the bidder's value estimates carry a per-advertiser calibration bias
  (log-normal, s.d. ``calib_sigma``) and order values are heavy-tailed (Pareto, α = 2.2, mean 1 × the product's
  price), as in real marketplaces where a few orders carry much of the GMV.
* ``cpa`` — AuctionNet's constraint: value = CPA cap × conversion probability, target ROI 1 (i.e. CPA ≤ cap),
  GSP with exposure, scored with AuctionNet's quadratic penalty for a broken cap as well as the hard constraint.

Every family: 48 ticks; traffic follows a two-peak day (the platform's forecast of it, without the tick noise,
is given to every bidder as ``traffic_left_frac``); a campaign's target ROI spans 0.5–20 and its budget runs
from binding to loose. Bidders see what :mod:`sitewide.domain.bidding` bidders see — their value estimates
per impression and their own outcome per tick — never the competitors, prices they did not pay, or the truth.
A tick is admitted in ``substeps`` sub-batches against the hard budget and the bidder's within-tick cap.

Scoring (:class:`FamilyResult`): ``value`` = true expected GMV won; ``score`` = value × min(1, (ROI / R)²),
the quadratic penalty, with ROI realised (orders × order value ÷ spend); the hindsight bound is the LP over the
impressions with true values and the prices the competitors actually bid in that run (for GSP, per-slot
increments, whose efficiencies decrease with the slot, so the fractional knapsack is exact).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sitewide.domain.bidding import Bidder, CampaignState, TickOutcome
from sitewide.domain.types import ValidationError
from sitewide.simulator.oracle import hindsight_oracle

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

__all__ = ["FAMILIES", "FamilyDay", "FamilyResult", "FamilySpec", "make_family_days", "run_family_day"]

_COMP_TYPES = ("truthful", "pid", "dual", "capped", "learned")


@dataclass(frozen=True, slots=True)
class FamilySpec:
    name: str
    mechanism: str  # "gsp" | "first_or_soft" | "second"
    exposure: tuple[float, ...] = (1.0,)  # exposure probability per slot
    competitors: int = 6
    calib_sigma: float = 0.0
    heavy_tail: bool = False
    cpa: bool = False
    est_sigma: float = 0.2
    impressions: int = 15_000  # median candidate impressions per campaign-day
    volume_sigma: float = 0.8
    ticks: int = 48
    substeps: int = 4
    campaigns_per_seed: int = 6

    def __post_init__(self) -> None:
        if self.mechanism not in ("gsp", "first_or_soft", "second"):
            raise ValidationError(f"unknown mechanism {self.mechanism!r}")
        if not self.exposure or any(not (0 < e <= 1) for e in self.exposure):
            raise ValidationError("exposure probabilities must be in (0, 1]")


FAMILIES: dict[str, FamilySpec] = {
    "gsp": FamilySpec("gsp", "gsp", exposure=(1.0, 0.65, 0.4), competitors=8),
    "first_price": FamilySpec("first_price", "first_or_soft"),
    "calibration": FamilySpec("calibration", "second", calib_sigma=0.15, heavy_tail=True),
    "cpa": FamilySpec("cpa", "gsp", exposure=(1.0, 0.65, 0.4), competitors=8, cpa=True),
}
_TARGETS = (0.5, 1.0, 2.0, 4.0, 8.0, 20.0)
_BUDGET_FACTORS = (0.35, 0.6, 1.0, 2.0, 4.0)


@dataclass(frozen=True, slots=True)
class FamilyDay:
    """One campaign-day of a family: the bidder's stream, the truth, and the competitor population."""

    family: FamilySpec
    name: str
    target_roi: float
    budget_micros: int
    budget_factor: float
    soft_floor: bool
    offsets: IntArray  # [T + 1]
    value_true: FloatArray  # [N] true expected GMV per exposure (micros)
    value_est: FloatArray  # [N] the bidder's estimate
    conv_prob: FloatArray  # [N] per exposure
    order_value: FloatArray  # [N] realised value of an order on impression i (micros)
    u_conv: FloatArray  # [N] common random numbers
    u_expo: FloatArray  # [N]
    comp_value: FloatArray  # [J, N] each competitor's value per impression (its own estimate)
    comp_type: IntArray  # [J] index into _COMP_TYPES
    comp_roi: FloatArray  # [J]
    comp_budget: FloatArray  # [J]
    comp_phase: FloatArray  # [J]
    floor: FloatArray  # [N] soft floor per impression (micros; 0 without one)
    forecast_left: FloatArray  # [T + 1] the platform's forecast share of traffic still to come


@dataclass(frozen=True, slots=True)
class FamilyResult:
    spend: int
    gmv: int
    orders: int
    value: float  # true expected GMV won
    bound: float  # hindsight LP bound (true values, the competitors' actual bids)
    budget: int
    target_roi: float
    max_tick_share: float  # the largest share of the budget spent within one tick

    @property
    def roi(self) -> float:
        return self.gmv / self.spend if self.spend else math.inf

    @property
    def met(self) -> bool:
        return self.spend == 0 or self.gmv >= 0.95 * self.target_roi * self.spend

    @property
    def score(self) -> float:
        """Value with the quadratic penalty for a broken ROI (CPA) cap."""
        return self.value * min(1.0, (self.roi / self.target_roi) ** 2)


def _day_shape(ticks: int) -> FloatArray:
    t = (np.arange(ticks) + 0.5) / ticks
    s = 1.0 + 0.55 * np.sin(2 * np.pi * (t - 0.3)) + 0.3 * np.sin(4 * np.pi * t + 1.0)
    s = np.maximum(s, 0.15)
    out: FloatArray = s / s.sum()
    return out


def _lognormal(rng: np.random.Generator, sigma: float, size: int | tuple[int, ...]) -> FloatArray:
    out: FloatArray = np.exp(sigma * rng.standard_normal(size) - 0.5 * sigma * sigma)
    return out


def make_family_days(family: FamilySpec, seed: int) -> list[FamilyDay]:
    """The campaign-days of one seed of ``family`` (targets 0.5–20, budgets binding to loose)."""
    root = np.random.SeedSequence([seed, sum(map(ord, family.name))])
    days = []
    shape = _day_shape(family.ticks)
    left = np.concatenate([np.cumsum(shape[::-1])[::-1], [0.0]]).clip(0.0, 1.0)
    for i, child in enumerate(root.spawn(family.campaigns_per_seed)):
        rng = np.random.default_rng(child)
        T, J = family.ticks, family.competitors
        counts = np.maximum(
            1, np.round(family.impressions * math.exp(family.volume_sigma * rng.standard_normal())
                        * shape * np.exp(0.1 * rng.standard_normal(T))),
        ).astype(np.int64)  # fmt: skip
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        n = int(offsets[-1])
        conv = np.minimum(0.012 * _lognormal(rng, 0.9, n), 0.3)
        target = _TARGETS[(i + seed) % len(_TARGETS)]
        if family.cpa:
            cap = float(np.exp(rng.uniform(math.log(20e6), math.log(200e6))))
            mean_value = np.full(n, cap)
            target = 1.0
            realised = mean_value.copy()
        else:
            base = float(np.exp(rng.uniform(math.log(20e6), math.log(500e6))))
            mean_value = base * _lognormal(rng, 0.3, n)
            if family.heavy_tail:
                alpha = 2.2
                tail = (alpha - 1) / alpha * (1.0 - rng.random(n)) ** (-1.0 / alpha)
            else:
                tail = _lognormal(rng, 0.35, n)
            realised = mean_value * tail
        value_true = conv * mean_value
        bias = math.exp(family.calib_sigma * rng.standard_normal()) if family.calib_sigma else 1.0
        value_est = value_true * _lognormal(rng, family.est_sigma, n) * bias
        level = math.exp(rng.normal(math.log(0.55), 0.35)) / target  # competing bid per unit of our value
        curve = np.repeat(
            1.0 + 0.2 * np.sin(2 * np.pi * (np.arange(T) + 0.5) / T + rng.uniform(0, 6.3)), counts
        )
        comp_type = np.arange(J, dtype=np.int64) % len(_COMP_TYPES)
        comp_roi = np.exp(rng.uniform(math.log(1.0), math.log(4.0), J))
        comp_scale = level * comp_roi * np.exp(0.25 * rng.standard_normal(J))
        comp_value = comp_scale[:, None] * value_true[None, :] * curve[None, :] * _lognormal(rng, 0.5, (J, n))
        day_spend = comp_value.sum(axis=1) / comp_roi * 0.25
        comp_budget = day_spend * np.exp(rng.uniform(math.log(0.3), math.log(2.0), J))
        soft = family.mechanism == "first_or_soft" and i % 2 == 1
        floor = 1.2 * level * value_true if soft else np.zeros(n)
        # the campaign's budget: a factor × what the hindsight LP would spend with no budget, at the
        # competitors' opening bids (a fixed subsample is enough for the scale)
        sub = slice(None, None, 4)
        top = np.max(comp_value[:, sub] / comp_roi[:, None], axis=0)
        free = hindsight_oracle(value_true[sub], top * family.exposure[-1], None, target)
        factor = _BUDGET_FACTORS[(i * 2 + seed) % len(_BUDGET_FACTORS)]
        budget = max(1_000_000, int(round(factor * free.spend * 4)))
        days.append(
            FamilyDay(
                family, f"{family.name}/s{seed}c{i}", target, budget, factor, soft, offsets, value_true,
                value_est, conv, realised, rng.random(n), rng.random(n), comp_value, comp_type, comp_roi,
                comp_budget, rng.uniform(0, 2 * np.pi, J), floor, left,
            )
        )  # fmt: skip
    return days


def _comp_update(day: FamilyDay, m: FloatArray, t: int, spent: FloatArray, val: FloatArray,
                 tick_spend: FloatArray) -> FloatArray:  # fmt: skip
    """Each competitor's next multiplier from its own outcomes (vectorised over the population)."""
    T = day.family.ticks
    R = day.comp_roi
    roi = np.where(spent > 0, val / np.maximum(spent, 1.0), 2 * R)
    left = max(T - t - 1, 1)
    pace = tick_spend / np.maximum((day.comp_budget - spent) / left, 1.0)
    typ = day.comp_type
    out = m.copy()
    out = np.where(typ == 0, 1.0 / R, out)
    pid = m * np.exp(0.25 * np.clip(np.log(np.maximum(roi, 1e-9) / R), -1, 1))
    pid = np.where(spent / np.maximum(day.comp_budget, 1) > (t + 1) / T + 0.1, pid * 0.8, pid)
    out = np.where(typ == 1, pid, out)
    dual = m * np.exp(0.3 * np.clip(1.0 - pace, -1, 1)) * np.where(roi < R, 0.85, 1.0)
    out = np.where(typ == 2, dual, out)
    out = np.where(typ == 3, 1.5 / R, out)
    plan = (1.2 / R) * (1.0 + 0.25 * np.sin(2 * np.pi * (t + 1) / T + day.comp_phase))
    out = np.where(typ == 4, plan, out)
    clipped: FloatArray = np.clip(out, 0.2 / R, 5.0 / R)
    return clipped


def run_family_day(day: FamilyDay, bidder: Bidder) -> FamilyResult:
    """Run one bidder through one campaign-day of a family; returns its result and the hindsight bound."""
    fam = day.family
    T, J = fam.ticks, fam.competitors
    expo = np.asarray(fam.exposure)
    K = len(expo)
    m_c = 1.0 / day.comp_roi
    c_spent = np.zeros(J)
    c_val = np.zeros(J)
    spent = gmv = orders = 0
    value = 0.0
    max_tick = 0
    n = len(day.value_est)
    price_paid = np.zeros((K, n))  # competitor bid at each rank per impression (for the bound)
    for t in range(T):
        lo, hi = int(day.offsets[t]), int(day.offsets[t + 1])
        state = CampaignState(
            budget_micros=day.budget_micros, spent_micros=spent, in_flight_micros=0, gmv_micros=gmv,
            target_roi=day.target_roi, time_left_frac=(T - t) / T, ticks_left=T - t, orders=orders,
            traffic_left_frac=float(day.forecast_left[t]),
        )  # fmt: skip
        v_est = day.value_est[lo:hi]
        ours = bidder.bid(state, v_est)
        cap = min(day.budget_micros, spent + max(0, bidder.tick_cap(state)))
        alive = c_spent < day.comp_budget
        comp = day.comp_value[:, lo:hi] * (m_c * alive)[:, None]  # [J, n]
        # competitors' top K + 1 bids per impression, highest first
        k1 = min(K + 1, J)
        top = -np.sort(-comp, axis=0)[:k1]
        if k1 < K + 1:
            top = np.vstack([top, np.zeros((K + 1 - k1, hi - lo))])
        price_paid[:, lo:hi] = top[:K]
        rank = (comp > ours[None, :]).sum(axis=0)  # competitors above us: our slot is `rank`
        win = (rank < K) & (ours > 0)
        slot = np.minimum(rank, K - 1)
        if fam.mechanism == "gsp" or fam.mechanism == "second":
            pay = top[slot, np.arange(hi - lo)]  # the next bid below ours
        elif day.soft_floor:
            fl = day.floor[lo:hi]
            pay = np.where(ours >= fl, np.maximum(top[0], fl), ours)
        else:
            pay = ours.copy()
        e = expo[slot]
        exposed = win & (day.u_expo[lo:hi] < e)
        charge = np.where(exposed, np.ceil(pay), 0.0)
        # admit wins in arrival order, sub-batch by sub-batch, within the budget and the tick cap
        admitted = np.zeros(hi - lo, dtype=bool)
        bounds = np.linspace(0, hi - lo, fam.substeps + 1).astype(np.int64)
        run_spent = spent
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            cs = np.cumsum(charge[a:b])
            ok = win[a:b] & (run_spent + cs <= cap)
            admitted[a:b] = ok
            run_spent += int(charge[a:b][ok].sum())
        conv = admitted & exposed & (day.u_conv[lo:hi] < day.conv_prob[lo:hi])
        sp = int(charge[admitted].sum())
        gm = int(np.round(day.order_value[lo:hi][conv].sum()))
        od = int(conv.sum())
        v_won_est = float((v_est * e)[admitted].sum())
        value += float((day.value_true[lo:hi] * e)[admitted].sum())
        spent, gmv, orders = spent + sp, gmv + gm, orders + od
        max_tick = max(max_tick, sp)
        bidder.observe(
            TickOutcome(impressions=int(admitted.sum()), clicks=int((admitted & exposed).sum()), orders=od,
                        spend_micros=sp, gmv_micros=gm, value_won=v_won_est, candidates=hi - lo,
                        value_offered=float(v_est.sum()))
        )  # fmt: skip
        # competitors: who took which slot (ours removed where we won), what they paid per exposure
        allb = np.vstack([comp, np.where(admitted, ours, 0.0)[None, :]])
        ranked = np.argsort(-allb, axis=0)[: K + 1]
        order = ranked[:K]
        sorted_b = np.take_along_axis(allb, ranked, axis=0)
        tick_spend = np.zeros(J)
        tick_val = np.zeros(J)
        for k in range(K):
            who = order[k]
            if fam.mechanism == "first_or_soft":
                price = sorted_b[k]
            else:
                price = sorted_b[k + 1] if k + 1 < sorted_b.shape[0] else np.zeros(hi - lo)
            mine = who < J
            idx = who[mine]
            tick_spend += np.bincount(idx, weights=expo[k] * price[mine], minlength=J)
            vals = day.comp_value[idx, np.flatnonzero(mine) + lo]
            tick_val += np.bincount(idx, weights=expo[k] * vals, minlength=J)
        c_spent += tick_spend
        c_val += tick_val
        m_c = _comp_update(day, m_c, t, c_spent, c_val, tick_spend)
    bound = _bound(day, price_paid, expo)
    return FamilyResult(spent, gmv, orders, value, bound, day.budget_micros, day.target_roi,
                        max_tick / max(day.budget_micros, 1))  # fmt: skip


def _bound(day: FamilyDay, price: FloatArray, expo: FloatArray) -> float:
    """Hindsight LP over per-slot increments: slot K from nothing, then K → K−1, …, 2 → 1."""
    v = day.value_true
    K = len(expo)
    if day.soft_floor:
        price = np.maximum(price, 0.0)
    vals, costs = [], []
    prev_v = np.zeros_like(v)
    prev_c = np.zeros_like(v)
    for k in range(K - 1, -1, -1):
        cur_v = expo[k] * v
        cur_c = expo[k] * price[k]
        vals.append(cur_v - prev_v)
        costs.append(np.maximum(cur_c - prev_c, 0.0))
        prev_v, prev_c = cur_v, cur_c
    res = hindsight_oracle(np.concatenate(vals), np.concatenate(costs), day.budget_micros, day.target_roi)
    return res.gmv
