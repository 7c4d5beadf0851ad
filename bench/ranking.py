"""Matching and ranking benchmark: models vs baselines trained on the same split in the same run.

    python bench/ranking.py            # full: bigger simulator logs, latency over 1,000,000 products
    python bench/ranking.py --quick    # 60k instead of 120k logged requests, latency over 50,000 products
    python bench/ranking.py --serial   # one process (by default sections 1, 2b, 2c, 3 and the Chinese pairs
                                       # run in a second process beside section 2: the machine has two cores)

--quick takes about 150 s of CPU time, about 80 s on each of the two processes: on two idle cores about 85 s
of wall time. Every section prints its wall and CPU time, and the total the load average: under load the wall
time grows with the load, the CPU time does not.

1. Click model on the Open Bandit Dataset (real ZOZOTOWN impressions; ../shared/data/open_bandit_dataset, or
   the in-repo 4,000-row fixture when the shared folder is absent), 5-fold cross-validated. No ceiling: true
   probabilities are unknown. Honest finding: with 80 clicks in 20,000 impressions every model is at chance
   (no single feature — affinity, position, item feature, propensity — has an AUC above 0.52 either), so the
   obd_ctr ratio reflects noise, not a ranking of the models.
2. CTR / CVR / CTCVR on logs from the calibrated simulator (``sitewide.simulator``, packaged 2,000 real
   Walmart/Amazon titles) where true probabilities are known (the ceiling AUC). The logs go through the real
   engine's retrieval (``simulate_engine_exposures``): each request's row is the engine's top-100 candidates
   with a random slate of 10 shown, so the models are trained and tested on what they rank when serving. Then
   the engine's view: each held-out request's whole candidate row ranked by each model, with the truth of its
   top 10 (true CTR@10, true organic value@10) next to the oracle and a random order. One deviation from the
   calibration, so that the CVR task has enough positives in a short run: ``target_cvr = 0.30`` (the calibrated
   Ali-CCP figure is 0.53 %). Context, not a claim: ESMM's published full Ali-CCP AUCs are CTR 0.5975,
   CVR 0.6841, CTCVR 0.6363.
2b. The shipped checkpoint (trained on four other simulated marketplaces) on an unseen one vs the priors.
2c. The engine in simulated markets the shipped ranker was not trained on (calibrated CVR), priors vs the ranker: expected GMV,
   ad revenue, campaigns meeting their ROI, CTR and NDCG, on common random numbers.
3. Retrieval on the simulator's held-out requests: the served retrieval (the engine's own search rows:
   char-n-gram vectors in its default index; "hybrid" with BM25 matches merged in) vs BM25 (search only), the
   two-tower, its RRF fusion with BM25, popularity; recall@50 of the clicked products and NDCG@10 with the true
   pCTR as gain over the whole catalogue. Caveat: the clicks were logged on the engine's own candidate rows, so
   recall favours the served vectors; NDCG's gains are the simulator's truth and carry no such bias. The same on
   the real Taobao query–title pairs (Chinese).
4. Latency of retrieval (request tower + HNSW top-100 with an eligibility mask) + ranking (the learned scorer on
   the 100 candidates) for one request on one core, over a catalogue of the real products' vectors replicated
   with noise to 1,000,000 (--quick: 50,000).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import multiprocessing
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from sitewide.engine.retrieval import CJK_BM25_WEIGHT, WORD_MATCH_WEIGHT, Retrieval
from sitewide.index.bm25 import BM25Index
from sitewide.index.factory import make_index
from sitewide.models.char_ngram import CharNgramEncoder
from sitewide.models.features import FeaturePipeline, ProductTable, UserTable, logged_mask, logged_pairs
from sitewide.models.priors import SimilarityPriorScorer
from sitewide.models.ranker import RankerConfig
from sitewide.models.retrieval import FusedRetriever, tune_dense_weight
from sitewide.models.scorer import LearnedScorer, LoggedPrediction, load_scorer
from sitewide.models.two_tower import make_two_tower_data, product_vectors, request_vectors
from sitewide.ports import RequestBatch, ScoreInput
from sitewide.simulator.queries import MULTICPR_STATS, WANDS_STATS, query_stats
from sitewide.training.baselines import LogisticRegressionModel, PopularityModel
from sitewide.training.data import (
    RankingLog,
    SimLog,
    load_obd,
    product_texts,
    simulate_engine_exposures,
    split_rows,
)
from sitewide.training.metrics import (
    auc,
    compare_auc,
    expected_calibration_error,
    log_loss,
    ndcg_at_k,
    recall_at_k,
)
from sitewide.training.ranking import TrainConfig, TwoTowerTrainConfig, train_ranker, train_two_tower

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = next(
    (p / "shared" / "data" for p in ROOT.parents if (p / "shared" / "data").is_dir()),
    ROOT.parent / "shared" / "data",
)
SHARED_OBD = SHARED_DATA / "open_bandit_dataset"
FIXTURE_OBD = ROOT / "tests" / "fixtures" / "ranking_obd"
# the search retrievers compared: the engine's rows (vectors; hybrid), the two-tower, BM25, their RRF fusion
RETRIEVERS = ("served", "served_hybrid", "two_tower", "bm25", "fused")


def row(name: str, values: dict[str, float]) -> None:
    print(f"  {name:<14}" + "  ".join(f"{k}={v:.4f}" for k, v in values.items()))


def evaluate(
    task: str, y: np.ndarray, preds: dict[str, np.ndarray], ceiling: np.ndarray | None, metrics: list[str]
) -> None:
    """Print AUC / log-loss / ECE per model; a ``metric:`` line with the model's AUC vs the best baseline."""
    print(f"\n[{task}] n={len(y)} positives={int(y.sum())} rate={y.mean():.5f}")
    aucs = {}
    for name, p in preds.items():
        aucs[name] = auc(y, p)
        row(name, {"auc": aucs[name], "logloss": log_loss(y, p), "ece": expected_calibration_error(y, p)})
    if ceiling is not None:
        row(
            "truth",
            {
                "auc": auc(y, ceiling),
                "logloss": log_loss(y, ceiling),
                "ece": expected_calibration_error(y, ceiling),
            },
        )
    best_name = max((k for k, v in aucs.items() if k != "model" and np.isfinite(v)), key=lambda k: aucs[k])
    best = aucs[best_name]
    line = f"metric: {task}_auc={aucs['model']:.4f} baseline={best:.4f} ratio={aucs['model'] / best:.4f}"
    if ceiling is not None:
        line += f" ceiling={auc(y, ceiling):.4f}"
    cmp = compare_auc(y, preds["model"], preds[best_name])
    # DeLong: the standard error of the model's AUC, and of its difference from the baseline's on these rows
    line += f" se={cmp.se_a:.4f} diff_se={cmp.se_diff:.4f} ({best_name}; {int(y.sum())} positives)"
    metrics.append(line)
    metrics.append(f"metric: {task}_ece={expected_calibration_error(y, preds['model']):.5f}")


