from __future__ import annotations

from decimal import Decimal

import numpy as np

from sitewide.domain.bidding import Bidder, DualBidder
from sitewide.domain.landscape import LandscapeBidder
from sitewide.domain.money import Micros
from sitewide.domain.time import DAY_MS
from sitewide.domain.types import Campaign
from sitewide.engine.pacing import Pacer, PacingConfig
from sitewide.models.bidding_policy import BidderFactory

DAY0 = 20_000 * DAY_MS
CAMPS = [
    Campaign("a", "m", "a", ("p1",), Decimal("2"), Micros(1_000_000)),
    Campaign("b", "m", "b", ("p2",), Decimal("4"), Micros(1_000_000)),
]


def pacer(kind: str = "dual") -> Pacer:
    return Pacer(CAMPS, PacingConfig(bidder=kind), 10_000, BidderFactory.load(kind))


def test_bidders_come_from_the_factory_it_was_given_fresh_every_day() -> None:
    made: list[tuple[float, int]] = []

    def factory(target_roi: float, budget_micros: int) -> Bidder:
        made.append((target_roi, budget_micros))
        return DualBidder(target_roi, budget_micros, start=1.25)

    p = Pacer(CAMPS, PacingConfig(), 10_000, factory)
    p.advance(DAY0 + 1)
    assert made == [(2.0, 1_000_000), (4.0, 1_000_000)]
    assert all(isinstance(b, DualBidder) for b in p.bidders)
    p.advance(DAY0 + p.config.tick_ms + 1)  # a new tick of the same day keeps the bidders
    assert len(made) == 2
    p.advance(DAY0 + DAY_MS + 1)  # a new day: every campaign's bidder is made again
    assert len(made) == 4


def test_truthful_multiplier_is_one_over_target() -> None:
    p = pacer("truthful")
    p.advance(DAY0 + 1)
    assert np.allclose(p.multipliers, [0.5, 0.25])


def test_spent_budget_closes_the_gate() -> None:
    p = pacer()
    p.advance(DAY0 + 1)
    assert p.budget_ok().all()
    p.clicked(0, 995_000)
    assert p.budget_ok().tolist() == [False, True]


def test_in_flight_exposure_counts_against_the_budget_until_it_expires() -> None:
    p = pacer()
    p.advance(DAY0 + 1)
    # 1,000 served ads at 1.0 per click with pCTR 0.5: 500 expected in flight, far past the budget
    p.served(np.zeros(1000, np.int64), np.full(1000, 1_000_000), np.full(1000, 0.5), np.ones(1000))
    assert p.budget_ok().tolist() == [False, True]
    p.advance(DAY0 + 2 * p.config.inflight_ttl_ms + 1)
    assert p.budget_ok().tolist() == [True, True]


def test_dual_bidder_raises_bids_when_under_spending_with_roi_headroom() -> None:
    p = pacer("dual")
    p.advance(DAY0 + 1)
    first = p.multipliers.copy()
    for t in range(1, 6):  # ticks that spend little and bring plenty of GMV
        for _ in range(20):
            p.clicked(0, 1_000)
            p.ordered(0, 5_000_000)
        p.advance(DAY0 + t * p.config.tick_ms + 1)
    assert p.multipliers[0] > first[0]


def test_a_new_day_starts_fresh() -> None:
    p = pacer()
    p.advance(DAY0 + 1)
    p.clicked(0, 500_000)
    p.advance(DAY0 + DAY_MS + 1, spent_today=np.array([7, 0]))
    assert p.spent.tolist() == [7, 0] and p.clicks.tolist() == [0, 0]


def test_a_click_stamped_tomorrow_seeds_tomorrows_spend_not_todays() -> None:
    p = pacer()
    p.advance(DAY0 + 1)
    assert p.record_click("a", 300, DAY0 + DAY_MS + 5) is False
    assert p.spent.tolist() == [0, 0]
    p.advance(DAY0 + DAY_MS + 10)
    assert p.spent.tolist() == [300, 0]


def test_reconcile_restarts_only_the_edited_campaign_and_keeps_spend() -> None:
    from dataclasses import replace

    p = pacer()
    p.advance(DAY0 + 1)
    p.record_click("a", 1_000, DAY0 + 2)
    p.record_click("b", 2_000, DAY0 + 2)
    a, b = p.bidders
    new = Campaign("c", "m", "c", ("p3",), Decimal("3"), Micros(1_000_000))
    p.reconcile([new, CAMPS[0], replace(CAMPS[1], target_roi=Decimal("5"))])
    assert p.bidders[1] is a and p.bidders[2] is not b and len(p.bidders) == 3
    assert p.spent.tolist() == [0, 1_000, 2_000]
    assert np.isfinite(p.multipliers).all() and (p.multipliers > 0).all()


