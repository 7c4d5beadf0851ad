from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from sitewide.domain.bidding import CampaignState, TickOutcome, make_baseline_bidder
from sitewide.domain.landscape import EvidenceLandscapeBidder, LandscapeBidder, _phi, _probit
from sitewide.domain.policy_bidder import MlpWeights, PolicyBidder
from sitewide.domain.types import ValidationError

T = 48


def second_price_day(
    bidder: LandscapeBidder,
    R: float,
    budget: int,
    *,
    level: float,
    seed: int = 0,
    burst_tick: int = -1,
    orders: bool = True,
) -> tuple[float, float, float, list[int]]:
    """A tiny second-price market the bidder never sees: competing bid = level × value × lognormal(0.5).
    Returns (value won, spend, multiplier × R at the end, spend per tick)."""
    rng = np.random.default_rng(seed)
    spent = 0
    gmv = 0
    won_v = 0.0
    per_tick = []
    m = 0.0
    for t in range(T):
        n = 2_000 if t != burst_tick else 60_000
        v = rng.lognormal(0.0, 0.6, n) * 1e4
        market = v * (level if t != burst_tick else level / 2) * rng.lognormal(0.0, 0.5, n)
        state = CampaignState(budget, spent, 0, gmv, R, (T - t) / T, T - t)
        m = bidder.multiplier(state)
        cap = min(budget, spent + bidder.tick_cap(state))
        win = v * m > market
        cost = np.where(win, market, 0.0)
        ok = win & (spent + np.cumsum(cost) <= cap)
        sp = int(cost[ok].sum())
        val = float(v[ok].sum())
        spent += sp
        real = int(val) if orders else 0  # realised = expected here (no order noise), or no orders at all
        gmv += real
        won_v += val
        per_tick.append(sp)
        bidder.observe(TickOutcome(int(ok.sum()), 0, 1000 if orders else 0, sp, real, val, n, float(v.sum())))
    return won_v, float(spent), m * R, per_tick


def test_bids_well_above_value_over_target_under_second_price_when_roi_allows() -> None:
    R = 4.0
    b = LandscapeBidder(R, 10**15)  # budget never binds: ROI is the constraint
    value, spend, m_r, _ = second_price_day(b, R, 10**15, level=0.15)
    assert m_r > 1.5  # truthful would be 1.0: second price pays the competing bid, not the bid
    assert value / spend >= 0.95 * R  # …and still meets the target on its own values


def test_with_no_orders_at_all_it_bids_on_expected_value_instead_of_collapsing() -> None:
    # a campaign at calibrated marketplace rates may see no order all day: realised ROI is 0 by noise,
    # not by a broken estimator, so the bidder keeps steering on expected value (with its margin)
    R = 4.0
    b = LandscapeBidder(R, 10**15)
    value, spend, m_r, _ = second_price_day(b, R, 10**15, level=0.15, orders=False)
    assert b.calibration()[0] == 1.0
    assert m_r > 1.2 and value / spend >= R


def test_spends_the_budget_when_budget_binds_and_keeps_roi() -> None:
    R = 2.0
    budget = 6 * 10**7  # about half of what winning everything would cost
    b = LandscapeBidder(R, budget)
    value, spend, _, _ = second_price_day(b, R, budget, level=0.1)
    assert spend >= 0.85 * budget and spend <= budget
    assert value / spend >= R


def test_a_cheap_burst_cannot_drain_the_budget_within_one_tick() -> None:
    R = 2.0
    budget = 6 * 10**7
    b = LandscapeBidder(R, budget)
    _, _, _, per_tick = second_price_day(b, R, budget, level=0.1, burst_tick=10)
    remaining_at_burst = budget - sum(per_tick[:10])
    assert per_tick[10] <= b.burst * max(remaining_at_burst / (T - 10), 1) * 3
    assert per_tick[10] < 0.5 * remaining_at_burst


def test_tick_cap_is_a_multiple_of_the_even_pace_by_default() -> None:
    b = LandscapeBidder(3.0, 48_000_000)
    s = CampaignState(48_000_000, 0, 0, 0, 3.0, 1.0, 48)
    assert b.tick_cap(s) == int(b.burst * 1_000_000)
    assert make_baseline_bidder("dual", 3.0, 48_000_000).tick_cap(s) == 48_000_000  # no guard


def test_calibration_leans_on_expected_value_with_few_orders_and_follows_many() -> None:
    few = LandscapeBidder(3.0, 10**9)
    few.observe(TickOutcome(100, 10, 3, 1_000_000, 1_000_000, 3_000_000.0, 1000, 9e6))
    kappa, _ = few.calibration()
    assert kappa > 0.9  # three orders at a third of the expected GMV: mostly noise
    many = LandscapeBidder(3.0, 10**9)
    many.observe(TickOutcome(100, 10, 5_000, 1_000_000, 2_400_000, 3_000_000.0, 1000, 9e6))
    kappa, _ = many.calibration()
    assert 0.8 <= kappa < 0.82  # 5,000 orders at 0.8 × expected: a real bias


