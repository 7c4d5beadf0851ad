"""The platform guarantee (7-day windows from the campaign's start, ROI < target ÷ 1.2, ≥ 30 orders, capped)
and the compensation reserve that provisions its expected cost while a window runs."""

from __future__ import annotations

import math
from dataclasses import replace
from decimal import Decimal

import numpy as np
import pytest

from sitewide.domain.guarantee import (
    DAILY_CONTRACT,
    PLATFORM_CONTRACT,
    GuaranteeContract,
    WindowTotals,
    payout_due,
)
from sitewide.domain.ledger import PLATFORM_COMPENSATION, PLATFORM_RESERVE, credit_account
from sitewide.domain.money import Micros
from sitewide.domain.reserve import (
    ORDER_VALUE_VAR,
    PRIOR_ORDERS,
    OpenWindow,
    due_moments,
    expected_due,
    plan_reserve,
)
from sitewide.domain.settlement import DayFigures, SettlementPolicy
from sitewide.domain.time import DAY_MS, day_index
from sitewide.domain.types import Campaign, Event, EventKind, Product, Shop, ValidationError
from sitewide.engine import Engine, EngineConfig
from sitewide.storage.memory import MemoryStore
from sitewide.wiring import seeded_engine

T0 = 1_767_225_600_000  # 2026-01-01
C = PLATFORM_CONTRACT
TARGET = Decimal("2")


def test_complete_window_expects_exactly_what_is_due() -> None:
    t = WindowTotals(spend_micros=10_000_000, gmv_micros=12_000_000, orders=40)
    assert expected_due(C, TARGET, t, 7.0, 7) == payout_due(C, TARGET, 10_000_000, 12_000_000, 40)[1] > 0


def test_window_totals_sum_the_days_net_of_refunds_in_integer_micros() -> None:
    days = [
        DayFigures("c", "m", "2026-01-01", spend_micros=3_000_001, orders=2, gross_gmv_micros=9_000_000),
        DayFigures("c", "m", "2026-01-02", spend_micros=1, orders=1, gross_gmv_micros=5, refunded_micros=7),
    ]
    t = WindowTotals.of(days)
    assert t == WindowTotals(3_000_002, 8_999_998, 3) and isinstance(t.spend_micros, int)
    assert t.roi == 8_999_998 / 3_000_002
    assert WindowTotals.of([]) == WindowTotals()
    with pytest.raises(ValidationError):
        WindowTotals(-1, 0, 0)


def test_expected_cost_follows_the_roi_so_far() -> None:
    good = WindowTotals(10_000_000, 30_000_000, 40)  # ROI 3 against 2, halfway
    bad = WindowTotals(10_000_000, 10_000_000, 40)  # ROI 1 against 2, halfway
    assert expected_due(C, TARGET, good, 3.5, 7) < 0.01 * 20_000_000
    assert expected_due(C, TARGET, bad, 3.5, 7) > expected_due(C, TARGET, good, 3.5, 7)


def test_the_forecasts_own_spread_is_the_payouts_under_its_model() -> None:
    """due_moments: the mean is expected_due's; the variance is that of min(cap, spend (1 − R/t)) for R below
    the trigger, R normal as the model says — checked against a direct draw, with the gate always met."""
    t = WindowTotals(10_000_000, 14_000_000, 40)  # ROI 1.4 against 2, halfway: some payout likely
    mean, var = due_moments(C, TARGET, t, 3.5, 7)
    assert int(mean) == expected_due(C, TARGET, t, 3.5, 7) > 0 and var > 0
    roi = (40 * 1.4 + PRIOR_ORDERS * 2) / (40 + PRIOR_ORDERS)
    sd = roi * math.sqrt(ORDER_VALUE_VAR * 0.5 / 80 + ORDER_VALUE_VAR / (40 + PRIOR_ORDERS))
    r = np.maximum(np.random.default_rng(0).normal(roi, sd, 400_000), 0.0)
    trig, spend = float(C.trigger_roi_factor) * 2, 20_000_000
    due = np.where(r < trig, np.minimum(spend * float(C.cap_ratio_of_spend), spend * (1 - r / 2)), 0.0)
    assert mean == pytest.approx(due.mean(), rel=0.03)
    assert math.sqrt(var) == pytest.approx(due.std(), rel=0.03)
    assert due_moments(C, TARGET, t, 7.0, 7)[1] == 0.0  # judged: known exactly
    assert due_moments(C, TARGET, WindowTotals(), 3.5, 7) == (0.0, 0.0)