def _obd_config() -> TrainConfig:
    return TrainConfig(
        epochs=12,
        batch_size=2048,  # 16,000 rows, a tiny model: large batches keep 28 trainings (5 folds × 3 + 1) short
        lr=3e-3,
        weight_decay=1e-4,
        seed=0,
        patience=3,
        progress=False,
        model=RankerConfig(emb_dim=4, hidden=(16,)),
    )


def _obd_fit(pipe: FeaturePipeline, log: RankingLog, seed: int) -> LearnedScorer:
    """The ranker on ``log``: 15 % of it early-stops; calibration is cross-fitted over all of it (``"auto"``:
    the 15 % holds a dozen clicks)."""
    rest = np.random.default_rng(seed).permutation(log.n_requests)
    cut = log.n_requests * 15 // 100
    return train_ranker(pipe, log.subset(np.sort(rest[cut:])), log.subset(np.sort(rest[:cut])), _obd_config())


def calibrated_ece_reference(p: np.ndarray, draws: int = 200) -> float:
    """The ECE a perfectly calibrated predictor shows on this many rows: labels drawn from ``p`` itself."""
    rng = np.random.default_rng(3)
    return float(np.mean([expected_calibration_error(rng.random(len(p)) < p, p) for _ in range(draws)]))


def obd_section(quick: bool, metrics: list[str]) -> None:
    """5-fold cross-validation: every impression is predicted by models that did not see it (80 clicks in
    20,000 impressions are too few for one held-out split). Inside each fold 15 % of the training rows
    early-stop the ranker; its calibration is cross-fitted over all the fold's training rows and falls back to
    the base rate when the out-of-fold evidence does not support a slope (BIC). The base rate (the training
    folds' CTR) is a model too. Then the transfer: trained on one logging policy's log, scored on the other's."""
    root = SHARED_OBD if (SHARED_OBD / "random" / "all.csv").exists() else FIXTURE_OBD
    data = load_obd(root)
    n = data.log.n_requests
    print(f"\n== Open Bandit Dataset click model ({root}, {n} impressions, 5-fold CV) ==")
    pipe = FeaturePipeline(data.products, data.users, n_positions=3)
    folds = split_rows(n, [0.2] * 5, np.random.default_rng(7))
    preds = {k: np.zeros(n) for k in ("model", "logreg", "popularity", "base_rate")}
    slopes = []
    for i, te in enumerate(folds):
        tr = np.sort(np.concatenate([f for j, f in enumerate(folds) if j != i]))
        train, test = data.log.subset(tr), data.log.subset(te)
        scorer = _obd_fit(pipe, train, i)
        slopes.append((scorer.ctr_calibration.a, scorer.ctr_calibration.exam_power))
        preds["model"][te] = scorer.predict_logged(test.inputs).click
        preds["logreg"][te] = (
            LogisticRegressionModel(pipe, l2=1e-3).fit(train).predict_logged(test.inputs).click
        )
        preds["popularity"][te] = (
            PopularityModel(len(data.products)).fit(train).predict_logged(test.inputs).click
        )
        preds["base_rate"][te] = float(train.click.mean())
    print("calibration per fold (slope a, position power c; 0 = no evidence):", np.round(slopes, 3).tolist())
    y = data.log.click[:, 0].astype(float)
    evaluate("obd_ctr", y, preds, None, metrics)
    ll = {k: log_loss(y, v) for k, v in preds.items()}
    metrics.append(
        f"metric: obd_logloss={ll['model']:.5f} baseline={ll['logreg']:.5f} "
        f"ratio={ll['model'] / ll['logreg']:.4f} target=1.0 base_rate={ll['base_rate']:.5f} "
        f"ratio_to_base_rate={ll['model'] / ll['base_rate']:.4f} (5-fold out-of-fold, {int(y.sum())} clicks)"
    )
    metrics.append(f"metric: obd_base_rate_logloss={ll['base_rate']:.5f}")
    ref = calibrated_ece_reference(preds["model"])
    metrics.append(
        f"metric: obd_ece={expected_calibration_error(y, preds['model']):.5f} "
        f"baseline={expected_calibration_error(y, preds['logreg']):.5f} perfectly_calibrated={ref:.5f}"
    )
    # transfer: a model trained on one policy's log predicts the other's CTR (pooled over both directions)
    pol = data.policy
    ratios = {}
    for src, dst in (("random", "bts"), ("bts", "random")):
        a_rows, b_rows = np.flatnonzero(pol == src), np.flatnonzero(pol == dst)
        if not len(a_rows) or not len(b_rows):
            continue
        sc = _obd_fit(pipe, data.log.subset(a_rows), 0)
        p = sc.predict_logged(data.log.subset(b_rows).inputs).click
        obs = float(data.log.click[b_rows].mean())
        print(f"transfer {src} -> {dst}: predicted CTR {p.mean():.5f}, observed {obs:.5f}")
        if obs > 0:
            ratios[f"{src}_to_{dst}"] = float(p.mean()) / obs
    if ratios:
        worst = max(ratios, key=lambda k: abs(np.log(ratios[k])))
        others = " ".join(f"{k}={v:.4f}" for k, v in ratios.items())
        metrics.append(
            f"metric: obd_transfer_ratio={ratios[worst]:.4f} target=0.8..1.25 {others} "
            "(predicted / observed CTR, trained on one logging policy's log, scored on the other's; the worse one)"
        )


def _serve_x(x: ScoreInput) -> ScoreInput:
    """A logged row as the engine scores it: every candidate, no position, user unknown to the scorer."""
    return ScoreInput(x.product, x.request_kind, np.full(len(x.user), -1), x.similarity)


def _scatter(pred: LoggedPrediction, x: ScoreInput) -> tuple[np.ndarray, np.ndarray]:
    """A baseline's flat predictions over every candidate of ``x`` (no positions) back to ``[R, N]``."""
    rows, cols = np.nonzero(x.product >= 0)
    pctr, pcvr = np.zeros(x.product.shape), np.zeros(x.product.shape)
    pctr[rows, cols], pcvr[rows, cols] = pred.pctr, pred.pcvr
    return pctr, pcvr


