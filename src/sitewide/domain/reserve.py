"""The compensation reserve: the expected cost of each open guarantee window, provisioned as it accrues.

Every settlement run sets, for every guarantee window still open, the reserve it holds to the window's
*expected* payout given the figures known so far (:func:`expected_due`) and books the difference; when the
window is judged, its whole provision is released and the compensation is paid as before. In ledger terms
(``platform:compensation`` is the expense account, ``platform:compensation_reserve`` the reserve)::

    provision Δ:   reserve +Δ, compensation −Δ     (expense recognised while the window runs)
    payout D:      merchant ad credit +D, compensation −D
    release P:     compensation +P, reserve −P     (P = what the window held at close)

so a closed window leaves the reserve at zero and the expense at exactly −D; the provision held at close
against D is the measure of how well the platform priced its promise.

What a window held is recomputed, not stored: ``expected_due`` of the figures and elapsed time as of the
previous run (the stored figures) — deterministic, so each run books only the change. A contract version or
target changed while a window is open is provisioned on the new terms from the next run; the difference from
what was booked on the old terms is released (or topped up) with the rest at close.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from sitewide.domain.guarantee import GuaranteeContract, WindowTotals, payout_due

# relative variance of one order's value (quantity × price spread): (1 + cv²) with cv ≈ 0.37, as in
# ``sitewide.simulator.oracle.roi_margin``
ORDER_VALUE_VAR = 1.13
# prior: a window with few orders is expected to land at its target (the bidder aims there), worth this many
# orders of evidence
PRIOR_ORDERS = 10.0
_Z = [i / 4.0 for i in range(-16, 17)]  # quadrature nodes over ±4 s.d.
_W = [math.exp(-0.5 * z * z) for z in _Z]
_WSUM = sum(_W)


@dataclass(frozen=True, slots=True)
class ReserveMove:
    """One booking on the reserve for one window: ``kind`` "provision" (Δ, either sign) or "release"."""

    campaign_id: str
    merchant_id: str
    window: str
    kind: str
    amount_micros: int
    expected_micros: int  # the window's expected payout after this move (0 after a release)
    memo: str


def _poisson_at_least(mean: float, k: int) -> float:
    if k <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    term = math.exp(-mean)
    below = term
    for i in range(1, k):
        term *= mean / i
        below += term
    return max(0.0, 1.0 - below)


def expected_due(
    contract: GuaranteeContract,
    target: Decimal,
    totals: WindowTotals,
    elapsed_days: float,
    window_days: int,
) -> int:
    """Expected payout (micros, floored) of a window ``elapsed_days`` into its ``window_days`` with ``totals``.

    The rest of the window is projected at the rate so far; the final ROI is normal around the ROI so far
    shrunk toward the target by :data:`PRIOR_ORDERS`, with the spread of the orders still to come and of the
    rate's estimate; the minimum-orders gate counts with a Poisson number of orders still to come. A complete
    window (``elapsed_days ≥ window_days``) gives the payout due on its figures."""
    return max(0, int(due_moments(contract, target, totals, elapsed_days, window_days)[0]))


def due_moments(
    contract: GuaranteeContract,
    target: Decimal,
    totals: WindowTotals,
    elapsed_days: float,
    window_days: int,
) -> tuple[float, float]:
    """The mean and variance (micros, micros²) of the window's payout under :func:`expected_due`'s model:
    the spread a forecast of what will be paid carries by itself (a sum over independent windows adds the
    variances). A complete window's payout is known: variance 0."""
    if totals.spend_micros <= 0 or elapsed_days <= 0:
        return 0.0, 0.0
    f = min(1.0, elapsed_days / window_days)
    if f >= 1.0:
        due = payout_due(contract, target, totals.spend_micros, totals.gmv_micros, totals.orders)[1]
        return float(due), 0.0
    t = float(target)
    n = totals.orders
    roi_now = totals.gmv_micros / totals.spend_micros
    roi = (n * roi_now + PRIOR_ORDERS * t) / (n + PRIOR_ORDERS)
    n_final = max(n / f, 1.0)
    spend_final = totals.spend_micros / f
    sd = roi * math.sqrt(ORDER_VALUE_VAR * (1.0 - f) / n_final + ORDER_VALUE_VAR / (n + PRIOR_ORDERS))
    p_orders = _poisson_at_least(n_final - n, contract.min_orders - n)
    if p_orders <= 0.0:
        return 0.0, 0.0
    trig = float(contract.trigger_roi_factor) * t
    cap = spend_final * float(contract.cap_ratio_of_spend)
    if contract.cap_micros is not None:
        cap = min(cap, float(contract.cap_micros))
    acc = acc2 = 0.0
    for z, w in zip(_Z, _W, strict=True):
        r = max(0.0, roi + sd * z)
        if r < trig:
            pay = min(cap, spend_final * (1.0 - r / t))
            acc += w * pay
            acc2 += w * pay * pay
    mean = p_orders * acc / _WSUM  # the gate is met (p) and then the ROI decides
    return mean, max(0.0, p_orders * acc2 / _WSUM - mean * mean)


