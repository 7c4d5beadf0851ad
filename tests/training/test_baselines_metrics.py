from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sitewide.domain.money import Micros
from sitewide.domain.types import Event, EventKind, Product, ValidationError
from sitewide.models.calibration import IsotonicCalibration, PlattScaling
from sitewide.ports import ScoreInput, Scorer
from sitewide.training.baselines import CategoryPriceScorer, LogisticRegressionModel, PopularityModel
from sitewide.training.data import load_obd, log_from_events
from sitewide.training.metrics import (
    auc,
    compare_auc,
    expected_calibration_error,
    ndcg_at_k,
    recall_at_k,
)

FIXTURE_OBD = Path(__file__).resolve().parents[1] / "fixtures" / "ranking_obd"


def test_auc_matches_pairwise_definition_with_ties() -> None:
    rng = np.random.default_rng(0)
    y = rng.random(200) < 0.3
    s = np.round(rng.random(200), 1)  # many ties
    pos, neg = s[y], s[~y]
    want = ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (
        len(pos) * len(neg)
    )
    assert auc(y, s) == pytest.approx(want)
    assert np.isnan(auc(np.zeros(5), np.arange(5)))


def test_ece_is_zero_for_calibrated_bins_and_large_for_overconfident() -> None:
    y = np.array([0, 1] * 50, dtype=float)
    assert expected_calibration_error(y, np.full(100, 0.5), bins=10) == pytest.approx(0.0)
    assert expected_calibration_error(y, np.full(100, 0.9), bins=10) == pytest.approx(0.4)


def test_recall_and_ndcg_reward_the_relevant_items_first() -> None:
    ret = np.array([[3, 1, 2], [0, 1, 2]])
    assert recall_at_k(ret, [{3}, {2, 5}], 2) == pytest.approx(0.5)
    gains = np.array([[0.0, 0.1, 0.2, 0.9], [0.9, 0.1, 0.0, 0.0]])
    assert ndcg_at_k(ret, gains, 1) == pytest.approx(1.0)
    assert ndcg_at_k(ret[:, ::-1], gains, 1) < 0.5


def test_platt_scaling_fixes_an_overconfident_logit() -> None:
    import torch

    rng = np.random.default_rng(1)
    z = rng.normal(0, 1, 5_000)
    y = rng.random(5_000) < 1 / (1 + np.exp(-z))
    cal = PlattScaling.fit(torch.tensor(3 * z, dtype=torch.float32), torch.tensor(y, dtype=torch.float32))
    assert cal.a == pytest.approx(1 / 3, abs=0.05)


def test_isotonic_calibration_is_monotone_and_matches_rates() -> None:
    rng = np.random.default_rng(2)
    s = rng.random(5_000)
    y = (rng.random(5_000) < s**2).astype(float)
    iso = IsotonicCalibration.fit(s, y)
    out = iso.apply(np.linspace(0, 1, 50))
    assert np.all(np.diff(out) >= -1e-12)
    assert iso.apply(np.array([0.9]))[0] == pytest.approx(0.81, abs=0.08)
    assert expected_calibration_error(y, iso.apply(s)) < expected_calibration_error(y, s)


def test_obd_fixture_loads_with_positions_propensity_weights_and_users() -> None:
    d = load_obd(FIXTURE_OBD)
    assert d.log.n_requests == 4_000
    assert set(np.unique(d.log.inputs.position)) == {0, 1, 2}
    assert d.log.inputs.product.max() < len(d.products) == 80
    assert d.log.weight is not None and d.log.weight.mean() == pytest.approx(1.0)
    assert d.log.inputs.user.max() < len(d.users)
    with pytest.raises(ValidationError):
        load_obd(FIXTURE_OBD / "nowhere")


def test_popularity_and_logreg_learn_the_simulator_signal(tiny) -> None:  # type: ignore[no-untyped-def]
    train, test = tiny.sim.log.subset(tiny.train), tiny.sim.log.subset(tiny.test)
    rows, cols = np.nonzero(test.inputs.product >= 0)
    y = test.click[rows, cols]
    lr = LogisticRegressionModel(tiny.pipeline, max_iter=30).fit(train)
    pop = PopularityModel(len(tiny.products)).fit(train)
    assert auc(y, lr.predict_logged(test.inputs).click) > 0.6
    assert auc(y, pop.predict_logged(test.inputs).click) > 0.5


def test_prior_scorer_ranks_categories_by_their_logged_rates(tiny) -> None:  # type: ignore[no-untyped-def]
    prior = CategoryPriceScorer(tiny.world.product_list).fit(tiny.sim.log.subset(tiny.train))
    assert isinstance(prior, Scorer)
    test = tiny.sim.log.subset(tiny.test)
    pctr, pcvr = prior.score(test.inputs)
    assert pctr.shape == test.inputs.product.shape
    assert auc(test.click.ravel(), pctr.ravel()) > 0.5
    unfitted = CategoryPriceScorer([Product("a", "s", "t", "c", Micros(1_000_000))])
    ctr, cvr = unfitted.score(
        ScoreInput(np.array([[0, -1]]), np.array([0]), np.array([-1]), np.zeros((1, 2)))
    )
    assert ctr[0, 0] == pytest.approx(0.0405) and ctr[0, 1] == 0 and cvr[0, 0] == pytest.approx(0.0053)


def test_log_from_events_joins_clicks_and_orders_to_impressions() -> None:
    ev = [
        Event("i1", EventKind.IMPRESSION, 1, user_id="u1", product_id="p1", request_id="r1", position=1),
        Event("i2", EventKind.IMPRESSION, 1, user_id="u1", product_id="p2", request_id="r1", position=2),
        Event("c1", EventKind.CLICK, 2, user_id="u1", product_id="p2", request_id="r1", position=2),
        Event(
            "o1",
            EventKind.ORDER,
            3,
            user_id="u1",
            product_id="p2",
            click_id="c1",
            order_value_micros=Micros(5),
        ),
    ]
    log = log_from_events(ev, {"p1": 0, "p2": 1}, {"u1": 7}, slots=3)
    assert log.inputs.product.tolist() == [[0, 1, -1]]
    assert log.click.tolist() == [[False, True, False]]
    assert log.order is not None and log.order.tolist() == [[False, True, False]]
    assert log.inputs.user.tolist() == [7]
    with pytest.raises(ValidationError):
        log_from_events(ev[2:], {}, {})


def test_delong_standard_errors_match_the_spread_over_replications() -> None:
    rng = np.random.default_rng(0)

    def draw(n: int = 4000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        y = rng.random(n) < 0.05
        a = y * 1.0 + rng.normal(0, 1.5, n)
        return y, a, a + rng.normal(0, 0.5, n)  # b: a noisier copy of a

    y, a, b = draw()
    c = compare_auc(y, a, b)
    assert c.auc_a == pytest.approx(auc(y, a)) and c.auc_b == pytest.approx(auc(y, b))
    assert compare_auc(y, a, a).se_diff == pytest.approx(0.0, abs=1e-12)
    reps = [draw() for _ in range(150)]
    sd_a = np.std([auc(y_, a_) for y_, a_, _ in reps])
    sd_diff = np.std([auc(y_, a_) - auc(y_, b_) for y_, a_, b_ in reps])
    assert c.se_a == pytest.approx(sd_a, rel=0.3)
    assert c.se_diff == pytest.approx(sd_diff, rel=0.3)
    assert c.se_diff < 0.5 * c.se_a  # paired: the difference is much less noisy than either AUC
