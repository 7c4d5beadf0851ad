"""ROI-constrained auto-bidding: the merchant gives a target ROI and a daily budget, the bidder bids.

A bidder sees only what a real bidder sees: per impression a value estimate (expected GMV in micros,
``pCTR · pCVR · order value``), and per tick its own outcome (impressions won, clicks, orders, spend, GMV,
the estimated value of what it won) plus the campaign state (budget, spend, GMV, time left). Nothing here
knows the auction or the simulator, so the same classes run in the engine, in ``simulator/bidding_env.py``
and behind a thin adapter in public bidding benchmarks.

Every bidder has the multiplier form ``bid = value × multiplier(state)``; the multiplier is computed once
per tick and is a pure function of the bidder's internal state and ``state`` (calling it twice gives the
same number). ``observe(outcome)`` updates the internal state after the tick whose state was last passed to
``multiplier``.

Why the multiplier form: the LP relaxation of "maximise GMV subject to spend ≤ B and GMV ≥ R · spend" has
the Lagrangian ``Σ x_i (v_i (1 + μ) − (λ + μ R) c_i)``, so the optimum buys impression ``i`` exactly when its
value per unit of cost clears one threshold, ``v_i / c_i ≥ (λ + μ R) / (1 + μ)``. Under second-price
payment a bid of ``v_i · (1 + μ/R)/(λ + μ)`` per click-equivalent wins exactly those, which is the dual form
below. A single multiplier per tick therefore loses nothing against the per-impression optimum when values
are right; what is left to do is to find the multiplier — which is what the controllers and the learned
policy compete on.

Bidders
-------
* :class:`TruthfulBidder` — ``1 / R``: every won impression is expected to pay back ``R`` on its own.
* :class:`PidBidder` — a PID controller on the log of realised ROI ÷ target, capped by a PI pacing loop.
* :class:`DualBidder` — ``(1 + μ/R) / (λ + μ)`` with ``λ`` (budget) moved by the spend pace and ``μ`` (ROI)
  moved by the ROI error, online, once per tick.
* :class:`~sitewide.domain.policy_bidder.PolicyBidder` — a small MLP (numpy inference, weights trained in
  ``sitewide.training.bidding_policy``) that plans the multiplier, corrected within the day (its own module).

:class:`BudgetGuard` is the hard cap: every served ad whose click is not yet resolved reserves its per-click
price against the remaining budget, so spend can never pass the budget, even with clicks in flight.
"""

from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sitewide.domain.types import BoolArray, IntArray, ValidationError, check_int, check_roi
from sitewide.domain.types import (
    FloatArray as FloatArray,  # explicit: domain/landscape.py imports it from here
)

__all__ = [
    "BIDDER_KINDS",
    "Bidder",
    "BudgetGuard",
    "CampaignState",
    "DualBidder",
    "PidBidder",
    "ROI_PENALTIES",
    "TickOutcome",
    "TruthfulBidder",
    "make_baseline_bidder",
]

_log = logging.getLogger(__name__)

BIDDER_KINDS = ("truthful", "pid", "dual", "learned", "landscape", "landscape_lcb")
ROI_PENALTIES = ("hard", "quadratic")  # how a campaign's contract charges a broken ROI cap (contract_penalty)
MIN_MULTIPLIER_X_ROI = 0.05  # every bidder's multiplier stays within [0.05 / R, 20 / R]
MAX_MULTIPLIER_X_ROI = 20.0


@dataclass(frozen=True, slots=True)
class CampaignState:
    """What the campaign looks like at the start of a tick (money in integer micros)."""

    budget_micros: int
    spent_micros: int
    in_flight_micros: int
    gmv_micros: int
    target_roi: float
    time_left_frac: float
    ticks_left: int
    clicks: int = 0
    orders: int = 0
    traffic_left_frac: float | None = None  # the platform's forecast share of today's traffic still to come

    def __post_init__(self) -> None:
        for name in ("budget_micros", "spent_micros", "in_flight_micros", "gmv_micros", "ticks_left"):
            check_int(name, getattr(self, name))
        check_int("clicks", self.clicks)
        check_int("orders", self.orders)
        check_roi("target_roi", self.target_roi)
        if not (0.0 <= self.time_left_frac <= 1.0):
            raise ValidationError(f"time_left_frac must be in [0, 1], got {self.time_left_frac}")
        if self.traffic_left_frac is not None and not (0.0 <= self.traffic_left_frac <= 1.0):
            raise ValidationError(f"traffic_left_frac must be in [0, 1], got {self.traffic_left_frac}")

    @property
    def traffic_left(self) -> float:
        """Share of today's traffic still to come: the platform's forecast, else the share of time left."""
        return self.time_left_frac if self.traffic_left_frac is None else self.traffic_left_frac

    @property
    def remaining_micros(self) -> int:
        """Budget not yet spent nor reserved by clicks in flight (never negative)."""
        return max(0, self.budget_micros - self.spent_micros - self.in_flight_micros)