def engine_ranking(
    tag: str,
    test: SimLog,
    price: np.ndarray,
    scores: dict[str, tuple[np.ndarray, np.ndarray]],
    metrics: list[str],
) -> None:
    """Rank each held-out request's whole candidate row as the engine does and read the truth of the top 10:
    mean true P(click | examined) of the top 10 by pCTR, and mean true organic value (true pCTR × true pCVR ×
    sqrt(price), the engine's organic objective up to a constant) of the top 10 by predicted value. Oracle =
    the truth itself, random = a random order: the ceiling and the floor."""
    x = test.log.inputs
    valid = x.product >= 0
    sp = np.sqrt(price[np.maximum(x.product, 0)])
    t_value = test.true_pctr * test.true_pcvr * sp
    rnd = np.random.default_rng(0).random(x.product.shape)
    runs = {**scores, "oracle": (test.true_pctr, test.true_pcvr)}

    def top(score: np.ndarray, truth: np.ndarray, m: np.ndarray) -> float:
        idx = np.argsort(-np.where(valid, score, -np.inf), axis=1)[:, :10]
        return float(np.take_along_axis(truth, idx, axis=1)[m].mean())

    print(f"-- {tag}: top 10 of the engine's candidate rows, truth of what each model puts there --")
    for seg, m in (("search", x.request_kind == 0), ("feed", x.request_kind == 1)):
        res = {}
        for name, (pc, pv) in runs.items():
            res[name] = {
                "true_ctr10": top(pc, test.true_pctr, m),
                "true_value10": top(pc * pv * sp, t_value, m),
            }
        res["random"] = {"true_ctr10": top(rnd, test.true_pctr, m), "true_value10": top(rnd, t_value, m)}
        for name, v in res.items():
            row(f"{seg} {name}", v)
        base = [k for k in scores if k != "model"]
        for key in ("true_ctr10", "true_value10"):
            best = max(res[k][key] for k in base)
            metrics.append(
                f"metric: {tag}_{seg}_{key}={res['model'][key]:.5f} baseline={best:.5f} "
                f"ratio={res['model'][key] / best:.4f} oracle={res['oracle'][key]:.5f}"
            )


