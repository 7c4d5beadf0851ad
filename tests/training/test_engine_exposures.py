"""Training rows from the engine's own retrieval: whole candidate rows with a random slate shown."""

from __future__ import annotations

import numpy as np
import torch

from sitewide.engine import EngineConfig
from sitewide.models.features import REQUEST_DENSE
from sitewide.models.priors import SimilarityPriorScorer
from sitewide.ports import RequestBatch, ScoreInput
from sitewide.training.data import simulate_engine_exposures
from sitewide.training.metrics import auc
from sitewide.training.ranking import TrainConfig, train_ranker
from sitewide.wiring import world_engine


def test_each_row_is_the_engines_candidates_with_a_random_slate_shown(engine_log) -> None:  # type: ignore[no-untyped-def]
    x = engine_log.sim.log.inputs
    s = engine_log.world.config.slots
    assert x.product.shape[1] == 40  # the engine's retrieve_k
    shown = engine_log.sim.shown
    assert (shown.sum(axis=1) == s).all()
    for r in range(0, len(x.product), 97):  # the shown candidates fill slots 0..s-1 once each
        assert sorted(x.position[r][shown[r]].tolist()) == list(range(s))
    # outcomes only where shown; rows sorted by similarity as the index returns them
    log = engine_log.sim.log
    assert not (log.click & ~shown).any() and not (log.order & ~log.click).any()
    assert (np.diff(x.similarity, axis=1) <= 1e-9).all()
    # shown products are spread over the row (random slate), not the top of it
    cols = np.nonzero(shown)[1]
    assert cols.max() > 30 and cols.mean() > 12


def test_search_rows_are_what_the_engine_retrieves_for_that_query(engine_log) -> None:  # type: ignore[no-untyped-def]
    world = engine_log.world
    sim = simulate_engine_exposures(
        world, world_engine(world, EngineConfig(scorer="priors")), 30, np.random.default_rng(3)
    )
    other = world_engine(world, EngineConfig(scorer="priors"))
    ids = list(other.catalogue_ids())
    world_ids = [p.id for p in world.product_list]
    search = np.flatnonzero(sim.kind == 0)
    assert len(search) > 0
    for r in search.tolist():
        q = sim.queries[r]
        cand, sim_e = other.retrieve(RequestBatch(["r"], ["u"], np.array([0]), [q], 0, 10))
        logged = [world_ids[i] for i in sim.log.inputs.product[r].tolist()]
        want = [ids[i] for i in cand[0].tolist()]  # world rows map back to the engine's products
        assert np.allclose(sim.log.inputs.similarity[r], sim_e[0], atol=1e-5)
        # equal similarities may swap places (float32 batch vs single query) or straddle the cut at k
        assert len(set(logged) & set(want)) >= len(want) - 2


def test_serving_features_equal_training_features_on_a_row_with_unshown_candidates(engine_log) -> None:  # type: ignore[no-untyped-def]
    log = engine_log.sim.log
    pipe = engine_log.pipeline
    r = int(np.flatnonzero(log.click.any(axis=1))[0])
    x = log.inputs
    train_b = pipe.transform(log.subset(np.array([r])).inputs)  # shown pairs only, with positions
    serve_b = pipe.transform(
        ScoreInput(x.product[[r]], x.request_kind[[r]], x.user[[r]], x.similarity[[r]]), keep_position=False
    )
    assert len(train_b) == engine_log.world.config.slots and len(serve_b) == 40
    pick = torch.from_numpy(train_b.cols)  # serving holds every candidate, in column order
    assert torch.equal(serve_b.cat[pick], train_b.cat)
    assert torch.equal(serve_b.dense[pick], train_b.dense)
    # the row features see the whole candidate row, not just the shown slate: the gap is to the row's best match
    gap = serve_b.dense[:, REQUEST_DENSE.index("similarity_gap")]
    assert float(gap.max()) == 0.0 and float(gap.min()) < 0.0
    share = serve_b.dense[:, REQUEST_DENSE.index("category_share")]
    assert float(share.min()) >= 0.0 and float(share.max()) <= 1.0


def test_ranker_trained_on_engine_rows_ranks_held_out_candidates_better_than_the_priors(engine_log) -> None:  # type: ignore[no-untyped-def]
    sim = engine_log.sim
    n = sim.log.n_requests
    tr, te = np.arange(0, int(0.8 * n)), np.arange(int(0.8 * n), n)
    scorer = train_ranker(
        engine_log.pipeline, sim.log.subset(tr), None, TrainConfig(epochs=4, batch_size=512, progress=False)
    )
    test = sim.subset(te)
    x = test.log.inputs
    serve = ScoreInput(x.product, x.request_kind, np.full(len(x.user), -1), x.similarity)
    learned, _ = scorer.score(serve)
    world = engine_log.world
    priors, _ = SimilarityPriorScorer(
        np.array([p.price_micros for p in world.product_list]), world.products.category
    ).score(serve)
    shown = test.shown
    y = test.log.click[shown]
    assert auc(y, learned[shown]) > auc(y, priors[shown]) + 0.03

    # and the products it puts on top are truly more clickable (the simulator's P(click | examined))
    def top_true(score: np.ndarray) -> float:
        top = np.argsort(-np.where(x.product >= 0, score, -np.inf), axis=1)[:, :10]
        return float(np.take_along_axis(test.true_pctr, top, axis=1).mean())

    assert top_true(learned) > top_true(priors)
