from __future__ import annotations

import numpy as np
import pytest

from sitewide.domain.bidding import Bidder, CampaignState, make_baseline_bidder
from sitewide.domain.types import ValidationError
from sitewide.simulator.bidding_env import EnvConfig, calibration, make_campaigns, simulate_day
from sitewide.simulator.oracle import hindsight_oracle, multiplier_curves, rest_of_day_multiplier

SMALL = EnvConfig(impressions_per_day=40_000, ticks=24, substeps=4, campaigns_per_seed=5)


class Reckless(Bidder):
    """Bids far above value all day: only the budget guard stands between it and overspend."""

    kind = "reckless"

    def multiplier(self, state: CampaignState) -> float:
        return 1e3


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_spend_never_exceeds_budget_in_any_simulated_day(seed: int) -> None:
    for spec, tr in make_campaigns(seed, SMALL):
        bidders = [
            make_baseline_bidder(k, spec.target_roi, spec.budget_micros) for k in ("truthful", "pid", "dual")
        ]
        for b in [*bidders, Reckless(spec.target_roi, spec.budget_micros)]:
            r = simulate_day(tr, spec, b, SMALL)
            assert r.total_spend <= spec.budget_micros
            assert r.max_exposure <= spec.budget_micros  # not even the reservation for clicks in flight
            assert (np.cumsum(r.spend) <= spec.budget_micros).all()


def test_reckless_bidder_uses_most_of_a_binding_budget() -> None:
    spec, tr = make_campaigns(3, SMALL)[0]
    r = simulate_day(tr, spec, Reckless(spec.target_roi, spec.budget_micros), SMALL)
    assert r.total_spend >= 0.7 * spec.budget_micros  # capped by the guard, not starved by it


def test_same_seed_same_day_and_different_seeds_differ() -> None:
    a, b, c = make_campaigns(7, SMALL), make_campaigns(7, SMALL), make_campaigns(8, SMALL)
    assert a[0][0] == b[0][0]
    assert np.array_equal(a[0][1].market, b[0][1].market) and np.array_equal(a[0][1].click, b[0][1].click)
    assert not np.array_equal(a[0][1].value_true[:100], c[0][1].value_true[:100])


def test_targets_span_easy_to_hard_and_budgets_bind_or_not() -> None:
    specs = [s for s, _ in make_campaigns(0, EnvConfig(impressions_per_day=20_000, ticks=8))]
    assert min(s.target_roi for s in specs) <= 2.0 and max(s.target_roi for s in specs) >= 6.0
    factors = {s.budget_factor for s in specs}
    assert min(factors) < 1.0 < max(factors)


def test_traffic_rates_follow_the_calibration() -> None:
    cal = calibration()
    _, tr = make_campaigns(0, EnvConfig(impressions_per_day=400_000, ticks=8, campaigns_per_seed=1))[0]
    assert tr.click.mean() == pytest.approx(cal["ctr"], rel=0.1)
    assert tr.order.sum() / tr.click.sum() == pytest.approx(cal["cvr"], rel=0.25)
    assert not (tr.order & ~tr.click).any()  # an order needs a click


def test_value_estimates_are_unbiased_but_noisy() -> None:
    _, tr = make_campaigns(1, EnvConfig(impressions_per_day=200_000, ticks=8, campaigns_per_seed=1))[0]
    assert tr.value_est.sum() / tr.value_true.sum() == pytest.approx(1.0, rel=0.02)
    assert not np.allclose(tr.value_est, tr.value_true)


def test_oracle_worked_example() -> None:
    v = np.array([10.0, 6.0, 4.0, 1.0])
    c = np.array([1.0, 2.0, 2.0, 1.0])  # efficiencies 10, 3, 2, 1
    # ROI 3, no budget: take 10/1 and 6/2 (ROI 16/3), then 4/2 while Σv ≥ 3Σc: x = (16 − 9)/(6 − 4) → 1 (ROI 20/5=4),
    # then 1/1 at efficiency 1: slack 20 − 15 = 5, need 3 − 1 = 2 per unit → x = 1 → 21/6 = 3.5 ≥ 3.
    r = hindsight_oracle(v, c, None, 3.0)
    assert r.gmv == pytest.approx(21.0) and r.spend == pytest.approx(6.0)
    # budget 4 binds first: 10/1 + 6/2 + half of 4/2
    r = hindsight_oracle(v, c, 4.0, 3.0)
    assert r.gmv == pytest.approx(18.0) and r.spend == pytest.approx(4.0)
    # ROI 5 binds: 10/1 + 6/2 = 16/3 (slack 1), 4/2 needs 10 − 4 = 6 per unit → x = 1/6
    r = hindsight_oracle(v, c, None, 5.0)
    assert r.gmv == pytest.approx(16 + 4 / 6) and r.gmv == pytest.approx(5 * r.spend)


def test_oracle_beats_every_feasible_random_fractional_plan() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = 12
        v, c = rng.lognormal(0, 1, n), rng.lognormal(0, 1, n)
        R, budget = float(rng.uniform(0.5, 2.0)), float(c.sum() * rng.uniform(0.1, 1.0))
        best = hindsight_oracle(v, c, budget, R)
        assert best.spend <= budget + 1e-9 and best.gmv >= R * best.spend - 1e-9
        x = rng.random((5000, n)) * (rng.random((5000, n)) < 0.5)
        gmv, spend = x @ v, x @ c
        feasible = (spend <= budget) & (gmv >= R * spend)
        assert gmv[feasible].max(initial=0.0) <= best.gmv + 1e-9


def test_oracle_bounds_every_policy_in_expectation() -> None:
    for spec, tr in make_campaigns(4, SMALL):
        orc = hindsight_oracle(tr.value_true, tr.cost_exp, spec.budget_micros, spec.target_roi)
        for kind in ("truthful", "dual"):
            r = simulate_day(tr, spec, make_baseline_bidder(kind, spec.target_roi, spec.budget_micros), SMALL)
            cost, gmv = r.cost_expected.sum(), r.gmv_expected.sum()
            if cost <= spec.budget_micros and gmv >= spec.target_roi * cost:
                assert gmv <= orc.gmv * (1 + 1e-6)


def test_oracle_rejects_bad_input() -> None:
    with pytest.raises(ValidationError):
        hindsight_oracle([1.0], [1.0, 2.0], None, 1.0)
    with pytest.raises(ValidationError):
        hindsight_oracle([1.0], [-1.0], None, 1.0)
    with pytest.raises(ValidationError):
        hindsight_oracle([1.0], [1.0], None, 0.0)


def test_multiplier_curves_grow_with_the_multiplier_and_match_a_simulated_fixed_bid() -> None:
    spec, tr = make_campaigns(5, SMALL)[1]
    grid = np.array([0.5, 1.0, 2.0]) / spec.target_roi
    S, G, _ = multiplier_curves(tr.offsets, tr.value_est, tr.market, tr.value_true, tr.cost_exp, grid)
    assert (np.diff(S.sum(0)) >= 0).all() and (np.diff(G.sum(0)) >= 0).all()
    m = float(grid[1])

    class Fixed(Bidder):
        def multiplier(self, state: CampaignState) -> float:
            return m

    big = type(spec)(spec.name, spec.target_roi, 10**15, spec.budget_factor, spec.market_level)
    r = simulate_day(tr, big, Fixed(spec.target_roi, big.budget_micros), SMALL)
    assert r.gmv_expected.sum() == pytest.approx(G[:, 1].sum(), rel=1e-4)
    assert rest_of_day_multiplier(S.sum(0), G.sum(0), grid, 0.0, 0.0, 0.0, 1.0) == grid[0]
