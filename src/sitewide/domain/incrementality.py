"""Incrementality from ghost-bid holdouts: what a campaign's ads added over what its products would have sold
anyway.

Design (ghost ads): for each (request, campaign) a seeded uniform draw ``u`` decides the arm *before* anyone
knows the outcome: with ``u < share`` the campaign is held out of that request. Where a held-out campaign's ad
would have won a slot, the ad is withheld (the auction is run again without the campaign's bids: its products
compete organically, the next item serves) and the request is logged as a *ghost win*, never billed. Where the
ad won and was not held out, the request is an *exposed win*. The two sets are exchangeable (the draw is
independent of everything else), so the mean outcome of ghost wins estimates what the exposed requests would
have produced without the ad.

Outcome ``y`` of a logged request: the GMV (micros) of the campaign's products bought from that request, in any
slot, promoted or organic. With ``n_t`` exposed wins (mean ``ȳ_t``, variance ``s_t²``) and ``n_c`` ghost wins:

* incremental GMV = ``n_t · (ȳ_t − ȳ_c)``, interval ``± z · n_t · sqrt(v_t/n_t + v_c/n_c)`` (Welch, normal).
  Purchases are rare, so an arm often has none or one, and its sample variance says nothing (zero). Each arm's
  ``v`` is therefore at least the variance of a purchase-or-not outcome at the Agresti–Caffo rate
  ``(k + 1)/(n + 2)`` (``k`` purchases in ``n`` wins) with the order values seen in either arm (or
  ``order_value_micros`` when none were): ``v = max(s², p̃·E[V²] − p̃²·E[V]²)``;
* incremental ROI = incremental GMV ÷ spend (the spend is known, so the interval scales);
* organic cannibalisation = ``ȳ_c / ȳ_t``: the share of the exposed GMV the products would have sold anyway
  (interval by the delta method on the log ratio, clipped at 0);
* holdout cost = the ad revenue the ghost wins would have brought (their GSP price per click × pCTR).

Everything is pure; the engine gathers the logs (``sitewide.engine.holdout``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sitewide.domain.types import Estimate, FloatArray, ValidationError

__all__ = [
    "HoldoutEntry",
    "Incrementality",
    "estimate",
    "precise_enough",
    "holdout_uniform",
    "key64",
]

_MASK = (1 << 64) - 1


def key64(text: str) -> int:
    """A stable 64-bit key of a string (BLAKE2b; the same on every machine and run, unlike ``hash``)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on uint64 arrays (wrapping arithmetic)."""
    x = x.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


def holdout_uniform(seed: int, campaign_keys: Sequence[int], request_keys: Sequence[int]) -> FloatArray:
    """``[len(request_keys), len(campaign_keys)]`` uniforms in [0, 1), one per (request, campaign), a pure
    function of (seed, campaign key, request key): the same request meets the same draw however it is
    batched, and campaigns' draws are independent of each other."""
    c = np.asarray([k & _MASK for k in campaign_keys], dtype=np.uint64)
    r = np.asarray([k & _MASK for k in request_keys], dtype=np.uint64)
    s = np.uint64(seed & _MASK)
    with np.errstate(over="ignore"):
        x = _mix(_mix(r[:, None] ^ s) + c[None, :] * np.uint64(0x9E3779B97F4A7C15))
    out: FloatArray = (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    return out


@dataclass(frozen=True, slots=True)
class HoldoutEntry:
    """One logged would-win: the campaign's ad won a slot of ``request_id`` (exposed) or would have (ghost);
    ``expected_cost_micros``: price per click × pCTR over the campaign's won slots (the ad revenue at stake)."""

    request_id: str
    campaign_id: str
    ghost: bool
    ts_ms: int
    expected_cost_micros: int


@dataclass(frozen=True, slots=True)
class Incrementality:
    """One campaign's holdout estimate over a period. Money in integer micros; ``None`` = not estimable yet
    (no ghost or no exposed win, or nothing sold among the exposed for the ratio); the intervals at ``level``."""

    campaign_id: str
    holdout_share: float
    level: float  # confidence level of the intervals
    exposed_wins: int
    ghost_wins: int
    exposed_gmv_micros: int  # the campaign's products' GMV from the exposed wins
    ghost_gmv_micros: int  # … from the ghost wins (organic: the ad was withheld)
    incremental_gmv_micros: Estimate[int] | None
    spend_micros: int
    incremental_roi: Estimate[float] | None
    # share of the exposed GMV that would have come organically (no upper bound while no ghost win sold)
    cannibalisation: Estimate[float] | None
    holdout_cost_micros: int  # expected ad revenue given up on the ghost wins


def _z(level: float) -> float:
    if not 0.5 <= level < 1.0:
        raise ValidationError(f"level must lie in [0.5, 1), got {level}")
    from statistics import NormalDist

    return float(NormalDist().inv_cdf(0.5 + level / 2.0))


def estimate(
    campaign_id: str,
    exposed_gmv: Sequence[int],
    ghost_gmv: Sequence[int],
    spend_micros: int,
    *,
    holdout_share: float,
    holdout_cost_micros: int = 0,
    level: float = 0.95,
    order_value_micros: float = 0.0,
) -> Incrementality:
    """The estimate from per-request outcomes (GMV micros of the campaign's products) of the exposed and ghost
    wins. See the module docstring for the formulas."""
    z = _z(level)
    if spend_micros < 0:
        raise ValidationError("spend_micros must be >= 0")
    yt = np.asarray(exposed_gmv, dtype=np.float64)
    yc = np.asarray(ghost_gmv, dtype=np.float64)
    if (yt < 0).any() or (yc < 0).any():
        raise ValidationError("outcomes must be >= 0 micros")
    nt, nc = len(yt), len(yc)
    inc: Estimate[int] | None = None
    roi: Estimate[float] | None = None
    cann: Estimate[float] | None = None
    if nt >= 2 and nc >= 2:
        mt, mc = float(yt.mean()), float(yc.mean())
        seen = np.concatenate([yt[yt > 0], yc[yc > 0]])
        ev, ev2 = (
            (float(seen.mean()), float((seen**2).mean()))
            if len(seen)
            else (order_value_micros, order_value_micros**2)
        )

        def floor_var(y: FloatArray) -> float:
            p = (float((y > 0).sum()) + 1.0) / (len(y) + 2.0)
            return max(float(y.var(ddof=1)), p * ev2 - p * p * ev * ev)

        se = math.sqrt(floor_var(yt) / nt + floor_var(yc) / nc)
        point = nt * (mt - mc)
        half = z * nt * se
        inc = Estimate(round(point), round(point - half), round(point + half))
        if spend_micros > 0:
            roi = Estimate(point / spend_micros, (point - half) / spend_micros, (point + half) / spend_micros)
        if mt > 0:
            share = mc / mt
            if mc > 0:
                v = float(yt.var(ddof=1)) / (nt * mt * mt) + float(yc.var(ddof=1)) / (nc * mc * mc)
                w = z * math.sqrt(v)
                cann = Estimate(share, share * math.exp(-w), share * math.exp(w))
            else:  # nothing sold among the ghosts yet: bounded below by 0, no upper bound yet
                cann = Estimate(share, 0.0, None)
    return Incrementality(
        campaign_id=campaign_id,
        holdout_share=float(holdout_share),
        level=float(level),
        exposed_wins=nt,
        ghost_wins=nc,
        exposed_gmv_micros=int(yt.sum()),
        ghost_gmv_micros=int(yc.sum()),
        incremental_gmv_micros=inc,
        spend_micros=int(spend_micros),
        incremental_roi=roi,
        cannibalisation=cann,
        holdout_cost_micros=int(holdout_cost_micros),
    )


def precise_enough(inc: Incrementality, max_half_width: float = 0.5) -> bool:
    """Whether the estimate says something a merchant can act on: both groups have wins, the spend is known, and
    the incremental GMV interval's half-width is at most ``max_half_width`` × the exposed wins' GMV (wider, and
    the interval spans both "the ads added nothing" and "the ads added most of what sold")."""
    gmv = inc.incremental_gmv_micros
    if gmv is None or gmv.high is None or inc.incremental_roi is None or inc.exposed_gmv_micros <= 0:
        return False
    return (gmv.high - gmv.low) / 2.0 <= max_half_width * inc.exposed_gmv_micros