def test_no_expected_cost_when_the_minimum_orders_is_out_of_reach() -> None:
    few = WindowTotals(10_000_000, 0, 1)  # ROI 0, but on pace for ~2 orders of the 30 required
    assert expected_due(C, TARGET, few, 3.5, 7) == 0
    assert expected_due(C, TARGET, few, 7.0, 7) == 0  # and judged: < 30 orders pays nothing


def test_platform_contract_triggers_below_target_over_1_2_and_caps() -> None:
    spend = 12_000_000
    assert payout_due(C, TARGET, spend, int(spend * 1.7), 30)[0] is False  # ROI 1.7 ≥ 2 ÷ 1.2
    trig, due, _ = payout_due(C, TARGET, spend, int(spend * 1.6), 30)  # ROI 1.6 < 1.667
    assert trig and due == spend - int(spend * 1.6) // 2
    assert payout_due(C, TARGET, spend, 0, 30)[1] == spend // 2  # capped at half the spend
    assert payout_due(C, TARGET, spend, 0, 29)[1] == 0


def test_campaign_aligned_windows_start_on_the_creation_day() -> None:
    created = day_index("2026-01-03")
    assert C.window_of(created, created) == (created, 7)
    assert C.window_of(created + 9, created) == (created + 7, 7)
    assert C.window_of(created - 1, created) is None
    calendar = GuaranteeContract(window_days=7)
    assert calendar.window_of(created, created) != (created, 7)  # 1970-tiled weeks
    doc = C.to_dict()
    assert GuaranteeContract.from_dict(doc) == C
    w = doc["window"]
    assert isinstance(w, dict)
    old = dict(doc, window={k: v for k, v in w.items() if k != "align"})  # a document from before `align`
    assert GuaranteeContract.from_dict(old).align == "calendar"
    with pytest.raises(ValidationError):
        GuaranteeContract(align="weekly")


def test_plan_books_the_change_and_releases_what_was_held() -> None:
    before, now = WindowTotals(5_000_000, 5_000_000, 20), WindowTotals(10_000_000, 10_000_000, 40)
    w = OpenWindow("c", "m", "w", C, TARGET, 7, before, 2.0, now, 4.0, judged_now=False)
    (m,) = plan_reserve([w])
    held_before = expected_due(C, TARGET, before, 2.0, 7)
    assert m.kind == "provision" and m.amount_micros == expected_due(C, TARGET, now, 4.0, 7) - held_before
    (r,) = plan_reserve([OpenWindow("c", "m", "w", C, TARGET, 7, now, 4.0, now, 10.0, True, 123)])
    assert r.kind == "release" and r.amount_micros == expected_due(C, TARGET, now, 4.0, 7)
    assert plan_reserve([OpenWindow("c", "m", "w", C, TARGET, 7, now, 4.0, now, 4.0, False)]) == []


def _engine(policy: SettlementPolicy) -> Engine:
    shops = [Shop("s1", "m1", "One")]
    products = [Product(f"p{i}", "s1", f"usb drive {i}", "usb", Micros(10_000_000)) for i in range(3)]
    camp = Campaign("c1", "m1", "one", ("p0", "p1"), Decimal("2"), Micros(50_000_000), created_ms=T0)
    return seeded_engine(
        MemoryStore(), shops, products, [camp], EngineConfig(settlement=policy, scorer="priors")
    )


