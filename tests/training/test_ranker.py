from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sitewide.domain.types import ValidationError
from sitewide.models.scorer import LearnedScorer, load_scorer, save_scorer
from sitewide.ports import ScoreInput, Scorer
from sitewide.training.metrics import auc, log_loss
from sitewide.training.ranking import TrainConfig, train_ranker

CFG = TrainConfig(epochs=3, batch_size=1024, seed=5, progress=False)


@pytest.fixture(scope="module")
def scorer(tiny) -> LearnedScorer:  # type: ignore[no-untyped-def]
    return train_ranker(tiny.pipeline, tiny.sim.log.subset(tiny.train), tiny.sim.log.subset(tiny.valid), CFG)


def test_training_is_deterministic_for_a_seed(tiny, scorer) -> None:  # type: ignore[no-untyped-def]
    again = train_ranker(tiny.pipeline, tiny.sim.log.subset(tiny.train), tiny.sim.log.subset(tiny.valid), CFG)
    x = tiny.sim.log.subset(tiny.test).inputs
    a, b = scorer.score(x), again.score(x)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    other = train_ranker(
        tiny.pipeline,
        tiny.sim.log.subset(tiny.train),
        tiny.sim.log.subset(tiny.valid),
        TrainConfig(epochs=3, batch_size=1024, seed=6, progress=False),
    )
    assert not np.array_equal(other.score(x)[0], a[0])


def test_trained_ranker_beats_a_constant_predictor_on_held_out_clicks(tiny, scorer) -> None:  # type: ignore[no-untyped-def]
    test = tiny.sim.log.subset(tiny.test)
    rows, cols = np.nonzero(test.inputs.product >= 0)
    y = test.click[rows, cols]
    p = scorer.predict_logged(test.inputs).click
    base = tiny.sim.log.subset(tiny.train).click.mean()
    assert auc(y, p) > 0.6
    assert log_loss(y, p) < log_loss(y, np.full(len(y), base))


def test_serving_features_equal_training_features_for_the_same_event(tiny, scorer) -> None:  # type: ignore[no-untyped-def]
    log = tiny.sim.log
    r = int(np.flatnonzero(log.click.any(axis=1))[0])
    train_batch = tiny.pipeline.transform(log.inputs)
    mine = train_batch.rows == r
    serve_x = ScoreInput(
        product=log.inputs.product[[r]],
        request_kind=log.inputs.request_kind[[r]],
        user=log.inputs.user[[r]],
        similarity=log.inputs.similarity[[r]],
    )
    serve_batch = scorer.pipeline.transform(serve_x, keep_position=False)
    assert serve_batch.position is None
    assert torch.equal(serve_batch.cat, train_batch.cat[torch.from_numpy(mine)])
    assert torch.equal(serve_batch.dense, train_batch.dense[torch.from_numpy(mine)])
    # and the served pCTR is the model's debiased pCTR for that event (position dropped, not fed)
    pctr, _ = scorer.score(serve_x)
    logged = scorer.predict_logged(log.inputs)
    assert np.allclose(pctr[0], logged.pctr[mine], atol=1e-6)


def test_scorer_satisfies_the_port_keeps_shape_and_zeroes_padding(tiny, scorer) -> None:  # type: ignore[no-untyped-def]
    assert isinstance(scorer, Scorer)
    x = tiny.sim.log.subset(np.arange(3)).inputs
    prod = x.product.copy()
    prod[:, -2:] = -1
    pctr, pcvr = scorer.score(ScoreInput(prod, x.request_kind, np.full(3, -1), x.similarity))
    assert pctr.shape == prod.shape and pcvr.shape == prod.shape
    assert np.all(pctr[:, -2:] == 0) and np.all(pcvr[:, -2:] == 0)
    assert np.all((pctr[:, :-2] > 0) & (pctr[:, :-2] < 1)) and np.all((pcvr[:, :-2] > 0) & (pcvr[:, :-2] < 1))


def test_learned_position_curve_falls_with_position(scorer) -> None:  # type: ignore[no-untyped-def]
    exam = scorer.model.exam_curve().detach().numpy()
    assert exam[0] == 1.0
    assert exam[1:].mean() < 0.9
    assert exam[-3:].mean() < exam[1:4].mean()


