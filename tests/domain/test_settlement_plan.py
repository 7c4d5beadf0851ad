"""Unit tests of the settlement planning moved out of the engine (sitewide.domain.settlement_plan)."""

from __future__ import annotations

from decimal import Decimal

from sitewide.domain.guarantee import DAILY_CONTRACT, GuaranteeContract, GuaranteeEvaluation
from sitewide.domain.money import Micros
from sitewide.domain.settlement import DayFigures, SettlementRun
from sitewide.domain.settlement_plan import (
    Contracts,
    DaySpans,
    judge_windows,
    judged_day_range,
    period_days,
    period_report,
    reserve_moves,
    touched_times,
    windows_to_judge,
)
from sitewide.domain.time import DAY_MS, day_str
from sitewide.domain.types import Campaign

D0 = 20_000  # a day index (2024-10-04)
WEEK = GuaranteeContract(window_days=7, repeat=True, align="calendar", start_day=day_str(D0))
CAMP = Campaign("c1", "m1", "c1", ("p1",), Decimal("4"), Micros(10_000_000), created_ms=D0 * DAY_MS)
CAMPS = {"c1": CAMP}


def fig(day: int, spend: int = 1_000_000, gmv: int = 4_000_000, orders: int = 2, cid: str = "c1") -> DayFigures:
    return DayFigures(
        cid, "m1", day_str(day), 10_000_000, clicks=10, billable_clicks=10, raw_spend_micros=spend,
        spend_micros=spend, orders=orders, gross_gmv_micros=gmv, target_roi=Decimal("4"),
    )  # fmt: skip


def figs(*fs: DayFigures) -> dict[tuple[str, str], DayFigures]:
    return {(f.campaign_id, f.day): f for f in fs}


def test_contracts_pick_the_campaigns_own_and_the_longest_lag_and_window() -> None:
    own = GuaranteeContract(campaign_id="c1", window_days=3, observation_lag_ms=5 * DAY_MS)
    c = Contracts({"c1": own}, DAILY_CONTRACT)
    assert c.of("c1") is own and c.of("other") is DAILY_CONTRACT
    assert c.lag_ms == 5 * DAY_MS and c.span_days == 3
    assert Contracts({}, WEEK).span_days == 7 and Contracts({}, WEEK).lag_ms == 0


def test_touched_times_move_a_refund_to_its_orders_time_and_drop_unknown_orders() -> None:
    stamps = [(100, "click", None), (900, "refund", "o1"), (950, "refund", "o-unknown"), (300, "order", None)]
    assert touched_times(stamps, {"o1": 200}) == [100, 200, 300]


