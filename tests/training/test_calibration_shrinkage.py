"""Calibration that degrades gracefully with few positives: BIC-selected Platt maps and cross-fitted calibration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sitewide.models.calibration import PlattScaling
from sitewide.models.features import FeaturePipeline
from sitewide.models.ranker import RankerConfig
from sitewide.training.data import load_obd
from sitewide.training.metrics import log_loss
from sitewide.training.ranking import TrainConfig, train_ranker

FIXTURE_OBD = Path(__file__).resolve().parents[1] / "fixtures" / "ranking_obd"


def _t(x: np.ndarray) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float32)


def test_selected_platt_is_the_base_rate_when_the_logit_is_noise() -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(0, 2, 4_000)  # a confident logit that carries nothing
    y = (rng.random(4_000) < 0.01).astype(float)
    cal = PlattScaling.fit_selected(_t(z), _t(y))
    assert cal.a == 0.0
    p = cal.apply(_t(z)).numpy()
    assert p == pytest.approx(np.full(4_000, y.mean()), rel=1e-3)
    # plain Platt keeps a slope fitted to the noise
    assert PlattScaling.fit(_t(z), _t(y)).a != 0.0


def test_selected_platt_keeps_slope_and_position_with_evidence() -> None:
    rng = np.random.default_rng(1)
    n = 20_000
    z = rng.normal(-2, 1, n)
    pos = rng.integers(0, 3, n)
    exam = np.array([1.0, 0.6, 0.3])
    y = (rng.random(n) < exam[pos] / (1 + np.exp(-0.5 * z))).astype(float)
    cal = PlattScaling.fit_selected(_t(z), _t(y), _t(np.log(exam[pos])))
    assert cal.a == pytest.approx(0.5, abs=0.1)
    assert cal.exam_power == pytest.approx(1.0, abs=0.2)
    # no position effect in the data: c is dropped
    y2 = (rng.random(n) < 1 / (1 + np.exp(-0.5 * z))).astype(float)
    assert PlattScaling.fit_selected(_t(z), _t(y2), _t(np.log(exam[pos]))).exam_power == 0.0


def test_cross_fitted_ranker_is_no_worse_than_the_base_rate_on_other_real_clicks() -> None:
    """Trained on 2,000 real OBD impressions (a handful of clicks), scored on the other policy's 2,000."""
    torch.set_num_threads(1)
    d = load_obd(FIXTURE_OBD)
    pipe = FeaturePipeline(d.products, d.users, n_positions=3)
    src, dst = np.flatnonzero(d.policy == "random"), np.flatnonzero(d.policy == "bts")
    train = d.log.subset(src)
    cut = len(src) * 15 // 100
    cfg = TrainConfig(epochs=4, progress=False, model=RankerConfig(emb_dim=4, hidden=(8,)))
    scorer = train_ranker(pipe, train.subset(np.arange(cut, len(src))), train.subset(np.arange(cut)), cfg)
    test = d.log.subset(dst)
    y = test.click[:, 0].astype(float)
    p = scorer.predict_logged(test.inputs).click
    base = np.full(len(y), train.click.mean())
    assert log_loss(y, p) <= log_loss(y, base) + 1e-6
    # cross-fitted: calibrated on every training click, so it predicts the whole training log's CTR; Platt on
    # the 15 % split learns that split's handful of clicks instead
    rate = float(train.click.mean())
    assert float(scorer.predict_logged(train.inputs).click.mean()) == pytest.approx(rate, rel=0.02)
    split = train_ranker(
        pipe,
        train.subset(np.arange(cut, len(src))),
        train.subset(np.arange(cut)),
        TrainConfig(**{**cfg.__dict__, "calibration": "platt"}),
    )
    got = float(split.predict_logged(train.inputs).click.mean())
    assert abs(got - rate) > 0.1 * rate


def test_unknown_calibration_is_rejected(tiny) -> None:  # type: ignore[no-untyped-def]
    from sitewide.domain.types import ValidationError

    with pytest.raises(ValidationError):
        train_ranker(tiny.pipeline, tiny.sim.log.subset(tiny.train), None, TrainConfig(calibration="nope"))


def test_cross_fitting_without_a_validation_log_uses_every_training_click() -> None:
    torch.set_num_threads(1)
    d = load_obd(FIXTURE_OBD)
    pipe = FeaturePipeline(d.products, d.users, n_positions=3)
    cfg = TrainConfig(
        epochs=2, progress=False, calibration="crossfit", model=RankerConfig(emb_dim=4, hidden=(8,))
    )
    scorer = train_ranker(pipe, d.log, None, cfg)
    # 13 clicks in 4,000 rows carry no evidence for a slope: the base rate of all rows
    assert scorer.ctr_calibration.a == 0.0
    rate = float(d.log.click.mean())
    assert float(scorer.predict_logged(d.log.inputs).click.mean()) == pytest.approx(rate, rel=0.02)