@dataclass(frozen=True, slots=True)
class TickOutcome:
    """What the bidder learns after a tick: its own results, never the other bidders'.

    ``value_won`` is the bidder's own expected GMV of the impressions it won (float micros, from the same
    estimates it bid with); ``candidates`` and ``value_offered`` describe the batch it was asked to bid on.
    """

    impressions: int
    clicks: int
    orders: int
    spend_micros: int
    gmv_micros: int
    value_won: float
    candidates: int = 0
    value_offered: float = 0.0

    def __post_init__(self) -> None:
        for name in ("impressions", "clicks", "orders", "spend_micros", "gmv_micros", "candidates"):
            check_int(name, getattr(self, name))
        for name in ("value_won", "value_offered"):
            v = getattr(self, name)
            if not math.isfinite(v) or v < 0:
                raise ValidationError(f"{name} must be a finite number ≥ 0, got {v!r}")


@dataclass(frozen=True, slots=True)
class BudgetGuard:
    """Hard daily cap. Exposure = spend so far + the per-click price of every served, unresolved ad.

    The engine asks :meth:`may_enter` before putting a campaign into an auction, caps its per-click bid at
    :meth:`max_cpc`, and admits won slots with :meth:`admit`, which reserves each admitted slot's per-click
    price (worst case: every one is clicked). Since every charge is at most its reserved price, spend can
    never exceed the budget however late the clicks arrive.
    """

    budget_micros: int

    def __post_init__(self) -> None:
        check_int("budget_micros", self.budget_micros)

    def headroom(self, spent_micros: int, in_flight_micros: int) -> int:
        check_int("spent_micros", spent_micros)
        check_int("in_flight_micros", in_flight_micros)
        return max(0, self.budget_micros - spent_micros - in_flight_micros)

    def may_enter(self, spent_micros: int, in_flight_micros: int, min_price_micros: int = 1) -> bool:
        """Whether one more slot priced at ``min_price_micros`` per click still fits."""
        return self.headroom(spent_micros, in_flight_micros) >= max(1, min_price_micros)

    def max_cpc(self, spent_micros: int, in_flight_micros: int) -> int:
        """The highest per-click price the campaign may be charged for one more slot."""
        return self.headroom(spent_micros, in_flight_micros)

    def admit(self, cpc_micros: IntArray, spent_micros: int, in_flight_micros: int) -> BoolArray:
        """Admit won slots in arrival order while their reserved per-click prices fit in the headroom."""
        cpc = np.asarray(cpc_micros)
        if cpc.ndim != 1 or (cpc.size and (cpc.dtype.kind not in "iu" or int(cpc.min()) < 0)):
            raise ValidationError("cpc_micros must be a 1-d array of non-negative integer micros")
        room = self.headroom(spent_micros, in_flight_micros)
        return np.cumsum(cpc, dtype=np.int64) <= room


def _validate_values(values: npt.ArrayLike) -> FloatArray:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise ValidationError(f"values must be a 1-d array, got shape {v.shape}")
    if v.size and not (np.isfinite(v).all() and v.min() >= 0.0):
        raise ValidationError("values must be finite and ≥ 0 (expected GMV per impression, micros)")
    return v