def provision_move(
    campaign_id: str,
    merchant_id: str,
    window: str,
    before: int,
    after: int,
    note: str,
) -> ReserveMove | None:
    """The provision change of one open window from ``before`` to ``after`` expected micros (None if none)."""
    if after == before:
        return None
    return ReserveMove(
        campaign_id,
        merchant_id,
        window,
        "provision",
        after - before,
        after,
        f"reserve provision campaign {campaign_id} window {window}: expected compensation {after} "
        f"(held before {before}); {note}",
    )


def release_move(campaign_id: str, merchant_id: str, window: str, held: int, due: int) -> ReserveMove | None:
    """Release what a window held when it is judged (the compensation itself is booked as a payout)."""
    if held == 0:
        return None
    return ReserveMove(
        campaign_id,
        merchant_id,
        window,
        "release",
        held,
        0,
        f"reserve release campaign {campaign_id} window {window}: held {held} against {due} due "
        f"({min(held, due)} covers compensation, {max(0, held - due)} released)",
    )


@dataclass(frozen=True, slots=True)
class OpenWindow:
    """A guarantee window that was open at the previous run: its figures then and now."""

    campaign_id: str
    merchant_id: str
    window: str
    contract: GuaranteeContract
    target: Decimal
    window_days: int
    before: WindowTotals  # as booked by the previous run
    elapsed_before: float  # days of the window elapsed at the previous run's as-of time
    now: WindowTotals
    elapsed_now: float
    judged_now: bool  # the window matures in this run: release what it held
    due_micros: int = 0  # the payout judged (when ``judged_now``)
    target_before: Decimal | None = None  # the window's target as the previous run saw it (default: target)


def plan_reserve(windows: list[OpenWindow]) -> list[ReserveMove]:
    """The reserve bookings of one run: provision changes of the windows still open, releases of those judged."""
    out: list[ReserveMove] = []
    for w in sorted(windows, key=lambda x: (x.campaign_id, x.window)):
        before = w.target if w.target_before is None else w.target_before
        held = expected_due(w.contract, before, w.before, w.elapsed_before, w.window_days)
        if w.judged_now:
            m = release_move(w.campaign_id, w.merchant_id, w.window, held, w.due_micros)
        else:
            after = expected_due(w.contract, w.target, w.now, w.elapsed_now, w.window_days)
            m = provision_move(
                w.campaign_id,
                w.merchant_id,
                w.window,
                held,
                after,
                f"{w.now.orders} orders, spend {w.now.spend_micros}, GMV {w.now.gmv_micros} after "
                f"{w.elapsed_now:.2f} of {w.window_days} days",
            )
        if m is not None:
            out.append(m)
    return out
