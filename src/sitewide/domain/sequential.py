"""Statistics for merchant experiments: always-valid (sequential) tests, ratio metrics, CUPED.

Every metric is a **ratio of per-user sums**, because users — not impressions — are what is randomised:
CTR = Σ clicks / Σ impressions, CVR = Σ orders / Σ clicks, GMV per impression = Σ GMV / Σ impressions,
ROI = Σ GMV / Σ spend. A plain mean (orders per user) is the ratio with denominator 1. The variance of a
ratio comes from the delta method (Deng, Knoblich & Lu, "Applying the Delta Method in Metric Analytics",
KDD 2018): with ``R = ȳ / x̄``, ``Var(R) ≈ (S_yy − 2R S_xy + R² S_xx) / (n x̄²)``.

**CUPED** (Deng et al., WSDM 2013) subtracts ``θ (z̄ − z̄_pooled)`` where ``z`` is the user's value before the
experiment and ``θ = Cov(l, z) / Var(z)``, ``l`` the ratio's linearisation; the variance falls by the
share of it that the pre-period explains (``1 − ρ²``), the estimate stays unbiased because ``z`` is fixed
before assignment.

**Always valid**: the mixture sequential probability ratio test (mSPRT; Johari, Pekelis & Walsh, "Always
Valid Inference", 2017 — what Optimizely ships) with a normal mixture ``θ ~ N(0, τ²)`` over the difference
``d = R_B − R_A`` with variance ``V``:

    Λ = sqrt(V / (V + τ²)) · exp(d² τ² / (2 V (V + τ²)))

Rejecting when ``Λ ≥ 1/α`` keeps the false-positive rate ≤ α however often one looks (Λ is a martingale under
the null, Ville's inequality). Inverting it gives a confidence *sequence* — an interval valid at every look
at once: ``d ± sqrt(V (V + τ²)/τ² · (2 log(1/α) + log((V + τ²)/V)))``. ``τ`` is set in units of the metric's
per-user standard deviation so that the interval is tightest near a planned sample size ``n*`` (the
choice of Howard et al. 2021 / Waudby-Smith et al. 2023: ``ρ² = (2 log(1/α) + log(2 log(1/α) + 1)) / n*``).

The **fixed-horizon** z-test is here for comparison: valid only when looked at once, at a sample size fixed
in advance. Looking at it every tick and stopping at the first "significant" result is the classic way to
turn a 5 % test into a 25 % one (``bench/experiments.py`` measures exactly that).

Every function works on floats or on numpy arrays of any shape (many experiments × many ticks at once).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from statistics import NormalDist
from typing import Any

import numpy as np

from sitewide.domain.types import FloatArray

# No verdict before this many users per arm: the plug-in variances of a handful of users can be far too small
# (bench/experiments.py looks from here on, and keeps the A/A error under α)
MIN_USERS = 100
Num = Any  # float or numpy array (broadcasting); kept loose on purpose, see the module docstring


class Metric(StrEnum):
    CTR = "ctr"  # clicks / impressions
    CVR = "cvr"  # orders / clicks
    GMV_PER_IMPRESSION = "gmv_per_impression"  # GMV / impressions
    ROI = "roi"  # GMV / spend


METRIC_LABEL = {
    Metric.CTR: "CTR",
    Metric.CVR: "CVR",
    Metric.GMV_PER_IMPRESSION: "GMV per impression",
    Metric.ROI: "ROI",
}


@dataclass(frozen=True, slots=True)
class ArmSums:
    """Sufficient statistics of one arm for a ratio metric ``y / x`` with pre-period covariate ``z``:
    the number of users and the sums of the per-user values, squares and cross-products. Additive: the sums
    of two periods are the field-wise sums. Fields may be numpy arrays (many experiments / ticks)."""

    n: Num
    sy: Num
    sx: Num
    syy: Num
    sxx: Num
    sxy: Num
    sz: Num = 0.0
    szz: Num = 0.0
    syz: Num = 0.0
    sxz: Num = 0.0

    @classmethod
    def of(cls, y: FloatArray, x: FloatArray | None = None, z: FloatArray | None = None, axis: int = -1) -> ArmSums:
        """The sums over ``axis`` of per-user values (``x`` = 1 for a plain mean, ``z`` = 0 without CUPED)."""
        x = np.ones_like(y) if x is None else x
        z = np.zeros_like(y) if z is None else z
        return cls(
            n=np.sum(np.ones_like(y), axis=axis),
            sy=np.sum(y, axis=axis),
            sx=np.sum(x, axis=axis),
            syy=np.sum(y * y, axis=axis),
            sxx=np.sum(x * x, axis=axis),
            sxy=np.sum(x * y, axis=axis),
            sz=np.sum(z, axis=axis),
            szz=np.sum(z * z, axis=axis),
            syz=np.sum(y * z, axis=axis),
            sxz=np.sum(x * z, axis=axis),
        )

    def cumulative(self, axis: int = -1) -> ArmSums:
        """Running totals along ``axis`` (per-tick sums → what is known at each tick)."""
        return ArmSums(*(np.cumsum(np.asarray(v, dtype=np.float64), axis=axis) for v in self._fields()))

    def _fields(self) -> tuple[Num, ...]:
        return (
            self.n, self.sy, self.sx, self.syy, self.sxx, self.sxy, self.sz, self.szz, self.syz, self.sxz
        )  # fmt: skip

    def __add__(self, other: ArmSums) -> ArmSums:
        return ArmSums(*(a + b for a, b in zip(self._fields(), other._fields(), strict=True)))


@dataclass(frozen=True, slots=True)
class RatioEstimate:
    """``value`` = R (CUPED-adjusted when asked), ``var`` its variance, ``n`` users, ``raw_var`` without
    CUPED (for the variance reduction)."""

    value: Num
    var: Num
    n: Num
    raw_var: Num


def _safe(v: Num) -> Num:
    return np.maximum(v, 1e-300)


def ratio_estimate(s: ArmSums, theta: Num = 0.0, z_pooled: Num = 0.0) -> RatioEstimate:
    """The ratio ``Σy / Σx`` with its delta-method variance; with ``theta`` ≠ 0 the CUPED adjustment
    ``R − θ (z̄ − z_pooled)`` and its smaller variance."""
    n = _safe(np.asarray(s.n, dtype=np.float64))
    xb, yb, zb = s.sx / n, s.sy / n, s.sz / n
    r = np.where(xb == 0, 0.0, yb / np.where(xb == 0, 1.0, xb))  # no denominator yet: 0, not inf
    cyy = s.syy / n - yb * yb
    cxx = s.sxx / n - xb * xb
    cxy = s.sxy / n - xb * yb
    czz = s.szz / n - zb * zb
    cyz = s.syz / n - yb * zb
    cxz = s.sxz / n - xb * zb
    x2 = _safe(xb * xb)
    var_l = np.maximum(cyy - 2 * r * cxy + r * r * cxx, 0.0) / x2  # per-user variance of the linearisation
    cov_lz = (cyz - r * cxz) / _safe(np.abs(xb))
    adj = np.maximum(var_l - 2 * theta * cov_lz + theta * theta * czz, 0.0)
    return RatioEstimate(value=r - theta * (zb - z_pooled), var=adj / n, n=n, raw_var=var_l / n)


def cuped_theta(a: ArmSums, b: ArmSums) -> Num:
    """θ = Cov(l, z) / Var(z) over both arms pooled (one θ for both keeps the difference unbiased)."""
    p = a + b
    n = _safe(np.asarray(p.n, dtype=np.float64))
    xb, yb, zb = p.sx / n, p.sy / n, p.sz / n
    r = yb / _safe(np.abs(xb))
    czz = p.szz / n - zb * zb
    cov_lz = ((p.syz / n - yb * zb) - r * (p.sxz / n - xb * zb)) / _safe(np.abs(xb))
    return np.where(czz > 1e-12, cov_lz / _safe(czz), 0.0)


def msprt_tau2(var_per_user: Num, alpha: float, n_star: float) -> Num:
    """The mixture variance τ² that makes the confidence sequence tightest near ``n_star`` users per arm,
    for a per-user variance of the difference ``var_per_user`` (= σ²_A + σ²_B for equal arms)."""
    la = 2 * math.log(1 / alpha)
    rho2 = (la + math.log(la + 1)) / n_star
    return rho2 * var_per_user


def msprt_log_lambda(d: Num, v: Num, tau2: Num) -> Num:
    """log Λ of the normal-mixture SPRT for an observed difference ``d`` with variance ``v``."""
    v = _safe(v)
    tau2 = _safe(tau2)
    return 0.5 * np.log(v / (v + tau2)) + d * d / (2 * v) * (tau2 / (v + tau2))


def msprt_halfwidth(v: Num, tau2: Num, alpha: float) -> Num:
    """Half-width of the always-valid confidence sequence on ``d`` at level 1 − α."""
    v = _safe(v)
    tau2 = _safe(tau2)
    return np.sqrt(v * (v + tau2) / tau2 * (2 * math.log(1 / alpha) + np.log((v + tau2) / v)))


def fixed_halfwidth(v: Num, alpha: float) -> Num:
    """Half-width of the fixed-horizon (one look) two-sided z interval."""
    return NormalDist().inv_cdf(1 - alpha / 2) * np.sqrt(np.maximum(v, 0.0))


@dataclass(frozen=True, slots=True)
class Comparison:
    """Treatment vs control on one metric at one look."""

    metric: Metric
    control: float
    treatment: float
    diff: float  # treatment − control
    lift: float  # diff / control (relative)
    halfwidth: float  # always-valid, on diff
    fixed_halfwidth: float  # fixed-horizon, on diff (only valid at a planned single look)
    significant: bool  # always-valid: Λ ≥ 1/α
    users_control: int
    users_treatment: int
    variance_reduction: float  # CUPED: 1 − Var(adjusted) / Var(raw), 0 without

    @property
    def lift_halfwidth(self) -> float:
        return self.halfwidth / abs(self.control) if self.control else math.inf


def compare(
    control: ArmSums,
    treatment: ArmSums,
    metric: Metric,
    alpha: float = 0.05,
    n_star: float = 10_000.0,
    cuped: bool = False,
    min_users: int = MIN_USERS,
) -> Comparison:
    """Treatment − control on ``metric`` with the always-valid interval (and the fixed-horizon one)."""
    theta = cuped_theta(control, treatment) if cuped else 0.0
    z_pool = (control.sz + treatment.sz) / _safe(control.n + treatment.n)
    a = ratio_estimate(control, theta, z_pool)
    b = ratio_estimate(treatment, theta, z_pool)
    d = b.value - a.value
    v = a.var + b.var
    per_user = a.var * a.n + b.var * b.n  # σ²_A + σ²_B
    tau2 = msprt_tau2(per_user, alpha, n_star)
    hw = msprt_halfwidth(v, tau2, alpha)
    raw = a.raw_var + b.raw_var
    some = min(float(control.n), float(treatment.n)) >= 2
    enough = some and min(float(control.n), float(treatment.n)) >= min_users
    return Comparison(
        metric=metric,
        control=float(a.value),
        treatment=float(b.value),
        diff=float(d),
        lift=float(d / a.value) if a.value else math.inf,
        halfwidth=float(hw) if some else math.inf,
        fixed_halfwidth=float(fixed_halfwidth(v, alpha)) if some else math.inf,
        significant=bool(enough and msprt_log_lambda(d, v, tau2) >= math.log(1 / alpha)),
        users_control=int(control.n),
        users_treatment=int(treatment.n),
        variance_reduction=float(1 - v / raw) if cuped and raw > 0 else 0.0,
    )


def verdict(c: Comparison, control_name: str = "A", treatment_name: str = "B", running: bool = True) -> str:
    """A plain sentence: ``B lifts CTR by 4.1 % ± 1.2 %: stop, keep B``; without the advice (what to do)
    for a test that is no longer running."""
    label = METRIC_LABEL[c.metric]
    if not math.isfinite(c.lift):
        text = f"{treatment_name} vs {control_name}: no {label} data yet"
        return f"{text}: keep running" if running else text
    pct = 100 * c.lift
    hw = 100 * c.lift_halfwidth
    band = f"{abs(pct):.1f} % ± {hw:.1f} %" if math.isfinite(hw) else f"{abs(pct):.1f} %"
    if not c.significant:
        sign = "+" if pct >= 0 else "−"
        text = f"{treatment_name} vs {control_name}: {label} {sign}{band}, not conclusive"
        return f"{text} yet: keep running" if running else text
    keep = treatment_name if c.diff > 0 else control_name
    text = f"{treatment_name} {'lifts' if c.diff > 0 else 'lowers'} {label} by {band}"
    return f"{text}: stop, keep {keep}" if running else text


__all__ = [
    "METRIC_LABEL",
    "MIN_USERS",
    "ArmSums",
    "Comparison",
    "Metric",
    "RatioEstimate",
    "compare",
    "cuped_theta",
    "fixed_halfwidth",
    "msprt_halfwidth",
    "msprt_log_lambda",
    "msprt_tau2",
    "ratio_estimate",
    "verdict",
]
