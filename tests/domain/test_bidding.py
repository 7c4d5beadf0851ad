from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitewide.domain.bidding import (
    BudgetGuard,
    CampaignState,
    DualBidder,
    PidBidder,
    TickOutcome,
    TruthfulBidder,
    make_baseline_bidder,
)
from sitewide.domain.policy_bidder import (
    N_FEATURES,
    FeatureTracker,
    MlpWeights,
    PolicyBidder,
    policy_features,
)
from sitewide.domain.types import ValidationError

R = 4.0
B = 1_000_000_000


def state(
    spent: int = 0, gmv: int = 0, ticks_left: int = 24, ticks: int = 48, orders: int = 0
) -> CampaignState:
    return CampaignState(B, spent, 0, gmv, R, ticks_left / ticks, ticks_left, orders * 20, orders)


def outcome(spend: int, gmv: int, orders: int = 200, value_won: float | None = None) -> TickOutcome:
    vw = float(gmv) if value_won is None else value_won
    return TickOutcome(1000, orders * 20, orders, spend, gmv, vw, 10_000, vw * 5)


def test_truthful_multiplier_is_one_over_target() -> None:
    b = TruthfulBidder(R, B)
    assert b.multiplier(state()) == pytest.approx(1 / R)
    assert np.allclose(b.bid(state(), np.array([400.0, 0.0])), [100.0, 0.0])


def test_dual_form_matches_lp_formula() -> None:
    b = DualBidder(R, B)
    b.lam, b.mu = 0.7, 2.0
    assert b.multiplier(state()) == pytest.approx((1 + 2.0 / R) / (0.7 + 2.0))


