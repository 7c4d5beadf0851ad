"""The holdout draw and the incrementality estimator (pure)."""

from __future__ import annotations

import numpy as np
import pytest

from sitewide.domain.incrementality import estimate, holdout_uniform, key64, precise_enough
from sitewide.domain.types import ValidationError


def test_draws_are_uniform_stable_and_independent_of_batching() -> None:
    reqs = [key64(f"r{i}") for i in range(20_000)]
    camps = [key64("a"), key64("b")]
    u = holdout_uniform(1, camps, reqs)
    assert u.shape == (20_000, 2) and (u >= 0).all() and (u < 1).all()
    assert abs(float((u < 0.2).mean()) - 0.2) < 0.01
    assert abs(float(np.corrcoef(u[:, 0], u[:, 1])[0, 1])) < 0.03  # campaigns draw independently
    part = holdout_uniform(1, camps[::-1], reqs[100:200])
    assert np.array_equal(part[:, ::-1], u[100:200])  # a request meets the same draw in any batch
    assert not np.array_equal(holdout_uniform(2, camps, reqs[:50]), u[:50])  # the seed matters
    assert key64("r1") == key64("r1") != key64("r2")


def test_estimate_formulas() -> None:
    t = [0, 0, 100, 300]  # mean 100
    c = [0, 50, 0, 50, 0, 0]  # mean 100/6
    inc = estimate("c1", t, c, 200, holdout_share=0.6, holdout_cost_micros=42, level=0.9)
    assert inc.incremental_gmv_micros is not None and inc.incremental_roi is not None
    assert inc.cannibalisation is not None and inc.cannibalisation.high is not None
    assert inc.incremental_gmv_micros.value == round(4 * (100 - 100 / 6))
    seen = np.array([100, 300, 50, 50], dtype=float)  # the order values seen in either arm
    ev, ev2 = seen.mean(), (seen**2).mean()
    p_t, p_c = 3 / 6, 3 / 8  # Agresti–Caffo rates (k + 1)/(n + 2)
    v_t = max(np.var(t, ddof=1), p_t * ev2 - p_t**2 * ev**2)
    v_c = max(np.var(c, ddof=1), p_c * ev2 - p_c**2 * ev**2)
    se = np.sqrt(v_t / 4 + v_c / 6)
    assert inc.incremental_gmv_micros.high - inc.incremental_gmv_micros.value == pytest.approx(
        1.6449 * 4 * se, abs=2
    )
    assert inc.incremental_roi.value == pytest.approx(4 * (100 - 100 / 6) / 200)
    assert inc.cannibalisation.value == pytest.approx(1 / 6)
    assert inc.cannibalisation.low < 1 / 6 < inc.cannibalisation.high
    assert (inc.exposed_wins, inc.ghost_wins, inc.holdout_cost_micros) == (4, 6, 42)
    assert (inc.exposed_gmv_micros, inc.ghost_gmv_micros) == (400, 100)


def test_estimate_covers_a_known_effect() -> None:
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(200):
        t = (rng.random(3000) < 0.02) * 100_000  # exposed: 2 % buy at 0.1 CNY
        c = (rng.random(1000) < 0.01) * 100_000  # without the ad: 1 %
        inc = estimate("c", t.tolist(), c.tolist(), 1, holdout_share=0.25)
        truth = 3000 * (0.02 - 0.01) * 100_000
        assert inc.incremental_gmv_micros is not None
        hits += inc.incremental_gmv_micros.contains(truth)
    assert 0.91 <= hits / 200 <= 0.99


def test_no_purchase_yet_still_gives_an_honest_interval() -> None:
    inc = estimate("c", [0] * 500, [0] * 120, 1, holdout_share=0.2, order_value_micros=50_000_000)
    gmv = inc.incremental_gmv_micros
    assert gmv is not None and gmv.value == 0 and gmv.high is not None
    assert gmv.low < -1_000_000 and gmv.high > 1_000_000


def test_estimate_needs_both_arms_and_checks_input() -> None:
    inc = estimate("c", [10, 0, 5], [], 100, holdout_share=0.1)
    assert inc.incremental_gmv_micros is None and inc.cannibalisation is None
    with pytest.raises(ValidationError):
        estimate("c", [1, -1], [0, 0], 1, holdout_share=0.1)
    with pytest.raises(ValidationError):
        estimate("c", [1, 1], [0, 0], 1, holdout_share=0.1, level=1.2)


def test_precise_enough_needs_a_narrow_interval_and_spend() -> None:
    exposed = [100 if i % 2 else 0 for i in range(400)]
    ghosts = [100 if i % 10 == 0 else 0 for i in range(400)]
    assert precise_enough(estimate("c", exposed, ghosts, 4_000, holdout_share=0.5))
    assert not precise_enough(estimate("c", exposed, ghosts, 0, holdout_share=0.5))  # no spend: no ROI
    few = estimate("c", exposed[:6], ghosts[:6], 400, holdout_share=0.5)  # six wins each: far too wide
    assert few.incremental_gmv_micros is not None and not precise_enough(few)
    assert not precise_enough(estimate("c", [], ghosts, 400, holdout_share=0.5))
