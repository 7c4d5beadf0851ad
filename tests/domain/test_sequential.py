"""Always-valid tests, the delta method and CUPED, checked by simulation."""

from __future__ import annotations

import math

import numpy as np

from sitewide.domain.sequential import (
    ArmSums,
    Metric,
    compare,
    cuped_theta,
    fixed_halfwidth,
    msprt_log_lambda,
    msprt_tau2,
    ratio_estimate,
    verdict,
)


def _ticks(
    rng: np.random.Generator, n_exp: int, ticks: int, per_tick: int, lift: float
) -> tuple[ArmSums, ...]:
    """Per-user (impressions, clicks) with heterogeneous CTR, summed per experiment × tick."""
    out = []
    for arm in (0, 1):
        imp = rng.poisson(20, size=(n_exp, ticks, per_tick)).astype(float)
        ctr = np.clip(0.05 * rng.lognormal(-0.1, 0.45, size=imp.shape) * (1 + lift * arm), 0, 1)
        clk = rng.binomial(imp.astype(int), ctr).astype(float)
        out.append(ArmSums.of(clk, imp, axis=2).cumulative(axis=1))
    return out[0], out[1]


def _rejections(a: ArmSums, b: ArmSums, alpha: float, n_star: float) -> tuple[np.ndarray, np.ndarray]:
    ea, eb = ratio_estimate(a), ratio_estimate(b)
    d, v = eb.value - ea.value, ea.var + eb.var
    tau2 = msprt_tau2(ea.var * ea.n + eb.var * eb.n, alpha, n_star)
    msprt = msprt_log_lambda(d, v, tau2) >= math.log(1 / alpha)
    fixed = np.abs(d) > fixed_halfwidth(v, alpha)
    return msprt.any(axis=1), fixed.any(axis=1)


def test_msprt_keeps_its_error_under_continuous_peeking_where_the_fixed_test_does_not() -> None:
    a, b = _ticks(np.random.default_rng(1), 600, 30, 100, lift=0.0)
    msprt, fixed = _rejections(a, b, 0.05, 3000)
    assert msprt.mean() <= 0.05
    assert fixed.mean() >= 0.12  # peeking the fixed-horizon test 30 times inflates it well past 5 %


def test_msprt_detects_a_real_lift() -> None:
    a, b = _ticks(np.random.default_rng(2), 200, 30, 100, lift=0.15)
    msprt, _ = _rejections(a, b, 0.05, 3000)
    assert msprt.mean() >= 0.9


def test_delta_method_variance_matches_the_spread_across_replications() -> None:
    rng = np.random.default_rng(3)
    imp = rng.poisson(15, size=(4000, 500)).astype(float) + 1
    clk = rng.binomial(imp.astype(int), np.clip(0.04 * rng.lognormal(0, 0.5, size=imp.shape), 0, 1)).astype(
        float
    )
    est = ratio_estimate(ArmSums.of(clk, imp, axis=1))
    assert abs(float(np.mean(est.var)) / float(np.var(est.value)) - 1) < 0.1


def test_cuped_cuts_variance_and_keeps_the_estimate_unbiased() -> None:
    rng = np.random.default_rng(4)
    n_exp, n = 2000, 400
    level = rng.lognormal(0, 0.8, size=(n_exp, 2, n))  # a user's persistent level
    pre = level + rng.normal(0, 0.3, size=level.shape)
    y = level + rng.normal(0, 0.3, size=level.shape) + np.array([0.0, 0.1])[None, :, None]
    a = ArmSums.of(y[:, 0], z=pre[:, 0], axis=1)
    b = ArmSums.of(y[:, 1], z=pre[:, 1], axis=1)
    theta = cuped_theta(a, b)
    zp = (a.sz + b.sz) / (a.n + b.n)
    raw = ratio_estimate(b).value - ratio_estimate(a).value
    adj = ratio_estimate(b, theta, zp).value - ratio_estimate(a, theta, zp).value
    assert np.var(adj) < 0.3 * np.var(raw)
    assert abs(float(np.mean(adj)) - 0.1) < 3 * float(np.std(adj)) / math.sqrt(n_exp)
    c = compare(
        ArmSums(*(float(f[0]) for f in a._fields())), ArmSums(*(float(f[0]) for f in b._fields())), Metric.CTR,
        cuped=True,
    )  # fmt: skip
    assert c.variance_reduction > 0.5


def test_verdict_says_what_to_do() -> None:
    rng = np.random.default_rng(5)
    imp = rng.poisson(20, size=(2, 20_000)).astype(float)
    clk = rng.binomial(imp.astype(int), np.array([[0.05], [0.06]])).astype(float)
    a, b = ArmSums.of(clk[0], imp[0], axis=0), ArmSums.of(clk[1], imp[1], axis=0)
    c = compare(a, b, Metric.CTR, n_star=20_000)
    assert c.significant and 0.15 < c.lift < 0.25
    assert verdict(c).startswith("B lifts CTR by ") and verdict(c).endswith(": stop, keep B")
    back = compare(b, a, Metric.CTR, n_star=20_000)
    assert verdict(back, "A", "B").endswith("keep A")
    same = compare(a, a, Metric.CTR, n_star=20_000)
    assert not same.significant and "keep running" in verdict(same)
    assert verdict(c, running=False).startswith("B lifts CTR by ") and "keep" not in verdict(c, running=False)
    empty = compare(ArmSums.of(np.zeros(0)), ArmSums.of(np.zeros(0)), Metric.CTR)
    assert verdict(empty) == "B vs A: no CTR data yet: keep running"


def test_no_verdict_before_enough_users_however_large_the_difference() -> None:
    imp = np.full(30, 10.0)
    a = ArmSums.of(np.zeros(30), imp, axis=0)
    b = ArmSums.of(np.full(30, 5.0), imp, axis=0)
    assert not compare(a, b, Metric.CTR).significant  # 30 users per arm: too few to trust the variance
    assert compare(a, b, Metric.CTR, min_users=20).significant