class Bidder(ABC):
    """Per-tick bidder for one campaign. ``bid = value × multiplier`` unless a subclass says otherwise."""

    kind: str = "bidder"

    def __init__(self, target_roi: float, budget_micros: int) -> None:
        check_roi("target_roi", target_roi)
        check_int("budget_micros", budget_micros)
        self.target_roi = float(target_roi)
        self.budget_micros = int(budget_micros)

    def _clip(self, m: float) -> float:
        lo, hi = MIN_MULTIPLIER_X_ROI / self.target_roi, MAX_MULTIPLIER_X_ROI / self.target_roi
        return float(min(max(m, lo), hi)) if math.isfinite(m) else hi

    @abstractmethod
    def multiplier(self, state: CampaignState) -> float:
        """Bid per unit of expected GMV for this tick."""

    def bid(self, state: CampaignState, values: npt.ArrayLike) -> FloatArray:
        """Per-impression bids (micros) for a batch of value estimates; zero when no budget is left."""
        v = _validate_values(values)
        if state.remaining_micros <= 0 or state.ticks_left == 0:
            return np.zeros_like(v)
        return v * self.multiplier(state)

    def observe(self, outcome: TickOutcome) -> None:  # noqa: B027 - stateless bidders ignore outcomes
        """Learn from the tick that just ended."""

    def tick_cap(self, state: CampaignState) -> int:
        """The most this tick may spend (micros); environments and the engine stop admitting wins past it.
        Default: whatever budget is left (no within-tick guard)."""
        return state.remaining_micros

    def window_margin(self) -> None:  # noqa: B027 - bidders without a margin of their own ignore it
        """The target given is a guarantee window's aim, which already carries the margin for the orders still
        to come in the window (``sitewide.domain.value_calibration.window_aim``): a bidder with a safety margin
        of its own for the day drops it, so that the margin is not counted twice."""

    def window_judged(self) -> None:  # noqa: B027 - bidders that hold nothing for the day ignore it
        """The campaign's ROI is judged over its guarantee window, not the day (the engine with the window aim on):
        a bidder that holds a day's realised ROI late in the day (the landscape bidders' lock-in) stops doing so,
        since a day's surplus carries over to the window's next days through the aim."""

    def contract_penalty(self, form: str) -> None:
        """The campaign's contract states how a broken ROI cap is charged: ``"hard"`` (the constraint, the default)
        or ``"quadratic"`` (value × min(1, (ROI ÷ R)²), AuctionNet's penalty). A bidder that can solve for the
        objective its contract scores switches to it; the others keep theirs. Every bidder is told the same."""
        if form not in ROI_PENALTIES:
            raise ValidationError(f"unknown ROI penalty {form!r}; expected one of {ROI_PENALTIES}")


class TruthfulBidder(Bidder):
    """``bid = expected GMV ÷ R``: each impression on its own is expected to earn the target ROI."""

    kind = "truthful"

    def multiplier(self, state: CampaignState) -> float:
        return 1.0 / self.target_roi


@dataclass(slots=True)
class RunningTotals:
    """Running totals a bidder keeps from its own outcomes."""

    ticks: int = 0
    spend: int = 0
    gmv: int = 0
    clicks: int = 0
    orders: int = 0
    value_won: float = 0.0

    def add(self, o: TickOutcome) -> None:
        self.ticks += 1
        self.spend += o.spend_micros
        self.gmv += o.gmv_micros
        self.clicks += o.clicks
        self.orders += o.orders
        self.value_won += o.value_won

    def roi_estimate(self, prior_orders: float) -> float | None:
        """Realised ROI shrunk towards the bidder's own expected-value ROI while orders are few."""
        if self.spend <= 0:
            return None
        w = prior_orders / (prior_orders + self.orders)
        return (w * self.value_won + (1.0 - w) * self.gmv) / self.spend


class PidBidder(Bidder):
    """PID on ``e = log(ROI / R)`` (realised, shrunk while orders are few), with a PI pacing cap.

    ``multiplier = (g0 / R) · exp(min(u_roi, u_pace))``: ROI headroom raises the bid, a missed ROI lowers
    it; spending ahead of a linear pace pulls it down.
    """

    kind = "pid"

    def __init__(
        self,
        target_roi: float,
        budget_micros: int,
        *,
        start: float = 1.5,
        kp: float = 0.8,
        ki: float = 0.15,
        kd: float = 0.2,
        pace_kp: float = 3.0,
        pace_ki: float = 0.3,
        prior_orders: float = 30.0,
    ) -> None:
        super().__init__(target_roi, budget_micros)
        self.start, self.kp, self.ki, self.kd = start, kp, ki, kd
        self.pace_kp, self.pace_ki, self.prior_orders = pace_kp, pace_ki, prior_orders
        self._totals = RunningTotals()
        self._integral = 0.0
        self._prev_err = 0.0
        self._deriv = 0.0
        self._pace_integral = 0.0
        self._pace_err = 0.0
        self._last: CampaignState | None = None

    def multiplier(self, state: CampaignState) -> float:
        self._last = state
        err = self._prev_err
        u_roi = self.kp * err + self.ki * self._integral + self.kd * self._deriv
        u_pace = -(self.pace_kp * self._pace_err + self.pace_ki * self._pace_integral)
        u = float(np.clip(min(u_roi, u_pace), -3.0, 3.0))
        return self._clip(self.start / self.target_roi * math.exp(u))

    def observe(self, outcome: TickOutcome) -> None:
        self._totals.add(outcome)
        roi = self._totals.roi_estimate(self.prior_orders)
        if roi is not None:
            err = float(np.clip(math.log(max(roi, 1e-9) / self.target_roi), -2.0, 2.0))
            self._deriv = err - self._prev_err
            self._prev_err = err
            self._integral = float(np.clip(self._integral + err, -10.0, 10.0))
        state = self._last
        if state is not None and self.budget_micros > 0:
            elapsed = 1.0 - state.time_left_frac + (1.0 / max(state.ticks_left, 1)) * state.time_left_frac
            spent_frac = (state.spent_micros + outcome.spend_micros) / self.budget_micros
            self._pace_err = spent_frac - elapsed
            self._pace_integral = float(np.clip(self._pace_integral + max(self._pace_err, -0.2), 0.0, 5.0))