def test_multiplier_is_idempotent_within_a_tick() -> None:
    b = LandscapeBidder(2.0, 10**9)
    s = CampaignState(10**9, 0, 0, 0, 2.0, 1.0, 48)
    assert b.multiplier(s) == b.multiplier(s)


@pytest.mark.parametrize("target", [0.1, 80.0])
def test_targets_outside_the_supported_range_are_refused(target: float) -> None:
    with pytest.raises(ValidationError):
        LandscapeBidder(target, 10**9)


def test_probit_and_phi_are_inverse() -> None:
    p = np.linspace(0.001, 0.999, 50)
    assert np.allclose(_phi(np.array([_probit(float(x)) for x in p])), p, atol=1e-6)
    assert math.isclose(_probit(0.5), 0.0, abs_tol=1e-9)


def test_learned_policy_outside_its_training_range_says_so_and_uses_the_stated_rule(
    caplog: pytest.LogCaptureFixture,
) -> None:
    w = MlpWeights(
        np.zeros(16), np.ones(16), ((np.zeros((1, 16)), np.array([math.log(0.6)])),)
    )  # plans 0.6 / R: below what the controller can open at
    with caplog.at_level(logging.WARNING):
        out = PolicyBidder(1.0, 10**9, w, trained_roi_range=(1.5, 8.0))
    assert not out.in_training_range and out.plan0 == 1.5
    assert "outside its training range" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        inside = PolicyBidder(3.0, 10**9, w, trained_roi_range=(1.5, 8.0))
    assert inside.in_training_range and math.isclose(inside.plan0, 0.6) and not caplog.text


def _roi_bound_day(orders_per_tick: int, level: float, R: float = 4.0, evidence: bool = True) -> float:
    """Expected ROI ÷ R of a day where ROI binds (no budget), realised GMV equal to expected, and
    ``orders_per_tick`` orders a tick (few orders: each carries much of the GMV; many: little)."""
    rng = np.random.default_rng(0)
    b = EvidenceLandscapeBidder(R, 10**15) if evidence else LandscapeBidder(R, 10**15)
    spent = gmv = 0
    won = 0.0
    for t in range(T):
        v = rng.lognormal(0.0, 0.6, 2_000) * 1e4
        market = v * level * rng.lognormal(0.0, 0.5, 2_000)
        state = CampaignState(10**15, spent, 0, gmv, R, (T - t) / T, T - t)
        win = v * b.multiplier(state) > market
        sp, val = int(market[win].sum()), float(v[win].sum())
        spent, gmv, won = spent + sp, gmv + int(val), won + val
        b.observe(TickOutcome(int(win.sum()), 0, orders_per_tick, sp, int(val), val, 2_000, float(v.sum())))
    return won / spent / R


@pytest.mark.parametrize("level", [0.3, 0.5, 0.8])
def test_the_margin_is_sized_by_the_days_orders_and_stays_until_the_end(level: float) -> None:
    # with ~50 orders in the day, realised ROI has a relative s.d. of ~15 %: the bidder aims its expected ROI
    # well above the target all day (its realised luck will be judged); with thousands of orders it aims at
    # the tested line (0.95 × R) itself. A margin on the orders still to come alone fades as the day runs out
    # and leaves the few-order campaign ~2–4 % above the many-order one
    few = _roi_bound_day(1, level)
    many = _roi_bound_day(1_000, level)
    assert 0.94 <= many <= 0.97
    assert few >= many + 0.08
    # the parent (the engine's default) margins only the orders still to come, and in the last fifth holds what
    # a few-order day has secured (the lock-in)
    old_few, old_many = _roi_bound_day(1, level, evidence=False), _roi_bound_day(1_000, level, evidence=False)
    assert old_many >= 0.99 and old_few > old_many


def test_the_fitted_levels_follow_a_market_that_moves_within_the_day() -> None:
    """Competitors raise their bids at tick 20: the win share at the same multiplier drops. The intercepts are
    fitted on the last few ticks, so the curve follows within a handful of ticks; one 24-tick half-life lags."""
    from sitewide.domain.landscape import Landscape

    def fitted_a(level_halflife: float | None) -> float:
        land = Landscape(24.0, level_halflife)
        for t in range(30):
            log_m = 0.04 if t % 2 == 0 else -0.04
            a_true = 0.5 if t < 20 else -1.5
            share = float(_phi(np.array([a_true + 1.5 * log_m]))[0])
            land.add(log_m, TickOutcome(100, 0, 1, 1_000, 1_000, 1e6 * share, 1_000, 1e6))
        return land.fit(1.5, 0.6, 0.5)[0]

    assert abs(fitted_a(4.0) - (-1.5)) < 0.35
    assert abs(fitted_a(None) - (-1.5)) > 0.6  # the single long half-life is still near the old level