def test_checkpoint_round_trip_gives_identical_scores(tiny, scorer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = save_scorer(scorer, tmp_path / "ranker.pt", {"source": "test"})
    loaded = load_scorer(path, tiny.world.product_list, tiny.world.users.ids)
    x = tiny.sim.log.subset(tiny.test[:50]).inputs
    a, b = scorer.score(x), loaded.score(x)
    assert np.allclose(a[0], b[0]) and np.allclose(a[1], b[1])
    with pytest.raises(ValidationError):
        load_scorer(tmp_path / "missing.pt")


def test_scorer_rejects_bad_input(scorer) -> None:  # type: ignore[no-untyped-def]
    n = len(scorer.pipeline.products)
    with pytest.raises(ValidationError):
        scorer.score(ScoreInput(np.array([[n + 5]]), np.array([0]), np.array([-1]), np.zeros((1, 1))))
    with pytest.raises(ValidationError):
        scorer.score(ScoreInput(np.array([[0]]), np.array([2]), np.array([-1]), np.zeros((1, 1))))
    with pytest.raises(ValidationError):
        scorer.score(ScoreInput(np.array([0]), np.array([0]), np.array([-1]), np.zeros(1)))


def test_packaged_checkpoint_scores_the_packaged_catalogue_for_cold_users() -> None:
    s = load_scorer()  # sitewide/data/models/ranker.pt bound to the packaged catalogue, engine order
    n = len(s.pipeline.products)
    assert n >= 1_000
    rng = np.random.default_rng(0)
    prod = rng.integers(0, n, size=(2, 20))
    sims = np.tile(np.linspace(0.9, 0.0, 20), (2, 1))
    pctr, pcvr = s.score(ScoreInput(prod, np.array([0, 1]), np.array([-1, -1]), sims))
    assert np.all((pctr > 0) & (pctr < 0.5)) and np.all((pcvr > 0) & (pcvr < 1))
    # on search, a closer text match is more clickable on average
    assert pctr[0, :5].mean() > pctr[0, -5:].mean()


@pytest.mark.slow  # two trainings over the full 2,000-product world: ~20 s
def test_train_from_simulator_writes_a_checkpoint_serving_the_calibrated_cvr(tmp_path: Path) -> None:
    from sitewide.training.ranking import train_from_simulator

    cfg = TrainConfig(epochs=1, batch_size=2048, progress=False)
    path = train_from_simulator(tmp_path / "r.pt", n_requests=3_000, users=200, config=cfg)
    shifted = load_scorer(path)
    raw = load_scorer(
        train_from_simulator(
            tmp_path / "raw.pt", n_requests=3_000, users=200, config=cfg, serve_target_cvr=None
        )
    )
    rng = np.random.default_rng(0)
    x = ScoreInput(
        rng.integers(0, 2_000, (4, 30)), np.array([0, 0, 1, 1]), np.full(4, -1), rng.random((4, 30)) * 0.5
    )
    assert shifted.score(x)[1].mean() < 0.3 * raw.score(x)[1].mean()
    assert np.allclose(shifted.score(x)[0], raw.score(x)[0])  # pCTR untouched


def test_code_l2_shrinks_the_per_code_weights_toward_zero(tiny, scorer) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    m = scorer.model
    manual = m.features.embedding.weight.pow(2).sum() + m.wide.weight.pow(2).sum()
    assert float(m.code_sq_norm().detach()) == pytest.approx(float(manual.detach()))
    loose = train_ranker(
        tiny.pipeline,
        tiny.sim.log.subset(tiny.train),
        tiny.sim.log.subset(tiny.valid),
        replace(CFG, code_l2=0.0),
    )
    # the product-id codes the training log shows: fewer impressions than a category's, so shrunk the most
    codes = torch.unique(tiny.pipeline.transform(tiny.sim.log.subset(tiny.train).inputs).cat[:, 0])
    norm = lambda s: float(s.model.wide.weight[codes].detach().pow(2).sum())  # noqa: E731
    assert CFG.code_l2 > 0 and norm(scorer) < 0.8 * norm(loose)