class DualBidder(Bidder):
    """The LP-dual form ``(1 + μ/R) / (λ + μ)`` with online multiplier updates.

    After each tick: ``λ`` grows when the tick spent more than ``remaining budget ÷ ticks left`` and
    shrinks (to 0) when it spent less; ``μ`` grows when the ROI estimate is below ``R`` and shrinks when
    there is ROI headroom. Both steps are scaled by ``λ + μ``, i.e. they move the multiplier by roughly a
    constant factor per tick. Start: ``λ = 0`` and ``μ`` such that the multiplier is ``start / R``.
    """

    kind = "dual"

    def __init__(
        self,
        target_roi: float,
        budget_micros: int,
        *,
        start: float = 1.5,
        eta_budget: float = 0.25,
        eta_roi: float = 0.35,
        prior_orders: float = 30.0,
    ) -> None:
        super().__init__(target_roi, budget_micros)
        if start <= 1.0:
            raise ValidationError("the dual bidder starts above truthful: start must be > 1")
        self._start_duals(start, eta_budget, eta_roi, prior_orders)

    def _start_duals(self, start: float, eta_budget: float, eta_roi: float, prior_orders: float) -> None:
        self.eta_budget, self.eta_roi, self.prior_orders = eta_budget, eta_roi, prior_orders
        self.lam = 0.0
        self.mu = 1.0 / ((start - 1.0) / self.target_roi)
        self._totals = RunningTotals()
        self._last: CampaignState | None = None

    def _dual_multiplier(self) -> float:
        return (1.0 + self.mu / self.target_roi) / max(self.lam + self.mu, 1e-9)

    def multiplier(self, state: CampaignState) -> float:
        self._last = state
        return self._clip(self._dual_multiplier())

    def _roi_aim(self, time_left_frac: float) -> float:
        """The ROI ``μ`` steers to, given the share of the day left after the tick just observed."""
        return self.target_roi

    def observe(self, outcome: TickOutcome) -> None:
        self._totals.add(outcome)
        scale = self.lam + self.mu
        state = self._last
        left = 1.0
        if state is not None and state.ticks_left > 0:
            ideal = state.remaining_micros / state.ticks_left
            pace = outcome.spend_micros / ideal if ideal > 0 else 2.0
            self.lam = max(0.0, self.lam + self.eta_budget * scale * float(np.clip(pace - 1.0, -1.0, 1.0)))
            left = state.time_left_frac * (1.0 - 1.0 / state.ticks_left)
        roi = self._totals.roi_estimate(self.prior_orders)
        if roi is not None:
            aim = self._roi_aim(left)
            err = (roi - aim) / aim
            self.mu = max(0.0, self.mu - self.eta_roi * scale * float(np.clip(err, -1.0, 1.0)))
        if self.lam + self.mu < 1e-6:  # both constraints slack: keep the multiplier finite
            self.mu = 1e-6


def make_baseline_bidder(kind: str, target_roi: float, budget_micros: int) -> Bidder:
    """``truthful`` | ``pid`` | ``dual`` | ``landscape`` | ``landscape_lcb``. The learned policy needs weights: see ``sitewide.models.bidding_policy.BidderFactory``."""
    if kind == "truthful":
        return TruthfulBidder(target_roi, budget_micros)
    if kind == "pid":
        return PidBidder(target_roi, budget_micros)
    if kind == "dual":
        return DualBidder(target_roi, budget_micros)
    if kind == "landscape":
        from sitewide.domain.landscape import LandscapeBidder  # it builds on this module

        return LandscapeBidder(target_roi, budget_micros)
    if kind == "landscape_lcb":
        from sitewide.domain.landscape import EvidenceLandscapeBidder

        return EvidenceLandscapeBidder(target_roi, budget_micros)
    raise ValidationError(f"unknown bidder kind {kind!r}; expected one of {BIDDER_KINDS}")
