"""Matching and ranking benchmark: models vs baselines trained on the same split in the same run.

    python bench/ranking.py            # full: bigger simulator logs, latency over 1,000,000 products
    python bench/ranking.py --quick    # 80k instead of 150k logged requests, latency over 50,000 products (~70 s)

1. Click model on the Open Bandit Dataset (real ZOZOTOWN impressions; ../shared/data/open_bandit_dataset, or
   the in-repo 4,000-row fixture when the shared folder is absent), 5-fold cross-validated. No ceiling: true
   probabilities are unknown. Honest finding: with 80 clicks in 20,000 impressions every model is at chance
   (no single feature — affinity, position, item feature, propensity — has an AUC above 0.52 either), so the
   obd_ctr ratio reflects noise, not a ranking of the models.
2. CTR / CVR / CTCVR on logs from the calibrated simulator (``sitewide.simulator``, packaged 2,000 real
   Walmart/Amazon titles) where true probabilities are known (the ceiling AUC). One deviation from the
   calibration, so that the CVR task has enough positives in a short run: ``target_cvr = 0.10`` (the calibrated
   Ali-CCP figure is 0.53 %). Context, not a claim: ESMM's published full Ali-CCP AUCs are CTR 0.5975,
   CVR 0.6841, CTCVR 0.6363.
3. Retrieval on the simulator's held-out requests: two-tower vs BM25 (search only) vs popularity;
   recall@50 of the clicked products and NDCG@10 with the true pCTR as gain over the whole catalogue.
4. Latency of retrieval (request tower + HNSW top-100 with an eligibility mask) + ranking (the learned scorer on
   the 100 candidates) for one request on one core, over a catalogue of the real products' vectors replicated
   with noise to 1,000,000 (--quick: 50,000).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

from sitewide.index.bm25 import BM25Index
from sitewide.index.exact import ExactIndex
from sitewide.index.factory import make_index
from sitewide.models.baselines import LogisticRegressionModel, PopularityModel
from sitewide.models.data import load_obd, product_texts, simulate_exposures, split_rows
from sitewide.models.encoders import HashedNgramEncoder
from sitewide.models.features import FeaturePipeline, ProductTable, UserTable
from sitewide.models.metrics import auc, expected_calibration_error, log_loss, ndcg_at_k, recall_at_k
from sitewide.models.ranker import RankerConfig
from sitewide.models.scorer import LoggedPrediction
from sitewide.models.train import TrainConfig, TwoTowerTrainConfig, train_ranker, train_two_tower
from sitewide.models.two_tower import make_two_tower_data, product_vectors, request_vectors
from sitewide.ports import ScoreInput

ROOT = Path(__file__).resolve().parents[1]
SHARED_OBD = ROOT.parent / "shared" / "data" / "open_bandit_dataset"
FIXTURE_OBD = ROOT / "tests" / "fixtures" / "ranking_obd"


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
    best = max(v for k, v in aucs.items() if k != "model")
    line = f"metric: {task}_auc={aucs['model']:.4f} baseline={best:.4f} ratio={aucs['model'] / best:.4f}"
    if ceiling is not None:
        line += f" ceiling={auc(y, ceiling):.4f}"
    metrics.append(line)
    metrics.append(f"metric: {task}_ece={expected_calibration_error(y, preds['model']):.5f}")


def obd_section(quick: bool, metrics: list[str]) -> None:
    """5-fold cross-validation: every impression is predicted by models that did not see it (80 clicks in
    20,000 impressions are too few for one held-out split). Inside each fold 15 % of the training rows are the
    early-stopping / calibration split."""
    root = SHARED_OBD if (SHARED_OBD / "random" / "all.csv").exists() else FIXTURE_OBD
    data = load_obd(root)
    n = data.log.n_requests
    print(f"\n== Open Bandit Dataset click model ({root}, {n} impressions, 5-fold CV) ==")
    pipe = FeaturePipeline(data.products, data.users, n_positions=3)
    cfg = TrainConfig(
        epochs=12,
        batch_size=512,
        lr=3e-3,
        weight_decay=1e-4,
        seed=0,
        patience=3,
        progress=False,
        model=RankerConfig(emb_dim=4, hidden=(16,)),
    )
    folds = split_rows(n, [0.2] * 5, np.random.default_rng(7))
    preds = {k: np.zeros(n) for k in ("model", "logreg", "popularity")}
    for i, te in enumerate(folds):
        rest = np.concatenate([f for j, f in enumerate(folds) if j != i])
        rest = np.random.default_rng(i).permutation(rest)
        va, tr = np.sort(rest[: len(rest) * 15 // 100]), np.sort(rest[len(rest) * 15 // 100 :])
        test = data.log.subset(te)
        scorer = train_ranker(pipe, data.log.subset(tr), data.log.subset(va), cfg)
        preds["model"][te] = scorer.predict_logged(test.inputs).click
        preds["logreg"][te] = (
            LogisticRegressionModel(pipe, l2=1e-3).fit(data.log.subset(tr)).predict_logged(test.inputs).click
        )
        preds["popularity"][te] = (
            PopularityModel(len(data.products)).fit(data.log.subset(tr)).predict_logged(test.inputs).click
        )
    y = data.log.click[:, 0].astype(float)
    evaluate("obd_ctr", y, preds, None, metrics)


def sim_section(quick: bool, metrics: list[str]) -> dict[str, object]:
    from sitewide.simulator import SimConfig, build_world

    n_req = 80_000 if quick else 150_000
    world = build_world(SimConfig(users=2_000, merchants=50, seed=0, target_cvr=0.10))
    enc = HashedNgramEncoder(dim=128)
    texts = product_texts(world)
    pvec = enc.encode(texts)
    t0 = time.perf_counter()
    sim = simulate_exposures(world, n_req, np.random.default_rng(11), enc, pvec)
    print(
        f"\n== Simulator logs: {n_req} requests × {world.config.slots} slots, {len(world.products)} products, "
        f"{len(world.users)} users ({time.perf_counter() - t0:.1f} s) =="
    )
    tr, va, te = split_rows(n_req, [0.7, 0.1, 0.2], np.random.default_rng(12))
    products = ProductTable.from_products(world.product_list)
    users = UserTable.from_ids(world.users.ids)
    pipe = FeaturePipeline(products, users, n_positions=world.config.slots)
    t0 = time.perf_counter()
    cfg = TrainConfig(epochs=4 if quick else 8, batch_size=2048, lr=3e-3, seed=0, progress=False)
    scorer = train_ranker(pipe, sim.log.subset(tr), sim.log.subset(va), cfg)
    print(f"ranker trained in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    lr = LogisticRegressionModel(pipe).fit(sim.log.subset(tr))
    pop = PopularityModel(len(world.products)).fit(sim.log.subset(tr))
    print(f"baselines trained in {time.perf_counter() - t0:.1f} s")
    test = sim.subset(te)
    rows, cols = np.nonzero(test.log.inputs.product >= 0)
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
    return {
        "world": world,
        "sim": sim,
        "tr": tr,
        "te": te,
        "products": products,
        "users": users,
        "scorer": scorer,
        "texts": texts,
        "pop": pop,
    }


def retrieval_section(ctx: dict[str, object], quick: bool, metrics: list[str]) -> dict[str, object]:
    world = ctx["world"]
    sim = ctx["sim"]
    tr, te = ctx["tr"], ctx["te"]
    products, users, texts, pop = ctx["products"], ctx["users"], ctx["texts"], ctx["pop"]
    assert isinstance(tr, np.ndarray) and isinstance(te, np.ndarray)
    log = sim.log  # type: ignore[attr-defined]
    human = ~world.users.is_bot[sim.users]  # type: ignore[attr-defined]
    r_idx, s_idx = np.nonzero(log.click)
    train_mask = np.isin(r_idx, tr) & human[r_idx]
    data = make_two_tower_data(
        products,
        texts,
        users,
        sim.queries,
        sim.users,
        sim.kind,  # type: ignore[attr-defined]
        r_idx[train_mask],
        log.inputs.product[r_idx[train_mask], s_idx[train_mask]],
        products_buckets(products),
    )
    t0 = time.perf_counter()
    cfg = TwoTowerTrainConfig(epochs=8 if quick else 12, batch_size=512, seed=0, progress=False)
    model = train_two_tower(data, cfg)
    print(
        f"\n== Retrieval: two-tower trained on {int(train_mask.sum())} clicks in {time.perf_counter() - t0:.1f} s =="
    )
    pv = product_vectors(model, data)
    # held-out human requests that have at least one click
    te_clicked = np.array(sorted(set(r_idx[np.isin(r_idx, te)].tolist())))
    te_clicked = te_clicked[human[te_clicked]]
    rel = [set(log.inputs.product[r, log.click[r]].tolist()) for r in te_clicked]
    exact = ExactIndex()
    exact.build(np.arange(len(pv)), pv)
    tt_ids, _ = exact.search(request_vectors(model, data, te_clicked), 50)
    bm = BM25Index()
    bm.build(np.arange(len(texts)), texts)  # type: ignore[arg-type]
    queries = [sim.queries[i] for i in te_clicked.tolist()]  # type: ignore[attr-defined]
    bm_ids, _ = bm.search(queries, 50)
    pop_top = np.argsort(-pop.scores(), kind="stable")[:50]  # type: ignore[attr-defined]
    pop_ids = np.tile(pop_top, (len(te_clicked), 1))
    # hybrid for search: alternate two-tower and BM25 results, de-duplicated
    hyb = np.array(
        [
            _interleave(a, b, 50) if sim.kind[r] == 0 else a
            for a, b, r in zip(tt_ids, bm_ids, te_clicked, strict=True)
        ]
    )  # type: ignore[attr-defined]
    kinds = sim.kind[te_clicked]  # type: ignore[attr-defined]
    u = sim.users[te_clicked]  # type: ignore[attr-defined]
    intent = sim.intent[te_clicked]  # type: ignore[attr-defined]
    gains = world.true_pctr(
        u[:, None],
        np.arange(len(world.products))[None, :],
        kinds[:, None],
        np.where(kinds == 0, intent, -1)[:, None],
    )  # type: ignore[attr-defined]
    results = {}
    for name, ids in (("two_tower", tt_ids), ("bm25", bm_ids), ("popularity", pop_ids), ("hybrid", hyb)):
        res = {}
        for seg, m in (("all", np.ones(len(kinds), bool)), ("search", kinds == 0), ("feed", kinds == 1)):
            if name == "bm25" and seg != "search":
                continue
            rl = [rel[i] for i in np.flatnonzero(m)]
            res[f"{seg}_recall50"] = recall_at_k(ids[m], rl, 50)
            res[f"{seg}_ndcg10"] = ndcg_at_k(ids[m], gains[m], 10)
        results[name] = res
        row(name, res)
    best_r = max(results["bm25"]["search_recall50"], results["popularity"]["search_recall50"])
    metrics.append(
        f"metric: search_recall50={results['two_tower']['search_recall50']:.4f} baseline={best_r:.4f} "
        f"ratio={results['two_tower']['search_recall50'] / best_r:.4f}"
    )
    best_n = max(results["bm25"]["search_ndcg10"], results["popularity"]["search_ndcg10"])
    metrics.append(
        f"metric: search_ndcg10={results['two_tower']['search_ndcg10']:.4f} baseline={best_n:.4f} "
        f"ratio={results['two_tower']['search_ndcg10'] / best_n:.4f}"
    )
    metrics.append(f"metric: search_hybrid_recall50={results['hybrid']['search_recall50']:.4f}")
    fr = results["popularity"]["feed_recall50"]
    metrics.append(
        f"metric: feed_recall50={results['two_tower']['feed_recall50']:.4f} baseline={fr:.4f} "
        f"ratio={results['two_tower']['feed_recall50'] / fr:.4f}"
    )
    return {"model": model, "data": data, "pv": pv}


def products_buckets(products: ProductTable) -> int:
    return 1 << 15


def _interleave(a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
    out: list[int] = []
    seen: set[int] = set()
    for x, y in zip(a.tolist(), b.tolist(), strict=True):
        for v in (x, y):
            if v >= 0 and v not in seen and len(out) < k:
                out.append(v)
                seen.add(v)
    return np.array(out + [-1] * (k - len(out)), dtype=np.int64)


def latency_section(ctx: dict[str, object], rctx: dict[str, object], quick: bool, metrics: list[str]) -> None:
    import faiss

    faiss.omp_set_num_threads(1)
    n = 50_000 if quick else 1_000_000
    products = ctx["products"]
    scorer = ctx["scorer"]
    sim = ctx["sim"]
    pv = rctx["pv"]
    model, data = rctx["model"], rctx["data"]
    assert isinstance(products, ProductTable) and isinstance(pv, np.ndarray)
    rng = np.random.default_rng(5)
    base = np.arange(n) % len(pv)
    vecs = pv[base] + 0.05 * rng.standard_normal((n, pv.shape[1])).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    big = ProductTable(products.fields, products.dense_names, products.codes[base], products.dense[base])
    big_scorer = scorer.bind(big, scorer.pipeline.users)  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    index = make_index("hnsw", m=16, ef_construction=40, ef_search=128)
    index.build(np.arange(n), vecs)
    build_s = time.perf_counter() - t0
    allowed = rng.random(n) < 0.9  # eligibility: 10 % of products held out of the pool
    print(f"\n== Latency: {n} products (quick={quick}), HNSW built in {build_s:.1f} s, one core ==")
    reqs = rng.choice(len(sim.users), size=300)  # type: ignore[attr-defined]
    times = []
    for r in reqs.tolist():
        t = time.perf_counter()
        q = request_vectors(model, data, np.array([r]))  # type: ignore[arg-type]
        ids, sims = index.search(q, 100, allowed=allowed)
        x = ScoreInput(product=ids, request_kind=sim.kind[[r]], user=sim.users[[r]], similarity=sims)  # type: ignore[attr-defined]
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    metrics: list[str] = []
    obd_section(args.quick, metrics)
    ctx = sim_section(args.quick, metrics)
    rctx = retrieval_section(ctx, args.quick, metrics)
    latency_section(ctx, rctx, args.quick, metrics)
    print(f"\ntotal {time.perf_counter() - t0:.1f} s")
    for m in metrics:
        print(m)
    print(f"metric: peak_rss_mb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