def _few_order_day(b: LandscapeBidder, R: float, luck: float) -> tuple[list[float], float]:
    """A day of ~1 order a tick where realised GMV is ``luck`` × expected: (multiplier × R per tick, final
    realised ROI ÷ R)."""
    rng = np.random.default_rng(3)
    spent = gmv = 0
    ms = []
    for t in range(T):
        v = rng.lognormal(0.0, 0.6, 2_000) * 1e4
        market = v * 0.3 * rng.lognormal(0.0, 0.5, 2_000)
        state = CampaignState(10**15, spent, 0, gmv, R, (T - t) / T, T - t)
        m = b.multiplier(state)
        ms.append(m * R)
        win = v * m > market
        sp, val = int(market[win].sum()), float(v[win].sum())
        spent, gmv = spent + sp, gmv + int(luck * val)
        b.observe(TickOutcome(int(win.sum()), 0, 1, sp, int(luck * val), val, 2_000, float(v.sum())))
    return ms, gmv / spent / R


def test_late_in_the_day_a_met_few_order_campaign_holds_what_it_has() -> None:
    # the last fifth of the day's traffic: a campaign whose realised ROI meets the tested line (0.95 × R) buys
    # only what leaves it met with lock_z s.d. of the rest of the day's order noise to spare — before that, and
    # without the lock, the same day is bid alike
    R = 4.0
    # realised GMV 0.9 × expected: the day ends just above the line, with little to spare
    held, roi_held = _few_order_day(LandscapeBidder(R, 10**15), R, luck=0.9)
    free, roi_free = _few_order_day(LandscapeBidder(R, 10**15, lock_z=0.0), R, luck=0.9)
    late = int(T * 0.8) + 1  # the first tick with at most a fifth of the traffic left
    assert held[:late] == free[:late]
    assert all(h <= f for h, f in zip(held[late:], free[late:], strict=True))
    assert sum(h < f for h, f in zip(held[late:], free[late:], strict=True)) >= 6
    assert roi_held > roi_free + 0.01
    # a campaign below the line has nothing to hold: the lock leaves it alone
    behind, _ = _few_order_day(LandscapeBidder(R, 10**15), R, luck=0.6)
    behind_free, _ = _few_order_day(LandscapeBidder(R, 10**15, lock_z=0.0), R, luck=0.6)
    assert behind == behind_free


def test_a_campaign_judged_over_its_guarantee_window_is_not_locked_in_for_the_day() -> None:
    R = 4.0
    b = LandscapeBidder(R, 10**15)
    b.window_judged()
    judged, _ = _few_order_day(b, R, luck=0.9)
    free, _ = _few_order_day(LandscapeBidder(R, 10**15, lock_z=0.0), R, luck=0.9)
    assert judged == free


def _penalised(value: float, spend: float, R: float) -> float:
    """The quadratic-penalty score: value × min(1, (ROI ÷ R)²)."""
    return value * min(1.0, (value / spend / R) ** 2)


def test_told_a_quadratic_contract_it_trades_a_little_roi_for_more_value_and_scores_more() -> None:
    R = 4.0
    hard = LandscapeBidder(R, 10**15)  # a market where ROI binds (at level 0.15 every impression pays back R)
    quad = LandscapeBidder(R, 10**15)
    quad.contract_penalty("quadratic")
    v_h, s_h, _, _ = second_price_day(hard, R, 10**15, level=0.4)
    v_q, s_q, _, _ = second_price_day(quad, R, 10**15, level=0.4)
    assert v_h / s_h >= 0.99 * R  # the hard contract keeps the constraint
    assert v_q > 1.2 * v_h and v_q / s_q < 0.95 * R  # more value, bought below the target ROI
    assert _penalised(v_q, s_q, R) > _penalised(v_h, s_h, R)  # the better day under the penalty it was told


def test_the_hard_contract_changes_nothing_and_an_unknown_penalty_is_refused() -> None:
    R = 4.0
    told = LandscapeBidder(R, 10**9)
    told.contract_penalty("hard")
    assert second_price_day(told, R, 10**9, level=0.3) == second_price_day(
        LandscapeBidder(R, 10**9), R, 10**9, level=0.3
    )
    truthful = make_baseline_bidder("truthful", R, 10**9)
    truthful.contract_penalty("quadratic")  # a bidder with one fixed objective keeps it
    assert truthful.multiplier(CampaignState(10**9, 0, 0, 0, R, 1.0, T)) == 1.0 / R
    for b in (LandscapeBidder(R, 10**9), make_baseline_bidder("dual", R, 10**9)):
        with pytest.raises(ValidationError):
            b.contract_penalty("linear")