def test_judged_day_range_reaches_back_a_span_before_the_first_dirty_day_and_the_lag() -> None:
    c = Contracts({}, WEEK)
    days = DaySpans.of([(D0 + 10, D0 + 12)])
    as_of = (D0 + 13) * DAY_MS
    lo, hi = judged_day_range(days, c, prev_as_of=as_of - DAY_MS, end_ms=as_of, as_of=as_of)
    assert hi == D0 + 12
    assert lo == min(D0 + 10, (as_of - DAY_MS) // DAY_MS - 7 - 1, (as_of - 1) // DAY_MS - 7)
    assert judged_day_range(DaySpans(), c, 0, DAY_MS, DAY_MS)[0] == 0  # never before day 0


def test_only_mature_windows_that_were_recomputed_or_matured_since_the_last_run_are_judged() -> None:
    c = Contracts({}, WEEK)
    known = figs(fig(D0), fig(D0 + 3), fig(D0 + 8))
    end_week = (D0 + 7) * DAY_MS  # the first week matures at its end (no lag)
    # the first run past the week's end judges it; the second week is not mature
    assert windows_to_judge(known, set(), CAMPS, c, prev_as_of=end_week - 1, as_of=end_week + DAY_MS) == {
        ("c1", (D0, 7))
    }
    # a later run judges it again only if one of its days was recomputed
    later = end_week + 2 * DAY_MS
    assert windows_to_judge(known, set(), CAMPS, c, prev_as_of=end_week + DAY_MS, as_of=later) == set()
    redo = {("c1", day_str(D0 + 3))}
    assert windows_to_judge(known, redo, CAMPS, c, end_week + DAY_MS, later) == {("c1", (D0, 7))}
    # a campaign the store no longer lists is skipped
    assert windows_to_judge(figs(fig(D0, cid="gone")), set(), CAMPS, c, 0, end_week) == set()


def test_a_window_below_target_is_judged_due_and_an_empty_one_only_if_judged_before() -> None:
    c = Contracts({}, WEEK)
    poor = figs(*(fig(D0 + d, spend=1_000_000, gmv=1_000_000) for d in range(7)))  # ROI 1 vs target 4
    (ev,) = judge_windows({("c1", (D0, 7))}, poor, CAMPS, c, set())
    assert ev.spend_micros == 7_000_000 and ev.gmv_micros == 7_000_000 and ev.orders == 14
    assert ev.triggered and ev.due_micros == 7_000_000 - 7_000_000 // 4
    empty = figs(fig(D0, spend=0, gmv=0, orders=0))
    assert judge_windows({("c1", (D0, 7))}, empty, CAMPS, c, set()) == []
    (again,) = judge_windows({("c1", (D0, 7))}, empty, CAMPS, c, {("c1", ev.window)})
    assert again.due_micros == 0  # a window that lost its spend is judged again (to reverse what was paid)


def test_reserve_provisions_an_open_window_heading_for_a_payout_and_releases_it_when_judged() -> None:
    c = Contracts({}, WEEK)
    poor = figs(*(fig(D0 + d, spend=2_000_000, gmv=1_000_000, orders=3) for d in range(3)))
    mid = (D0 + 3) * DAY_MS
    moves = reserve_moves(CAMPS, c, {}, poor, [], prev_as_of=D0 * DAY_MS + 1, as_of=mid)
    assert [m.kind for m in moves] == ["provision"] and moves[0].amount_micros > 0
    # nothing open at the previous run (it was before the window started): nothing to provision
    assert reserve_moves(CAMPS, c, {}, {}, [], prev_as_of=0, as_of=mid) == []
    # judged: what the previous run held is released
    week = figs(*(fig(D0 + d, spend=2_000_000, gmv=1_000_000, orders=3) for d in range(7)))
    (ev,) = judge_windows({("c1", (D0, 7))}, week, CAMPS, c, set())
    out = reserve_moves(CAMPS, c, poor, week, [ev], prev_as_of=mid, as_of=(D0 + 8) * DAY_MS)
    assert [m.kind for m in out] == ["release"]


def test_period_report_sums_the_periods_days_and_the_windows_ending_in_it() -> None:
    d_lo, d_hi = period_days(D0 * DAY_MS, (D0 + 1) * DAY_MS)
    assert d_lo == d_hi == day_str(D0)
    assert period_days(D0 * DAY_MS, (D0 + 2) * DAY_MS + 1) == (day_str(D0), day_str(D0 + 2))
    f = figs(fig(D0 + 6, spend=3_000_000, gmv=2_000_000, orders=1), fig(D0 + 6, cid="c2"))
    ending = GuaranteeEvaluation(
        "c1", "m1", "w", day_str(D0), 7, 1, "{}", Decimal("4"), 1, 1, 1, True, 500_000, "below target"
    )
    other = GuaranteeEvaluation(
        "c3", "m1", "w2", day_str(D0 + 1), 7, 1, "{}", Decimal("4"), 1, 1, 1, True, 700_000, "below target"
    )  # ends the day after: not in this period
    run = SettlementRun(5, day_str(D0 + 6), (D0 + 6) * DAY_MS, (D0 + 7) * DAY_MS, (D0 + 7) * DAY_MS, 0, 1)
    rep = period_report(run, CAMPS, f, [ending, other], None, [])
    assert [c.campaign_id for c in rep.campaigns] == ["c1", "c2"]
    c1, c2 = rep.campaigns
    assert (c1.spend_micros, c1.gmv_micros, c1.orders, c1.compensation_micros) == (3_000_000, 2_000_000, 1, 500_000)
    assert c1.target_roi == Decimal("4") and c2.target_roi == Decimal(0)  # c2 is not in the campaign list
    assert c2.merchant_id == "m1" and c2.compensation_micros == 0
    assert rep.guarantees == [ending] and rep.run_seq == 5 and rep.transactions == []
