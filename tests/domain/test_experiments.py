"""Experiment assignment, budget split, stopping and the data of a test."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import numpy as np
import pytest

from sitewide.domain.experiments import (
    Arm,
    Experiment,
    ExperimentKind,
    ExperimentStatus,
    Guardrails,
    arm_campaign_id,
    arm_campaigns,
    assign,
    assign_many,
    experiment_data,
    guardrail_breach,
    serving_arm,
    split_budget,
    stop,
    validate,
    winning_terms,
)
from sitewide.domain.money import Micros
from sitewide.domain.sequential import Metric
from sitewide.domain.types import Campaign, Conflict, Event, EventKind, ValidationError

CAMP = Campaign("c1", "m1", "shoes", ("p1", "p2"), Decimal("4"), Micros(100_000_000))


def creative(**kw: object) -> Experiment:
    base = Experiment(
        id="x1",
        merchant_id="m1",
        name="title test",
        kind=ExperimentKind.CREATIVE,
        campaign_id="c1",
        product_ids=("p1",),
        arms=(Arm("A", title="Red shoe"), Arm("B", title="Red running shoe, light")),
        salt="salt-1",
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def chi_square(counts: np.ndarray, shares: np.ndarray) -> float:
    expected = counts.sum() * shares
    return float(((counts - expected) ** 2 / expected).sum())


def test_assignment_is_stable_across_calls_and_balanced_by_chi_square() -> None:
    users = [f"user-{i}" for i in range(30_000)]
    a = assign_many("salt-1", [1, 1], users)
    assert np.array_equal(a, assign_many("salt-1", [1, 1], users))  # same user, same arm, every time
    exp = creative()
    assert [assign(exp, u) for u in users[:200]] == a[:200].tolist()
    assert chi_square(np.bincount(a, minlength=2), np.array([0.5, 0.5])) < 10.83  # df 1, p = 0.001
    w = assign_many("salt-1", [1, 2, 1], users)
    assert chi_square(np.bincount(w, minlength=3), np.array([0.25, 0.5, 0.25])) < 13.82  # df 2, p = 0.001
    # another salt re-draws: agreement ≈ 50 %, not 100 % (experiments do not share their splits)
    other = assign_many("salt-2", [1, 1], users)
    assert 0.47 < float((other == a).mean()) < 0.53


def test_a_stopped_experiment_serves_only_the_winner() -> None:
    exp = creative()
    users = [f"u{i}" for i in range(500)]
    assert {serving_arm(exp, u) for u in users} == {0, 1}
    done = stop(exp, 1_000, "B", "significant")
    assert done.status is ExperimentStatus.STOPPED
    assert {serving_arm(done, u) for u in users} == {1}
    assert {serving_arm(stop(exp, 1_000, None, "merchant"), u) for u in users} == {0}
    with pytest.raises(Conflict):
        stop(done, 2_000, "A", "again")
    with pytest.raises(ValidationError):
        stop(exp, 1_000, "Z", "no such arm")


def test_budget_split_gives_every_arm_its_own_slice_summing_to_the_budget() -> None:
    assert split_budget(100, [1, 1, 1]) == (34, 33, 33)
    assert sum(split_budget(99_999_999, [3, 5, 7])) == 99_999_999
    exp = Experiment(
        "x2", "m1", "roi", ExperimentKind.CAMPAIGN, "c1", ("p1", "p2"),
        (Arm("A"), Arm("B", target_roi=Decimal("3"), daily_budget_micros=Micros(300_000_000))), "s",
    )  # fmt: skip
    validate(exp, CAMP)
    a, b = arm_campaigns(exp, CAMP)
    assert a.id == arm_campaign_id("x2", "A") and a.daily_budget_micros == 50_000_000
    assert a.target_roi == Decimal("4") and b.target_roi == Decimal("3")
    assert b.daily_budget_micros == 150_000_000  # the tested budget × the arm's traffic share
    applied = winning_terms(stop(exp, 5, "B", "won"), CAMP)
    assert applied.target_roi == Decimal("3") and applied.daily_budget_micros == 300_000_000


def test_invalid_experiments_are_refused() -> None:
    with pytest.raises(ValidationError):
        validate(creative(arms=(Arm("A"),)), CAMP)
    with pytest.raises(ValidationError):
        validate(creative(product_ids=("p9",)), CAMP)
    with pytest.raises(ValidationError):
        validate(creative(arms=(Arm("A"), Arm("A"))), CAMP)
    with pytest.raises(ValidationError):
        validate(creative(arms=(Arm("A"), Arm("B", target_roi=Decimal("2")))), CAMP)
    with pytest.raises(ValidationError):
        validate(creative(arms=(Arm("A"), Arm("B", spend_cap_micros=Micros(0)))), CAMP)


def test_document_round_trip() -> None:
    exp = creative(guardrails=Guardrails(min_roi=1.5, min_orders=5, max_ctr_drop=0.2), metric=Metric.ROI)
    exp = replace(exp, arms=(*exp.arms, Arm("C", weight=2, spend_cap_micros=Micros(7))))
    assert Experiment.from_dict(exp.to_dict()) == exp


def test_events_are_attributed_to_arms_by_the_hash_and_guardrails_fire() -> None:
    exp = creative(guardrails=Guardrails(min_roi=2.0, min_orders=1))
    evs = []
    for i in range(200):
        u = f"u{i}"
        evs.append(Event(f"i{i}", EventKind.IMPRESSION, 10, user_id=u, product_id="p1", campaign_id="c1"))
        evs.append(Event(f"o{i}", EventKind.IMPRESSION, 10, user_id=u, product_id="p2", campaign_id="c1"))
        if i % 4 == 0:
            evs.append(
                Event(f"c{i}", EventKind.CLICK, 11, user_id=u, product_id="p1", campaign_id="c1",
                      price_micros=Micros(1_000_000))
            )  # fmt: skip
            evs.append(
                Event(f"r{i}", EventKind.ORDER, 12, user_id=u, product_id="p1",
                      order_value_micros=Micros(1_500_000))
            )  # fmt: skip
    data = experiment_data(exp, evs)
    arms = assign_many(exp.salt, [1, 1], [f"u{i}" for i in range(200)])
    assert [t.users for t in data.totals] == np.bincount(arms, minlength=2).tolist()
    assert sum(t.impressions for t in data.totals) == 200  # p2 is not in the experiment
    assert sum(t.clicks for t in data.totals) == 50 and sum(t.spend_micros for t in data.totals) == 50_000_000
    assert float(data.sums[Metric.CTR][0].sy + data.sums[Metric.CTR][1].sy) == 50
    reason = guardrail_breach(exp, data, [])
    assert reason is not None and "ROI 1.50 < 2.00" in reason