def sim_section(quick: bool, metrics: list[str]) -> dict[str, object]:
    from sitewide.engine import EngineConfig
    from sitewide.simulator import SimConfig, build_world
    from sitewide.wiring import world_engine

    n_req = 60_000 if quick else 120_000
    world = build_world(SimConfig(users=2_000, merchants=50, seed=0, target_cvr=0.30))
    engine = world_engine(world, EngineConfig(scorer="priors"))  # only its retrieval is used
    texts = product_texts(world)
    t0 = time.perf_counter()
    sim = simulate_engine_exposures(world, engine, n_req, np.random.default_rng(11))
    print(
        f"\n== Simulator logs through the engine's retrieval: {n_req} requests × {sim.log.inputs.product.shape[1]} "
        f"candidates, a random slate of {world.config.slots} shown; {len(world.products)} products, "
        f"{len(world.users)} users ({time.perf_counter() - t0:.1f} s) =="
    )
    tr, va, te = split_rows(n_req, [0.7, 0.1, 0.2], np.random.default_rng(12))
    products = ProductTable.from_products(world.product_list)
    pipe = FeaturePipeline(products, UserTable.from_columns({}), n_positions=world.config.slots)
    t0 = time.perf_counter()
    cfg = TrainConfig(epochs=4 if quick else 8, batch_size=512, lr=3e-3, seed=0, progress=False)
    scorer = train_ranker(pipe, sim.log.subset(tr), sim.log.subset(va), cfg)
    print(f"ranker trained in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    lr = LogisticRegressionModel(pipe).fit(sim.log.subset(tr))
    pop = PopularityModel(len(world.products)).fit(sim.log.subset(tr))
    print(f"baselines trained in {time.perf_counter() - t0:.1f} s")
    test = sim.subset(te)
    rows, cols = logged_pairs(test.log.inputs)
    click = test.log.click[rows, cols].astype(float)
    order = (test.log.order[rows, cols] & test.log.click[rows, cols]).astype(float)  # type: ignore[index]
    p: dict[str, LoggedPrediction] = {
        "model": scorer.predict_logged(test.log.inputs),
        "logreg": lr.predict_logged(test.log.inputs),
        "popularity": pop.predict_logged(test.log.inputs),
    }
    t_click = test.true_click[rows, cols]
    t_cvr = test.true_pcvr[rows, cols]
    evaluate("ctr", click, {k: v.click for k, v in p.items()}, t_click, metrics)
    clicked = click > 0
    evaluate("cvr", order[clicked], {k: v.pcvr[clicked] for k, v in p.items()}, t_cvr[clicked], metrics)
    evaluate("ctcvr", order, {k: v.ctcvr for k, v in p.items()}, t_click * t_cvr, metrics)
    exam = scorer.model.exam_curve().detach().numpy()
    print("learned examination by position:", np.round(exam, 3).tolist())
    print("true examination by position:   ", np.round(world.exam, 3).tolist())
    price = np.array([int(q.price_micros) for q in world.product_list], dtype=np.float64)
    serve = _serve_x(test.log.inputs)
    engine_ranking(
        "same_world",
        test,
        price,
        {
            "model": scorer.score(serve),
            "logreg": _scatter(lr.predict_logged(serve), serve),
            "popularity": _scatter(pop.predict_logged(serve), serve),
            "priors": SimilarityPriorScorer(price.astype(np.int64), world.products.category).score(serve),
        },
        metrics,
    )
    return {
        "world": world,
        "sim": sim,
        "tr": tr,
        "va": va,
        "te": te,
        "products": products,
        "users": UserTable.from_ids(world.users.ids),
        "scorer": scorer,
        "texts": texts,
        "pop": pop,
    }


def shipped_section(quick: bool, metrics: list[str]) -> None:
    """The shipped checkpoint (trained on four other simulated marketplaces) on a marketplace it has never seen,
    against the engine's hand-set priors: what a new deployment gets before it has logs of its own."""
    from sitewide.engine import EngineConfig
    from sitewide.simulator import SimConfig, build_world
    from sitewide.wiring import world_engine

    world = build_world(SimConfig(users=2_000, merchants=50, seed=7, target_cvr=0.30))
    engine = world_engine(world, EngineConfig(scorer="priors"))
    n = 8_000 if quick else 20_000
    test = simulate_engine_exposures(world, engine, n, np.random.default_rng(21))
    print(
        f"\n== Shipped ranker (sitewide/data/models/ranker.pt) on an unseen marketplace (seed 7), {n} requests =="
    )
    shipped = load_scorer(products=world.product_list)
    price = np.array([int(q.price_micros) for q in world.product_list], dtype=np.float64)
    serve = _serve_x(test.log.inputs)
    pc, pv = shipped.score(serve)
    pr = SimilarityPriorScorer(price.astype(np.int64), world.products.category).score(serve)
    rows, cols = logged_pairs(test.log.inputs)
    y = test.log.click[rows, cols].astype(float)
    a_m, a_p, a_t = auc(y, pc[rows, cols]), auc(y, pr[0][rows, cols]), auc(y, test.true_pctr[rows, cols])
    row("click auc", {"shipped": a_m, "priors": a_p, "truth": a_t})
    metrics.append(
        f"metric: shipped_unseen_ctr_auc={a_m:.4f} baseline={a_p:.4f} ratio={a_m / a_p:.4f} ceiling={a_t:.4f}"
    )
    engine_ranking("shipped_unseen", test, price, {"model": (pc, pv), "priors": pr}, metrics)


def _checkpoint_worlds() -> set[int]:
    """The simulator seeds the shipped checkpoint was trained on (its meta: ``"seeds 1..4"``)."""
    from sitewide.models.scorer import packaged_ranker_path

    meta = torch.load(packaged_ranker_path(), map_location="cpu", weights_only=True)["meta"]
    lo, hi = str(meta["worlds"]).removeprefix("seeds ").split("..")
    return set(range(int(lo), int(hi) + 1))


def market_section(quick: bool, metrics: list[str]) -> None:
    """The engine in the simulated market at the calibrated CVR, serving with the hand-set priors or the shipped
    learned ranker, on common random numbers (same worlds, same users' draws): what the change does to the
    engine's objective (expected GMV of the clicks, from the true pCVR), to ad revenue, to the campaigns' ROI,
    and to click-through and NDCG (true-pCTR gains)."""
    from sitewide.simulator import SimConfig
    from sitewide.whatif import Setting, sweep

    trained = _checkpoint_worlds()  # out of sample: not the worlds the shipped checkpoint was trained on
    seeds = tuple(s for s in range(20) if s not in trained)[: 2 if quick else 6]
    days = 1 if quick else 2
    t0 = time.perf_counter()
    df = sweep(
        SimConfig(days=days, users=3_000, merchants=50),
        [Setting("priors", {"scorer": "priors"}), Setting("learned", {"scorer": "learned"})],
        seeds,
    )
    print(
        f"\n== In the simulated market: seeds {seeds} (not the checkpoint's training worlds {sorted(trained)}) × {days} days × 3,000 users ({time.perf_counter() - t0:.1f} s) =="
    )
    g = df.groupby("setting").mean(numeric_only=True)
    cols = ("expected_gmv_micros", "ad_revenue_micros", "campaigns_meeting_roi_share", "ctr", "ndcg")
    for name in ("priors", "learned"):
        row(name, {c: float(g.loc[name, c]) for c in cols})
    for c in cols:
        a, b = float(g.loc["learned", c]), float(g.loc["priors", c])
        metrics.append(
            f"metric: market_{c}={a:.6g} baseline={b:.6g} ratio={a / b if b else float('nan'):.4f}"
        )


def retrieval_section(quick: bool, metrics: list[str]) -> dict[str, object]:
    """Search and feed retrieval on the held-out requests of the simulator log (intent queries: synonyms, typos,
    Chinese). The two-tower is trained on the training requests' clicks with in-batch negatives plus hard
    negatives (a product the same request showed and the user did not click); it is served from an HNSW index,
    and for search fused with BM25 by reciprocal-rank fusion (``FusedRetriever``) — the served retrieval.
    Relevance: recall@50 of the products the held-out request clicked (logged over the engine's candidate rows),
    NDCG@10 with the true pCTR as gain over the whole catalogue."""
    from sitewide.engine import EngineConfig
    from sitewide.simulator import SimConfig, build_world
    from sitewide.wiring import world_engine

    # the same marketplace as the ranking sections, its search requests typed as intent queries
    world = build_world(SimConfig(users=2_000, merchants=50, seed=0, target_cvr=0.30, query_style="intent"))
    n_req = 40_000 if quick else 120_000
    t0 = time.perf_counter()
    sim = simulate_engine_exposures(
        world, world_engine(world, EngineConfig(scorer="priors")), n_req, np.random.default_rng(13)
    )
    print(f"\n== Retrieval log: {n_req} requests with intent queries ({time.perf_counter() - t0:.1f} s) ==")
    tr, va, te = split_rows(n_req, [0.7, 0.1, 0.2], np.random.default_rng(12))
    products = ProductTable.from_products(world.product_list)
    users, texts = UserTable.from_ids(world.users.ids), product_texts(world)
    pop = PopularityModel(len(world.products)).fit(sim.log.subset(tr))
    log = sim.log  # type: ignore[attr-defined]
    human = ~world.users.is_bot[sim.users]  # type: ignore[attr-defined]
    r_idx, s_idx = np.nonzero(log.click)
    train_mask = np.isin(r_idx, tr) & human[r_idx]
    rq = r_idx[train_mask]
    # hard negative per pair: a random shown, unclicked product of the same request
    rng = np.random.default_rng(4)
    shown_unclicked = logged_mask(log.inputs) & ~log.click
    neg = np.full(len(rq), -1, dtype=np.int64)
    for j, r in enumerate(rq.tolist()):
        cols = np.flatnonzero(shown_unclicked[r])
        if len(cols):
            neg[j] = log.inputs.product[r, cols[rng.integers(0, len(cols))]]
    data = make_two_tower_data(
        products,
        texts,
        users,
        sim.queries,
        sim.users,
        sim.kind,  # type: ignore[attr-defined]
        rq,
        log.inputs.product[rq, s_idx[train_mask]],
        products_buckets(products),
        neg,
    )
    t0 = time.perf_counter()
    cfg = TwoTowerTrainConfig(epochs=16 if quick else 20, batch_size=512, seed=0, progress=False)
    model = train_two_tower(data, cfg)
    print(
        f"\n== Retrieval: two-tower trained on {len(rq)} clicks (+ {int((neg >= 0).sum())} hard negatives) "
        f"in {time.perf_counter() - t0:.1f} s; intent queries =="
    )
    qs = query_stats([sim.queries[i] for i in np.flatnonzero(sim.kind == 0).tolist()])  # type: ignore[attr-defined]
    print("generated query stats:", {k: round(v, 3) for k, v in qs.items()})
    print("real yardsticks:       WANDS", WANDS_STATS, "Multi-CPR", MULTICPR_STATS)
    pv = product_vectors(model, data)
    # held-out human requests that have at least one click
    te_clicked = np.array(sorted(set(r_idx[np.isin(r_idx, te)].tolist())))
    te_clicked = te_clicked[human[te_clicked]]
    rel = [set(log.inputs.product[r, log.click[r]].tolist()) for r in te_clicked]
    hnsw = make_index("hnsw", m=16, ef_construction=80, ef_search=128)
    hnsw.build(np.arange(len(pv)), pv)
    qv = request_vectors(model, data, te_clicked)
    tt_ids, _ = hnsw.search(qv, 50)
    bm = BM25Index()
    bm.build(np.arange(len(texts)), texts)  # type: ignore[arg-type]
    queries = [sim.queries[i] for i in te_clicked.tolist()]  # type: ignore[attr-defined]
    bm_ids, _ = bm.search(queries, 50)
    # learned fusion: the two-tower's weight in the RRF, picked on the validation requests' clicks
    va_clicked = np.array(sorted(set(r_idx[np.isin(r_idx, va)].tolist())))
    va_clicked = va_clicked[human[va_clicked] & (sim.kind[va_clicked] == 0)]  # type: ignore[attr-defined]
    fused = FusedRetriever(hnsw, bm)
    w = tune_dense_weight(
        fused,
        request_vectors(model, data, va_clicked),
        [sim.queries[i] for i in va_clicked.tolist()],  # type: ignore[attr-defined]
        [set(log.inputs.product[r, log.click[r]].tolist()) for r in va_clicked],
    )
    print(f"fusion: two-tower weight {w} (BM25 1.0), chosen on {len(va_clicked)} validation search requests")
    fused_ids, _ = fused.search(qv, queries, 50)
    # the served retrieval: the engine's own search rows (char-n-gram vectors in its default index; the hybrid
    # variant adds 20 BM25 matches to each search row) with a 50-candidate row
    served_ids = engine_rows(world, EngineConfig(scorer="priors", retrieve_k=50), te_clicked, sim)
    # the English rows' word-match weight (WORD_MATCH_WEIGHT): NDCG@10 on validation search requests whose query
    # text no held-out request has (split by query), the served rows under each weight of the grid
    test_q = {sim.queries[i] for i in te_clicked.tolist()}  # type: ignore[attr-defined]
    tune_req = np.array(
        [
            r
            for r in np.flatnonzero(np.isin(np.arange(n_req), va) & human).tolist()
            if sim.kind[r] == 0 and sim.queries[r] not in test_q  # type: ignore[attr-defined]
        ],
        dtype=np.int64,
    )
    by_w = word_weight_rows(world, tune_req, sim)
    tune_ndcg = {w: ndcg_rows(ids, tune_req, world, sim).mean() for w, ids in by_w.items()}
    tuned = max(WORD_WEIGHT_GRID, key=lambda w: (round(float(tune_ndcg[w]), 4), -w))
    print(
        f"English word-match weight: shipped {WORD_MATCH_WEIGHT}, best on {len(tune_req)} validation search "
        f"requests (no test query among them) {tuned}; their NDCG@10 by weight "
        + " ".join(f"{w}:{v:.4f}" for w, v in tune_ndcg.items())
    )
    cosine_ids = word_weight_rows(world, te_clicked, sim, (0.0,))[0.0]
    hybrid_ids = engine_rows(
        world, EngineConfig(scorer="priors", retrieve_k=50, lexical_k=20), te_clicked, sim
    )
    pop_top = np.argsort(-pop.scores(), kind="stable")[:50]  # type: ignore[attr-defined]
    pop_ids = np.tile(pop_top, (len(te_clicked), 1))
    kinds = sim.kind[te_clicked]  # type: ignore[attr-defined]
    u = sim.users[te_clicked]  # type: ignore[attr-defined]
    intent = sim.intent[te_clicked]  # type: ignore[attr-defined]
    gains = world.true_pctr(
        u[:, None],
        np.arange(len(world.products))[None, :],
        kinds[:, None],
        np.where(kinds == 0, intent, -1)[:, None],
    )  # type: ignore[attr-defined]
    zh = np.array([any("\u3400" <= c <= "\u9fff" for c in q) for q in queries])
    segs = (
        ("all", np.ones(len(kinds), bool)),
        ("search", kinds == 0),
        ("search_zh", (kinds == 0) & zh),
        ("feed", kinds == 1),
    )
    results = {}
    named = [*zip(RETRIEVERS, (served_ids, hybrid_ids, tt_ids, bm_ids, fused_ids), strict=True)]
    named.append(("popularity", pop_ids))
    for name, ids in named:
        res = {}
        for seg, m in segs:
            if name in ("bm25", "fused", "served", "served_hybrid") and not seg.startswith("search"):
                continue
            if not m.any():
                continue
            rl = [rel[i] for i in np.flatnonzero(m)]
            res[f"{seg}_recall50"] = recall_at_k(ids[m], rl, 50)
            res[f"{seg}_ndcg10"] = ndcg_at_k(ids[m], gains[m], 10)
        results[name] = res
        row(name, res)
    print(
        f"held-out search requests {int((kinds == 0).sum())}, of which Chinese {int(((kinds == 0) & zh).sum())}"
    )
    f, b_ = results["served"], results["bm25"]
    s_rows = np.flatnonzero(kinds == 0)
    s_rel = [rel[i] for i in s_rows.tolist()]
    per_query = {  # served − BM25 per held-out search request, for the paired standard error
        "search_recall50": np.array(
            [
                recall_at_k(served_ids[[i]], [r], 50) - recall_at_k(bm_ids[[i]], [r], 50)
                for i, r in zip(s_rows, s_rel, strict=True)
            ]
        ),
        "search_ndcg10": ndcg_rows(served_ids[s_rows], te_clicked[s_rows], world, sim)
        - ndcg_rows(bm_ids[s_rows], te_clicked[s_rows], world, sim),
    }
    cos = {
        "search_recall50": recall_at_k(cosine_ids[s_rows], s_rel, 50),
        "search_ndcg10": ndcg_at_k(cosine_ids[s_rows], gains[s_rows], 10),
    }
    for key in ("search_recall50", "search_ndcg10"):
        diff_se = float(np.std(per_query[key], ddof=1) / np.sqrt(len(s_rows)))
        metrics.append(
            f"metric: {key}={f[key]:.4f} baseline={b_[key]:.4f} ratio={f[key] / b_[key]:.4f} target=1.0 "
            f"diff_se={diff_se:.4f} cosine_order={cos[key]:.4f} hybrid={results['served_hybrid'][key]:.4f} "
            f"two_tower={results['two_tower'][key]:.4f} fused={results['fused'][key]:.4f} (served: the engine's "
            f"search rows, char-n-gram vectors, ordered by cosine fused with query-word matches, weight "
            f"{WORD_MATCH_WEIGHT}, tuned on validation queries: {tuned}; intent queries; {len(s_rows)} held-out "
            "search requests; recall's clicks were logged on the engine's rows, NDCG's gains are the true pCTR)"
        )
    fr = results["popularity"]["feed_recall50"]
    metrics.append(
        f"metric: feed_recall50={results['two_tower']['feed_recall50']:.4f} baseline={fr:.4f} "
        f"ratio={results['two_tower']['feed_recall50'] / fr:.4f}"
    )
    # what the latency section needs (it runs in the other process: the whole log would be pickled)
    return {"model": model, "data": data, "pv": pv, "kind": sim.kind, "users": sim.users}  # type: ignore[attr-defined]


def zh_pairs() -> tuple[list[str], list[str], list[set[int]]] | None:
    """The Multi-CPR pairs: ``(titles, queries, relevant title rows per query)``; the titles are the pairs' titles
    then 1,000 other Taobao titles (OpenBG). ``None`` (and a line saying so) without ../shared/data."""
    import pandas as pd

    root = SHARED_DATA / "ecomgpt_zh_product_tasks"
    pairs_path = root / "Multi_CPR/tasks/ZH-Multi_CPR-CLS-query_item_matching/test.json"
    if not pairs_path.exists():
        print(f"\n== Chinese query–title pairs: {pairs_path} not found, skipped ==")
        return None
    d = pd.read_json(pairs_path, lines=True)
    parts = d["sentences"].str.split("\n")
    d["q"] = parts.str[0].str.replace("Query: ", "", regex=False)
    d["doc"] = parts.str[1].str.replace("Doc: ", "", regex=False)
    d["match"] = d["labels"].map(lambda lab: lab["en"][0] == "match")
    docs = list(dict.fromkeys(d["doc"].tolist()))
    for task in ("item_coarse_classify", "item_fine_classify"):
        f = root / f"OpenBG_Align/tasks/ZH-OpenBG_Align-CLS-{task}/test.json"
        if f.exists():
            docs += [str(x).split("\t")[0] for x in pd.read_json(f, lines=True)["sentences"]]
    docs = list(dict.fromkeys(docs))
    row_of = {t: i for i, t in enumerate(docs)}
    m = d[d["match"]]
    return docs, m["q"].tolist(), [{row_of[t]} for t in m["doc"]]


def chinese_section(quick: bool, metrics: list[str]) -> None:
    """Real Taobao queries (Multi-CPR via EcomGPT: 167 queries, each with its one relevant title) against a
    corpus of their 500 pair titles plus 1,000 other Taobao titles. The two-tower never sees the real queries:
    it is trained on generated fragment queries of every corpus title (``fragment_queries``, in-batch negatives)
    and served from HNSW, fused with BM25 (CJK characters + bigrams) by RRF. The served rows' fusion weight
    (``CJK_BM25_WEIGHT``) is chosen on one half of the real queries and measured on the other. Skipped without
    ../shared/data."""
    from sitewide.simulator.queries import fragment_queries

    loaded = zh_pairs()
    if loaded is None:
        return
    docs, queries, rel = loaded
    per = 4 if quick else 12
    gen = fragment_queries(docs, np.random.default_rng(8), per_title=per + 1)
    q_text = [q for qs in gen for q in qs[:per]]  # training queries
    q_doc = np.repeat(np.arange(len(docs)), per)
    val_text = [qs[per] for qs in gen]  # one more per title: validation for the fusion weight
    table = ProductTable.from_columns({"id": [str(i) for i in range(len(docs))]}, {})
    n_q = len(q_text)
    data = make_two_tower_data(
        table,
        docs,
        UserTable.from_ids([]),
        q_text + queries + val_text,
        np.full(n_q + len(queries) + len(docs), -1),
        np.zeros(n_q + len(queries) + len(docs), dtype=np.int64),
        np.arange(n_q),
        q_doc,
        1 << 15,
    )
    t0 = time.perf_counter()
    model = train_two_tower(
        data, TwoTowerTrainConfig(epochs=4 if quick else 10, batch_size=256, progress=False)
    )
    pv = product_vectors(model, data)
    hnsw = make_index("hnsw", m=16, ef_construction=80, ef_search=128)
    hnsw.build(np.arange(len(pv)), pv)
    qv = request_vectors(model, data, np.arange(n_q, n_q + len(queries)))
    bm = BM25Index()
    bm.build(np.arange(len(docs)), docs)
    tt_ids, _ = hnsw.search(qv, 50)
    bm_ids, _ = bm.search(queries, 50)
    fused = FusedRetriever(hnsw, bm)
    w = tune_dense_weight(
        fused,
        request_vectors(model, data, np.arange(n_q + len(queries), n_q + len(queries) + len(docs))),
        val_text,
        [{i} for i in range(len(docs))],
    )
    fused_ids, _ = fused.search(qv, queries, 50)
    print(f"fusion: two-tower weight {w} (BM25 1.0), chosen on {len(docs)} generated validation queries")
    # the served retrieval: the engine's own search rows of 50 candidates over these titles (char-n-gram vectors
    # with, for a Chinese query, half the row BM25 matches: CJK_LEXICAL_SHARE, ordered by the fusion of cosine
    # and BM25: CJK_BM25_WEIGHT); the vectors alone; and the rows with lexical_k = 20 (every query's 20 best BM25
    # matches in place of the weakest vector matches). The queries are split in halves by a seeded permutation:
    # the fusion weight is chosen on the tuning half; the headline is the test half.
    gains = np.zeros((len(queries), len(docs)))
    for i, r in enumerate(rel):
        gains[i, list(r)] = 1.0
    perm = np.random.default_rng(25).permutation(len(queries))
    parts = {"tune": np.sort(perm[: len(queries) // 2]), "test": np.sort(perm[len(queries) // 2 :])}
    served, tuned = cjk_fusion_rows(docs, queries, gains, parts["tune"])
    vec_ids, _ = exact_vector_rows(docs, queries)
    hybrid_ids = retrieval_rows(docs, queries, 20)
    print(
        f"\n== Chinese query–title pairs (Multi-CPR): {len(queries)} real queries over {len(docs)} titles; "
        f"two-tower trained on {n_q} generated fragment queries in {time.perf_counter() - t0:.1f} s =="
    )
    print(
        f"CJK fusion weight on BM25: shipped {CJK_BM25_WEIGHT}, best on the tuning half {tuned} "
        f"({len(parts['tune'])} queries; test half {len(parts['test'])} queries)"
    )
    res: dict[str, dict[str, dict[str, float]]] = {}
    named = (*RETRIEVERS, "vectors", "served_cosine")
    rows_of = (served[CJK_BM25_WEIGHT], hybrid_ids, tt_ids, bm_ids, fused_ids, vec_ids, served[0.0])
    for part, at in parts.items():
        print(f"  [{part} half]")
        res[part] = {}
        for name, ids in zip(named, rows_of, strict=True):
            res[part][name] = {
                "recall50": recall_at_k(ids[at], [rel[i] for i in at.tolist()], 50),
                "ndcg10": ndcg_at_k(ids[at], gains[at], 10),
            }
            row(name, res[part][name])
    te, tu = res["test"], res["tune"]
    at = parts["test"]
    per_query = {  # served − BM25 per test query, for the paired standard error of the difference
        "recall50": [
            recall_at_k(rows_of[0][[i]], [rel[i]], 50) - recall_at_k(bm_ids[[i]], [rel[i]], 50) for i in at
        ],
        "ndcg10": [
            ndcg_at_k(rows_of[0][[i]], gains[[i]], 10) - ndcg_at_k(bm_ids[[i]], gains[[i]], 10) for i in at
        ],
    }
    for key in ("recall50", "ndcg10"):
        f_, b_ = te["served"][key], te["bm25"][key]
        diff_se = float(np.std(per_query[key], ddof=1) / np.sqrt(len(at)))
        metrics.append(
            f"metric: zh_pairs_{key}={f_:.4f} baseline={b_:.4f} ratio={f_ / b_:.4f} diff_se={diff_se:.4f} "
            f"tune_half={tu['served'][key]:.4f} tune_baseline={tu['bm25'][key]:.4f} "
            f"cosine_order={te['served_cosine'][key]:.4f} vectors_only={te['vectors'][key]:.4f} "
            f"hybrid={te['served_hybrid'][key]:.4f} two_tower={te['two_tower'][key]:.4f} "
            f"fused={te['fused'][key]:.4f} (real Taobao queries, test half; served: the engine's 50-candidate "
            "search rows, char-n-gram vectors + BM25 for Chinese queries, ordered by their fusion, vs BM25)"
        )
    zh_bm25_cost(docs, queries, 20_000 if quick else 100_000, metrics)


def zh_bm25_cost(docs: list[str], queries: list[str], n: int, metrics: list[str]) -> None:
    """A Chinese query's BM25 cost over ``n`` titles (the real titles, then titles spliced from 2–6 character
    pieces of them): at most ``max_postings`` postings read a query vs scoring every title (``bm25s`` over the
    whole catalogue: the index below ``exact_below`` titles, and every catalogue before), CPU ms a query."""
    from sitewide.index.bm25 import tokenize

    rng = np.random.default_rng(0)
    titles = list(docs)
    while len(titles) < n:
        t = ""
        while len(t) < 30:
            d = docs[int(rng.integers(len(docs)))]
            a = int(rng.integers(0, max(1, len(d) - 4)))
            t += d[a : a + int(rng.integers(2, 7))]
        titles.append(t)
    w0 = time.perf_counter()
    bm = BM25Index(exact_below=0)  # the postings path (the served index takes it past 50,000 titles)
    bm.build(np.arange(n), titles)
    build_s = time.perf_counter() - w0
    c0 = time.process_time()
    ids, _ = bm.search(queries, 50)
    bounded_ms = (time.process_time() - c0) / len(queries) * 1e3
    c0 = time.process_time()
    overlap = []
    for r, q in enumerate(queries):  # every title scored, the top 50 as the index returned them before
        s = np.asarray(bm._bm25.get_scores(tokenize(q)), dtype=np.float64)
        top = np.argpartition(-s, 49)[:50]
        top = set(top[s[top] > 0].tolist())
        overlap.append(len(top & set(ids[r][ids[r] >= 0].tolist())) / max(1, len(top)))
    every_ms = (time.process_time() - c0) / len(queries) * 1e3
    print(f"BM25 over {n} Chinese titles: built in {build_s:.1f} s wall; max_postings {bm.max_postings}")
    metrics.append(
        f"metric: zh_bm25_query_cpu_ms={bounded_ms:.3f} baseline={every_ms:.3f} ratio={bounded_ms / every_ms:.3f} "
        f"titles={n} top50_overlap={np.mean(overlap):.4f} (CPU ms a Chinese query, {len(queries)} real queries; "
        "baseline: every title scored)"
    )


def engine_rows(world: Any, config: Any, requests: np.ndarray, sim: Any, eng: Any = None) -> np.ndarray:
    """The engine's own candidate rows (world product rows, ``-1`` padded) for held-out logged requests (``eng``:
    that engine over ``world``, else one built with ``config``)."""
    from sitewide.wiring import world_engine

    eng = eng if eng is not None else world_engine(world, config)
    world_row = {p.id: i for i, p in enumerate(world.product_list)}
    e2w = np.array([world_row[i] for i in eng.catalogue_ids()], dtype=np.int64)
    batch = RequestBatch(
        [f"h{i}" for i in range(len(requests))],
        [world.users.ids[u] for u in sim.users[requests].tolist()],
        np.asarray(sim.kind[requests], dtype=np.int64),
        [sim.queries[i] for i in requests.tolist()],
        0,
        10,
    )
    cand, _ = eng.retrieve(batch)
    out: np.ndarray = np.where(cand >= 0, e2w[np.maximum(cand, 0)], -1)
    return out


WORD_WEIGHT_GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def word_weight_rows(
    world: Any, requests: np.ndarray, sim: Any, weights: tuple[float, ...] = WORD_WEIGHT_GRID
) -> dict[float, np.ndarray]:
    """The engine's 50-candidate rows (world product rows) for logged ``requests`` under each English word-match
    weight (``Retrieval.word_weight``; 0: cosine order)."""
    from sitewide.engine import EngineConfig
    from sitewide.wiring import world_engine

    eng = world_engine(world, EngineConfig(scorer="priors", retrieve_k=50))
    out = {}
    for w in weights:
        eng.retrieval.word_weight = w
        out[w] = engine_rows(world, None, requests, sim, eng)
    return out


def ndcg_rows(ids: np.ndarray, requests: np.ndarray, world: Any, sim: Any, chunk: int = 1_000) -> np.ndarray:
    """NDCG@10 of each logged request's row ``ids`` (world product rows) with the true pCTR as gain over the whole
    catalogue (computed in chunks: a request's gains are a catalogue-wide row)."""
    out = np.zeros(len(requests))
    allp = np.arange(len(world.products))[None, :]
    for a in range(0, len(requests), chunk):
        r = requests[a : a + chunk]
        kinds = sim.kind[r]
        g = world.true_pctr(
            sim.users[r][:, None], allp, kinds[:, None], np.where(kinds == 0, sim.intent[r], -1)[:, None]
        )
        out[a : a + chunk] = [ndcg_at_k(ids[a + j : a + j + 1], g[j : j + 1], 10) for j in range(len(r))]
    return out


def engine_retrieval(titles: list[str], lexical_k: int, k: int = 50) -> Retrieval:
    """The engine's retrieval (``engine.retrieval.Retrieval``: its default encoder, an exact index, BM25) of
    ``k`` candidates a row over a catalogue of ``titles`` (catalogue row i = title i: ids sort as titles do)."""
    from sitewide.domain.types import Micros, Product
    from sitewide.engine import EngineConfig
    from sitewide.engine.catalogue import Catalogue

    cfg = EngineConfig(retrieve_k=k, lexical_k=lexical_k)
    products = [Product(f"p{i:06d}", "s", t, "", Micros(1_000_000)) for i, t in enumerate(titles)]
    enc = CharNgramEncoder(cfg.encoder_dim)
    cat = Catalogue(cfg)
    cat.load(products, enc)
    prior = SimilarityPriorScorer(cat.price, cat.category)
    r = Retrieval(cfg, cat, enc, make_index("exact"), lambda _: prior, BM25Index())
    r.rebuild()
    return r


def search_batch(queries: list[str]) -> RequestBatch:
    n = len(queries)
    return RequestBatch([f"q{i}" for i in range(n)], ["u"] * n, np.zeros(n, dtype=np.int64), queries, 0, 10)


def retrieval_rows(titles: list[str], queries: list[str], lexical_k: int, k: int = 50) -> np.ndarray:
    """The engine's search rows of ``k`` candidates for ``queries`` over ``titles``, in the row's order."""
    cand, _ = engine_retrieval(titles, lexical_k, k).retrieve(search_batch(queries))
    return cand


CJK_WEIGHT_GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def cjk_fusion_rows(
    titles: list[str], queries: list[str], gains: np.ndarray, tune: np.ndarray
) -> tuple[dict[float, np.ndarray], float]:
    """The engine's rows (``lexical_k`` = 0) under each weight of :data:`CJK_WEIGHT_GRID` and the shipped
    :data:`CJK_BM25_WEIGHT`, and the weight with the best NDCG@10 on the ``tune`` queries (ties: the smaller)."""
    r = engine_retrieval(titles, 0)
    batch = search_batch(queries)
    rows: dict[float, np.ndarray] = {}
    for w in sorted({*CJK_WEIGHT_GRID, CJK_BM25_WEIGHT}):
        r.cjk_bm25_weight = w
        rows[w], _ = r.retrieve(batch)
    best = max(CJK_WEIGHT_GRID, key=lambda w: (round(ndcg_at_k(rows[w][tune], gains[tune], 10), 9), -w))
    return rows, best


def exact_vector_rows(titles: list[str], queries: list[str], k: int = 50) -> tuple[np.ndarray, np.ndarray]:
    enc = CharNgramEncoder(256)
    index = make_index("exact")
    index.build(np.arange(len(titles)), enc.encode(titles))
    ids, sims = index.search(enc.encode(queries), k)
    return ids, sims


def products_buckets(products: ProductTable) -> int:
    return 1 << 15


def latency_section(ctx: dict[str, object], rctx: dict[str, object], quick: bool, metrics: list[str]) -> None:
    import faiss

    faiss.omp_set_num_threads(1)
    n = 50_000 if quick else 1_000_000
    products = ctx["products"]
    scorer = ctx["scorer"]
    kind, users = rctx["kind"], rctx["users"]
    assert isinstance(kind, np.ndarray) and isinstance(users, np.ndarray)
    pv = rctx["pv"]
    model, data = rctx["model"], rctx["data"]
    assert isinstance(products, ProductTable) and isinstance(pv, np.ndarray)
    rng = np.random.default_rng(5)
    base = np.arange(n) % len(pv)
    vecs = pv[base] + 0.05 * rng.standard_normal((n, pv.shape[1])).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    big = products.take(base)
    big_scorer = scorer.bind(big, scorer.pipeline.users)  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    index = make_index("hnsw", m=16, ef_construction=40, ef_search=128)
    index.build(np.arange(n), vecs)
    build_s = time.perf_counter() - t0
    allowed = rng.random(n) < 0.9  # eligibility: 10 % of products held out of the pool
    print(f"\n== Latency: {n} products (quick={quick}), HNSW built in {build_s:.1f} s, one core ==")
    reqs = rng.choice(len(users), size=300)
    times = []
    for r in reqs.tolist():
        t = time.perf_counter()
        q = request_vectors(model, data, np.array([r]))  # type: ignore[arg-type]
        ids, sims = index.search(q, 100, allowed=allowed)
        x = ScoreInput(product=ids, request_kind=kind[[r]], user=users[[r]], similarity=sims)
        pctr, pcvr = big_scorer.score(x)
        _ = np.argsort(-(pctr * pcvr), axis=1)[:, :10]
        times.append((time.perf_counter() - t) * 1000)
    ts = np.array(times[20:])  # first requests warm caches
    print(
        f"retrieve+rank ms: p50={np.percentile(ts, 50):.2f} p99={np.percentile(ts, 99):.2f} max={ts.max():.2f}"
    )
    metrics.append(
        f"metric: retrieve_rank_p99_ms={np.percentile(ts, 99):.3f} target=20 products={n} p50_ms={np.percentile(ts, 50):.3f}"
    )


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def timed(section: Callable[..., T], *args: Any) -> T:
    """Run one section and print its wall and CPU time (the CPU time is what the machine's load does not
    inflate: the check's time limit is wall time)."""
    w, c = time.perf_counter(), time.process_time()
    out = section(*args)
    print(f"[{section.__name__}: {time.perf_counter() - w:.1f} s wall, {time.process_time() - c:.1f} s CPU]")
    return out


SideResult = tuple[dict[str, list[str]], str, float, dict[str, object]]


def side_sections(quick: bool) -> SideResult:
    """The sections that need nothing from the simulator section (OBD, the shipped checkpoint, the market,
    retrieval, the Chinese pairs), run in a second process while the first runs the simulator section: the
    machine has two cores. Returns each section's metric lines, the printed output, the CPU time and what the
    latency section needs from the retrieval section."""
    torch.set_num_threads(1)
    out: dict[str, list[str]] = {}
    buf = io.StringIO()
    c0 = time.process_time()
    with contextlib.redirect_stdout(buf):
        for section in (obd_section, shipped_section, market_section):
            out[section.__name__] = []
            timed(section, quick, out[section.__name__])
        out["retrieval_section"] = []
        rctx = timed(retrieval_section, quick, out["retrieval_section"])
        out["chinese_section"] = []
        timed(chinese_section, quick, out["chinese_section"])
    return out, buf.getvalue(), time.process_time() - c0, rctx


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--serial", action="store_true", help="one process (the default runs two)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    c0 = time.process_time()
    pool = None if args.serial else multiprocessing.get_context("fork").Pool(1)  # before any OpenMP thread
    side = None if pool is None else pool.apply_async(side_sections, (args.quick,))
    if side is None:
        side_metrics, side_out, side_cpu, rctx = side_sections(args.quick)
        print(side_out, end="")
    main_metrics: dict[str, list[str]] = {"sim_section": [], "latency_section": []}
    ctx = timed(sim_section, args.quick, main_metrics["sim_section"])
    if side is not None and pool is not None:
        side_metrics, side_out, side_cpu, rctx = (
            side.get()
        )  # the latency section runs on an otherwise idle core
        pool.close()
        pool.join()
        print(side_out, end="")
    timed(latency_section, ctx, rctx, args.quick, main_metrics["latency_section"])
    print(
        f"\ntotal {time.perf_counter() - t0:.1f} s wall, {time.process_time() - c0 + side_cpu:.1f} s CPU "
        f"({'one process' if args.serial else 'two processes'}); load {_load()}"
    )
    every = {**side_metrics, **main_metrics}
    for name in (
        "obd_section",
        "sim_section",
        "shipped_section",
        "market_section",
        "retrieval_section",
        "chinese_section",
        "latency_section",
    ):
        for m in every[name]:
            print(m)
    rss = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    )
    print(f"metric: peak_rss_mb={rss / 1024:.1f} (the larger of the two processes)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
