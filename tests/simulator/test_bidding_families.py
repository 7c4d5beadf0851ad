from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sitewide.domain.bidding import Bidder, CampaignState, make_baseline_bidder
from sitewide.simulator.bidding_families import FAMILIES, _bound, make_family_days, run_family_day

SMALL = {name: replace(f, impressions=3_000, campaigns_per_seed=3) for name, f in FAMILIES.items()}


class Reckless(Bidder):
    kind = "reckless"

    def multiplier(self, state: CampaignState) -> float:
        return 1e3


@pytest.mark.parametrize("family", list(FAMILIES))
def test_no_bidder_spends_past_its_budget_in_any_family(family: str) -> None:
    for day in make_family_days(SMALL[family], 0):
        for b in [
            make_baseline_bidder("dual", day.target_roi, day.budget_micros),
            make_baseline_bidder("landscape", day.target_roi, day.budget_micros),
            Reckless(day.target_roi, day.budget_micros),
        ]:
            r = run_family_day(day, b)
            assert 0 <= r.spend <= day.budget_micros
            assert r.bound >= 0 and r.value >= 0


def test_days_are_reproducible_from_the_seed() -> None:
    a = make_family_days(SMALL["gsp"], 3)[0]
    b = make_family_days(SMALL["gsp"], 3)[0]
    assert np.array_equal(a.value_est, b.value_est) and a.budget_micros == b.budget_micros
    ra = run_family_day(a, make_baseline_bidder("truthful", a.target_roi, a.budget_micros))
    rb = run_family_day(b, make_baseline_bidder("truthful", b.target_roi, b.budget_micros))
    assert ra == rb


def test_gsp_bound_with_no_constraint_buys_every_top_slot() -> None:
    day = make_family_days(SMALL["gsp"], 0)[0]
    day = replace(day, budget_micros=10**18, target_roi=1e-9)
    expo = np.asarray(day.family.exposure)
    price = np.sort(np.random.default_rng(0).random((len(expo), len(day.value_true))), axis=0)[::-1] * 1e3
    assert np.isclose(_bound(day, price, expo), expo[0] * day.value_true.sum(), rtol=1e-9)


def test_gsp_bound_increments_are_no_more_efficient_than_the_slot_below() -> None:
    # the LP over per-slot increments is exact only if each step up a slot is less efficient than the one below
    v, e = 100.0, np.array([1.0, 0.65, 0.4])
    d = np.array([50.0, 30.0, 10.0])  # competitor bids at ranks 1..3, highest first
    eff = [
        v / d[2],
        (e[1] - e[2]) * v / (e[1] * d[1] - e[2] * d[2]),
        (e[0] - e[1]) * v / (e[0] * d[0] - e[1] * d[1]),
    ]
    assert eff[0] >= eff[1] >= eff[2]
