"""Effective-dated campaign terms: the terms of a day, liveness, and the window target across a change."""

from __future__ import annotations

from decimal import Decimal

from sitewide.domain.guarantee import GuaranteeContract
from sitewide.domain.settlement import DayFigures, evaluate_window, window_target
from sitewide.domain.terms import CampaignTerms, in_force_at, live_at, terms_for_day
from sitewide.domain.types import Campaign, CampaignStatus

DAY = 86_400_000
ACTIVE, PAUSED = CampaignStatus.ACTIVE, CampaignStatus.PAUSED


def v(version: int, at: int, target: str, budget: int, status: CampaignStatus = ACTIVE) -> CampaignTerms:
    return CampaignTerms("c1", version, at, Decimal(target), budget, status, ("p1",))


HIST = [
    v(1, 0, "2", 100),
    v(2, 3 * DAY + 5, "5", 30),
    v(3, 3 * DAY + 9, "1.5", 60, PAUSED),
    v(4, 6 * DAY, "3", 10),
]


def test_a_day_uses_the_highest_budget_and_lowest_target_in_force_during_it() -> None:
    d2, d3, d4, d6 = (terms_for_day(HIST, d) for d in (2, 3, 4, 6))
    assert (d2.daily_budget_micros, d2.target_roi, d2.versions) == (100, Decimal("2"), (1,))
    assert (d3.daily_budget_micros, d3.target_roi, d3.versions) == (100, Decimal("1.5"), (1, 2, 3))
    assert (d4.daily_budget_micros, d4.target_roi, d4.versions) == (60, Decimal("1.5"), (3,))
    assert (d6.daily_budget_micros, d6.target_roi, d6.versions) == (10, Decimal("3"), (4,))


def test_a_day_before_the_first_version_uses_the_first() -> None:
    h = [v(1, 10 * DAY + 7, "2", 100), v(2, 12 * DAY, "4", 50)]
    assert terms_for_day(h, 3).versions == (1,)
    assert in_force_at(h, 10 * DAY) is None


def test_promoted_events_are_live_only_under_an_active_version_holding_the_product() -> None:
    assert live_at(HIST, 3 * DAY + 6, "p1")
    assert not live_at(HIST, 3 * DAY + 9, "p1")  # paused at that moment
    assert not live_at(HIST, 1, "p2")
    assert not live_at([v(1, 100, "2", 1)], 99, "p1")  # before the campaign existed


def fig(day: str, spend: int, gmv: int, target: str) -> DayFigures:
    return DayFigures(
        "c1",
        "m1",
        day,
        10**9,
        billable_clicks=1,
        spend_micros=spend,
        gross_gmv_micros=gmv,
        orders=1,
        target_roi=Decimal(target),
    )


def test_a_window_across_a_change_asks_each_day_for_its_own_target() -> None:
    figs = [fig("1970-01-01", 100, 150, "2"), fig("1970-01-02", 300, 900, "4")]
    assert window_target(figs, Decimal("9")) == Decimal("3.5")  # (100×2 + 300×4) ÷ 400
    camp = Campaign("c1", "m1", "n", ("p1",), Decimal("100"), 10**9)  # the current target is ignored
    ev = evaluate_window(GuaranteeContract(window_days=2), camp, (0, 2), figs)
    assert ev.target_roi == Decimal("3.5") and ev.due_micros == 400 - (1050 * 400) // 1400
    one = evaluate_window(GuaranteeContract(), camp, (0, 1), figs[:1])
    assert one.target_roi == Decimal("2") and one.due_micros == 25