def test_a_burst_within_one_tick_stops_at_the_bidders_tick_cap() -> None:
    p = Pacer(CAMPS, PacingConfig(), 1_000, BidderFactory.load("landscape"))
    p.advance(DAY0 + 1)
    cap = p.tick_caps[0]
    assert cap < 1_000_000  # a multiple of the even pace, far below the day's budget
    assert p.budget_ok().all()
    p.clicked(0, int(cap))  # a burst of cheap clicks spends the tick's allowance
    assert p.budget_ok().tolist() == [False, True]
    p.advance(DAY0 + p.config.tick_ms + 1)  # the next tick opens a new allowance
    assert p.budget_ok().all()


def test_each_days_bidder_aims_at_target_times_the_engines_window_aim() -> None:
    made: list[float] = []
    asked: list[tuple[str, float, int]] = []

    def factory(target_roi: float, budget_micros: int) -> Bidder:
        made.append(target_roi)
        return DualBidder(target_roi, budget_micros, start=1.25)

    def aim(campaign: Campaign, day: int) -> float:
        asked.append((campaign.id, float(campaign.target_roi), day))
        return 1.5 if campaign.id == "a" else 1.0

    p = Pacer(CAMPS, PacingConfig(), 10_000, factory)
    p.aim = aim
    p.advance(DAY0 + 1)
    assert made == [3.0, 4.0]  # a: 2 × 1.5, b: 4 × 1
    assert asked == [("a", 2.0, 20_000), ("b", 4.0, 20_000)]
    p.advance(DAY0 + DAY_MS + 1)
    assert asked[-1] == ("b", 4.0, 20_001) and len(made) == 4


def test_a_bidder_aimed_by_its_window_drops_its_own_day_margin() -> None:
    """The window's aim already carries the margin for the orders still to come: a landscape bidder aimed by it
    steers the day on expected value at the aim (z 0, tolerance 0); one whose aim is exactly 1 (no settled day,
    one-day window, aim off) keeps its own margin."""
    p = Pacer(CAMPS, PacingConfig(), 10_000, BidderFactory.load("landscape_lcb"))
    p.aim = lambda campaign, day: 1.3 if campaign.id == "a" else 1.0
    p.advance(DAY0 + 1)
    aimed, own = p.bidders
    assert isinstance(aimed, LandscapeBidder) and isinstance(own, LandscapeBidder)
    assert aimed.target_roi == 2.0 * 1.3 and (aimed.z, aimed.tolerance) == (0.0, 0.0)
    assert own.target_roi == 4.0 and own.z > 0 and own.tolerance == 0.05


def test_with_the_window_aim_on_no_days_bidder_is_locked_in_for_the_day() -> None:
    """The campaign's ROI is judged over its guarantee window: the day's late lock-in is off whatever the aim (a
    day's surplus carries over through the aim; the engine always gives its pacer the aim); a pacer without one
    judges the day, and the lock stays."""
    p = Pacer(CAMPS, PacingConfig(), 10_000, BidderFactory.load("landscape"))
    p.aim = lambda campaign, day: 1.3 if campaign.id == "a" else 1.0
    p.advance(DAY0 + 1)
    assert [b.lock_z for b in p.bidders if isinstance(b, LandscapeBidder)] == [0.0, 0.0]
    off = Pacer(CAMPS, PacingConfig(), 10_000, BidderFactory.load("landscape"))
    off.advance(DAY0 + 1)
    assert all(isinstance(b, LandscapeBidder) and b.lock_z > 0 for b in off.bidders)


def test_a_target_the_default_bidder_refuses_bids_truthfully_and_serving_goes_on() -> None:
    """The API accepts a target ROI up to 100; the landscape bidders refuse one above 50. That campaign gets the
    truthful rule (1 / R) and every other campaign keeps its own bidder."""
    high = Campaign("h", "m", "h", ("p3",), Decimal("60"), Micros(1_000_000))
    p = Pacer([*CAMPS, high], PacingConfig(), 10_000, BidderFactory.load("landscape_lcb"))
    p.advance(DAY0 + 1)
    assert [b.kind for b in p.bidders] == ["landscape_lcb", "landscape_lcb", "truthful"]
    assert p.multipliers[2] == 1 / 60