def test_dual_raises_bids_when_underspending_with_roi_headroom() -> None:
    b = DualBidder(R, B)
    ticks_left = 40
    s = state(ticks_left=ticks_left)
    before = b.multiplier(s)
    ideal = B // ticks_left
    b.observe(outcome(spend=ideal // 10, gmv=int(ideal // 10 * R * 2)))  # 10 % of pace, ROI twice the target
    assert b.multiplier(state(spent=ideal // 10, ticks_left=ticks_left - 1)) > before


def test_dual_lowers_bids_when_roi_is_missed() -> None:
    b = DualBidder(R, B)
    s = state(ticks_left=40)
    before = b.multiplier(s)
    spend = B // 40  # on pace, so only the ROI error moves it
    b.observe(outcome(spend=spend, gmv=int(spend * R * 0.6)))
    assert b.multiplier(state(spent=spend, ticks_left=39)) < before


def test_dual_lowers_bids_when_overspending_at_target_roi() -> None:
    b = DualBidder(R, B)
    before = b.multiplier(state(ticks_left=40))
    spend = 3 * B // 40
    b.observe(outcome(spend=spend, gmv=int(spend * R)))
    assert b.multiplier(state(spent=spend, ticks_left=39)) < before


def test_pid_moves_with_roi_error() -> None:
    up, down = PidBidder(R, B), PidBidder(R, B)
    m0 = up.multiplier(state(ticks_left=40))
    down.multiplier(state(ticks_left=40))
    spend = B // 200  # well behind pace: the pacing cap does not bind
    up.observe(outcome(spend=spend, gmv=int(spend * R * 1.5)))
    down.observe(outcome(spend=spend, gmv=int(spend * R * 0.5)))
    assert (
        up.multiplier(state(spent=spend, ticks_left=39))
        > m0
        > down.multiplier(state(spent=spend, ticks_left=39))
    )


def test_multiplier_is_idempotent_within_a_tick() -> None:
    b = DualBidder(R, B)
    b.observe(outcome(spend=B // 100, gmv=B // 10))
    s = state(spent=B // 100)
    assert b.multiplier(s) == b.multiplier(s)


def test_bids_are_zero_when_budget_is_gone() -> None:
    b = DualBidder(R, B)
    s = CampaignState(B, B - 10, 10, 0, R, 0.5, 24)
    assert not b.bid(s, np.array([1e6, 2e6])).any()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"budget_micros": -1},
        {"target_roi": 0.0},
        {"target_roi": float("nan")},
        {"time_left_frac": 1.5},
        {"spent_micros": 1.5},
    ],
)
def test_campaign_state_rejects_bad_input(kwargs: dict[str, object]) -> None:
    base: dict[str, object] = dict(
        budget_micros=B, spent_micros=0, in_flight_micros=0, gmv_micros=0, target_roi=R, time_left_frac=0.5,
        ticks_left=24,
    )  # fmt: skip
    base.update(kwargs)
    with pytest.raises(ValidationError):
        CampaignState(**base)  # type: ignore[arg-type]


def test_bid_rejects_negative_or_nan_values() -> None:
    with pytest.raises(ValidationError):
        TruthfulBidder(R, B).bid(state(), np.array([1.0, -1.0]))
    with pytest.raises(ValidationError):
        TruthfulBidder(R, B).bid(state(), np.array([np.nan]))


def test_unknown_kind_is_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        make_baseline_bidder("greedy", R, B)


@settings(max_examples=200, deadline=None)
@given(
    budget=st.integers(0, 10**9),
    spent=st.integers(0, 10**9),
    in_flight=st.integers(0, 10**8),
    prices=st.lists(st.integers(0, 10**8), max_size=60),
)
def test_guard_admitted_exposure_never_exceeds_budget(
    budget: int, spent: int, in_flight: int, prices: list[int]
) -> None:
    g = BudgetGuard(budget)
    cpc = np.asarray(prices, dtype=np.int64)
    ok = g.admit(cpc, spent, in_flight)
    # every admitted slot clicked: still within budget (or nothing admitted at all when over already)
    assert spent + in_flight + int(cpc[ok].sum()) <= max(budget, spent + in_flight)
    if spent + in_flight >= budget:
        assert int(cpc[ok].sum()) == 0
    assert g.max_cpc(spent, in_flight) == max(0, budget - spent - in_flight)


def test_guard_admits_in_arrival_order_until_full() -> None:
    g = BudgetGuard(100)
    ok = g.admit(np.array([30, 30, 50, 10], dtype=np.int64), 20, 0)
    assert ok.tolist() == [True, True, False, False]
    assert g.may_enter(20, 60, 20) and not g.may_enter(20, 61, 20)


def _tiny_weights(bias: float) -> MlpWeights:
    z = np.zeros(N_FEATURES)
    return MlpWeights(
        mean=z, std=np.ones(N_FEATURES), layers=((np.zeros((1, N_FEATURES)), np.array([bias])),)
    )


def test_policy_bidder_applies_the_model_output_as_log_multiplier_times_roi() -> None:
    b = PolicyBidder(R, B, _tiny_weights(np.log(2.0)))
    assert b.multiplier(state()) == pytest.approx(2.0 / R)


def test_policy_features_are_finite_and_see_only_bidder_information() -> None:
    tr = FeatureTracker(R, B, 48)
    x0 = policy_features(tr, state(ticks_left=48))
    tr.set_multiplier(0.5)
    tr.observe(outcome(spend=B // 48, gmv=B // 10))
    x1 = policy_features(tr, state(spent=B // 48, gmv=B // 10, ticks_left=47))
    assert x0.shape == x1.shape == (N_FEATURES,)
    assert np.isfinite(x0).all() and np.isfinite(x1).all()
    assert not np.allclose(x0, x1)


def test_roi_aim_margin_shrinks_as_orders_come_in() -> None:
    from sitewide.domain.policy_bidder import roi_aim_margin

    early = roi_aim_margin(5, 0.05, z=1.645)
    mid = roi_aim_margin(150, 0.5, z=1.645)
    late = roi_aim_margin(290, 0.98, z=1.645)
    assert early > mid > late >= 0.0
    assert roi_aim_margin(0, 0.0, z=1.645, prior_orders=100) > roi_aim_margin(
        0, 0.0, z=1.645, prior_orders=1000
    )


def test_policy_bidder_caps_bids_while_realised_roi_is_in_deficit() -> None:
    b = PolicyBidder(R, B, _tiny_weights(np.log(2.0)))
    b.multiplier(state(ticks_left=40))
    spend = B // 40
    b.observe(outcome(spend=spend, gmv=int(spend * R * 0.5), orders=300))  # half the target ROI
    m = b.multiplier(state(spent=spend, gmv=int(spend * R * 0.5), ticks_left=39, orders=300))
    assert m <= b.cap / R + 1e-12
    assert m == b.multiplier(state(spent=spend, gmv=int(spend * R * 0.5), ticks_left=39, orders=300))


def test_policy_bidder_raises_bids_with_roi_headroom_and_slow_pace() -> None:
    b = PolicyBidder(R, B, _tiny_weights(np.log(2.0)))
    m0 = b.multiplier(state(ticks_left=40))
    spend = B // 400
    b.observe(outcome(spend=spend, gmv=int(spend * R * 2), orders=300))
    assert b.multiplier(state(spent=spend, gmv=int(spend * R * 2), ticks_left=39, orders=300)) > m0