def _day(day: int, clicks: int, orders: int, value: int) -> list[Event]:
    out: list[Event] = []
    for i in range(clicks):
        ts = T0 + day * DAY_MS + 1_000 * (i + 1)
        out.append(
            Event(
                f"k{day}-{i}",
                EventKind.CLICK,
                ts,
                user_id=f"u{day}-{i}",
                product_id="p0",
                campaign_id="c1",
                price_micros=Micros(1_000_000),
            )
        )
        if i < orders:
            out.append(
                Event(
                    f"o{day}-{i}",
                    EventKind.ORDER,
                    ts + 60_000,
                    user_id=f"u{day}-{i}",
                    product_id="p0",
                    order_value_micros=Micros(value),
                    click_id=f"k{day}-{i}",
                )
            )
    return out


def test_reserve_is_provisioned_during_the_window_and_empty_once_it_is_judged() -> None:
    eng = _engine(SettlementPolicy())
    held = []
    for d in range(7):  # ROI 1.2 against 2: the window will pay out
        evs = _day(d, clicks=10, orders=6, value=2_000_000)
        eng.record_events(evs)
        eng.settle_day(f"2026-01-0{d + 1}")
        held.append(eng.store.balances().get(PLATFORM_RESERVE, 0))
    assert held[2] > 0 and held[-1] > 0  # the expected cost is set aside while the window runs
    rep = eng.settle(T0, T0 + 11 * DAY_MS)  # past the 3-day observation lag: judged
    bal = eng.store.balances()
    (g,) = [g for g in eng.store.guarantee_evaluations("0", "9").values()]
    assert g.triggered and g.orders == 42 and g.due_micros > 0
    assert bal.get(PLATFORM_RESERVE, 0) == 0
    assert bal[credit_account("m1")] == g.due_micros == -bal[PLATFORM_COMPENSATION]
    (rel,) = [m for m in rep.reserve if m.kind == "release"]
    assert rel.amount_micros == held[-1]  # the window's provision at close
    assert abs(held[-1] - g.due_micros) <= 0.2 * g.due_micros  # the last day's forecast is close
    again = eng.settle(T0, T0 + 11 * DAY_MS)
    assert again.already_settled and eng.store.balances() == bal


def test_no_reserve_legs_when_the_policy_turns_it_off() -> None:
    eng = _engine(SettlementPolicy(default_contract=DAILY_CONTRACT, reserve=False))
    eng.record_events(_day(0, clicks=10, orders=1, value=2_000_000))
    eng.settle_day("2026-01-01")
    assert PLATFORM_RESERVE not in eng.store.balances()


def test_reserve_legs_carry_their_campaign_and_window() -> None:
    eng = _engine(SettlementPolicy())
    for d in range(3):
        eng.record_events(_day(d, clicks=10, orders=6, value=2_000_000))
        eng.settle_day(f"2026-01-0{d + 1}")
    legs = [e for t in eng.store.list_transactions() for e in t.entries if e.account == PLATFORM_RESERVE]
    assert legs and all(e.campaign_id == "c1" and e.window == "2026-01-01+7d" for e in legs)


def test_a_target_changed_after_the_window_days_were_settled_does_not_move_the_reserve() -> None:
    """The reserve provisions a window by its own target (the terms in force on its days, as the guarantee
    judges it), not by the campaign's current target: raising the target later buys no provision."""
    held = {}
    for raise_target in (False, True):
        eng = _engine(SettlementPolicy())
        for d in range(3):  # ROI 1.2 against 2: the window is expected to pay out
            eng.record_events(_day(d, clicks=10, orders=6, value=2_000_000))
            eng.settle_day(f"2026-01-0{d + 1}")
        if raise_target:
            c = eng.store.get_campaign("c1")
            assert c is not None
            eng.update_campaign(replace(c, target_roi=Decimal("100")))  # in force from now, long after
        eng.settle_day("2026-01-04")  # the window is still open: its provision is recomputed
        held[raise_target] = eng.store.balances().get(PLATFORM_RESERVE, 0)
    assert held[False] > 0
    assert held[True] == held[False]
