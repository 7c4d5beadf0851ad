"""Serving benchmark: one request end to end through ``Engine.serve`` over a 1,000,000-product catalogue.

    python bench/serving.py            # 2,000 timed requests (ANN) and 200 (exact baseline)
    python bench/serving.py --quick    # 300 and 20

The catalogue is ``sitewide.simulator.big_catalogue``: products recombined from the packaged real catalogue
(categories, title words, brands and prices), so that an exact top-100 holds ~100 distinct products (printed as
``distinct_products_top100``). 200 campaigns promote 100,000 of them. Requests are 70 % search (intent queries
from ``sitewide.simulator.queries``: synonyms, typos, Chinese) and 30 % feed (new users, so every request misses
the candidate cache; the cache is on, as in serving). Every request is timed around ``engine.serve``: query
featurisation → retrieval (the default faiss IVF index) → the shipped learned ranker → values, pacing and bids →
the auction → accounting and the response; per-stage means come from the engine's stage timer. The baseline,
measured in the same run on fewer requests, is the same engine with brute-force exact search (the engine's
retrieval before this change). Each request's CPU time (``time.thread_time``) is printed beside its wall
time (``serve_cpu_p*_ms``): on a shared, loaded machine the wall time includes waiting for a core.
``ann_recall100`` compares the two indexes' top-100 on the benchmark's own
requests (queries the index's tuning never saw: it tunes on fragments of product texts). One core for faiss and
torch. The IVF cells are SQ8 and retrieval re-ranks 1.3 × k rows by exact cosine (``sitewide.index.ann``).

Every run builds from cold, through the engine's own path (no cache): the catalogue is generated (vectorised),
loaded into a ``MemoryStore``, and ``sitewide.wiring.make_engine`` builds the engine as a service would —
``Catalogue.load`` encodes the texts (the char-n-gram encoder's catalogue path: words × units through
``embedding_bag``) and judges the pool (vectorised for products without signals), ``Retrieval.rebuild`` builds
and tunes the IVF index and binds the learned ranker. The times of these steps are printed (wall and CPU);
``build_cold_s`` is their sum with generation. A sample of catalogue rows is checked against encoding each text
alone (the vectors the engine serves with are the encoder's). The HTTP part (``bench/serving_http.py``, over the
packaged 2,000 products, ``sitewide serve --workers 2`` unless ``--http-workers`` says otherwise) seeds its data
dir and starts its server at the beginning, in its own processes, while the 1M engine builds; it is timed at the
end, after the in-process part, when nothing else runs.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import importlib.util
import os
import resource
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

# BLAS and OpenMP at one thread, as `sitewide serve` sets them: the engine's requests run one per core (numpy's
# default two BLAS threads spin on a loaded machine: the exact baseline's requests cost 180 ms of process CPU
# for 66 ms of their own thread's); the IVF build still asks faiss for more threads (index.ann._threads)
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from sitewide.catalogue import packaged_catalogue  # noqa: E402
from sitewide.domain.money import Micros  # noqa: E402
from sitewide.domain.time import day_bounds  # noqa: E402
from sitewide.domain.types import Campaign, RequestKind, ServeRequest  # noqa: E402
from sitewide.engine import Engine, EngineConfig  # noqa: E402
from sitewide.engine.catalogue import Catalogue  # noqa: E402
from sitewide.engine.retrieval import StageTimer  # noqa: E402
from sitewide.index.ann import FaissIndex, recall  # noqa: E402
from sitewide.index.exact import ExactIndex, blocked_exact  # noqa: E402
from sitewide.models.char_ngram import CharNgramEncoder  # noqa: E402
from sitewide.ports import RequestBatch  # noqa: E402
from sitewide.simulator.big_catalogue import big_catalogue  # noqa: E402
from sitewide.simulator.queries import QueryGenerator  # noqa: E402
from sitewide.storage.memory import MemoryStore  # noqa: E402
from sitewide.wiring import freeze_heap, make_engine, small_pages  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
T0 = day_bounds("2026-03-02")[0] + 9 * 3_600_000
STAGES = ("featurise", "retrieve", "score", "cache", "bid", "auction", "log", "respond")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def campaigns(n_products: int, seed: int, n_campaigns: int = 200, per: int = 500) -> list[Campaign]:
    rng = np.random.default_rng(seed + 1)
    per = min(per, n_products // (10 * n_campaigns) or 1)  # a tenth of the catalogue is promoted
    picks = rng.choice(n_products, size=(n_campaigns, per), replace=False)
    return [
        Campaign(
            f"bench-c{i:03d}",
            f"bench-m{i:03d}",
            f"campaign {i}",
            tuple(f"g{seed}-{j:07d}" for j in sorted(row.tolist())),
            Decimal(str(round(float(rng.uniform(1.5, 6.0)), 2))),
            Micros(int(rng.integers(50, 500)) * 1_000_000_000),
        )
        for i, row in enumerate(picks)
    ]


class Steps:
    """Wall and CPU seconds of the named build steps (methods wrapped while the engine is built)."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def wrap(self, owner: Any, method: str, name: str) -> None:
        fn = getattr(owner, method)

        def timed_call(*a: Any, **kw: Any) -> Any:
            t, c = time.perf_counter(), time.process_time()
            try:
                return fn(*a, **kw)
            finally:
                self.wall[name] = self.wall.get(name, 0.0) + time.perf_counter() - t
                self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - c

        setattr(owner, method, timed_call)


def build(n: int, seed: int) -> tuple[Engine, Steps]:
    """Generate the catalogue and build the serving engine from cold through ``make_engine`` (default adapters:
    IVF index, learned ranker), timing the steps."""
    steps = Steps()
    t, c = time.perf_counter(), time.process_time()
    shops, products = big_catalogue(packaged_catalogue()[1], n, seed)
    steps.wall["generate"], steps.cpu["generate"] = time.perf_counter() - t, time.process_time() - c
    store = MemoryStore()
    store.upsert_shops(shops)
    store.upsert_products(products)
    for camp in campaigns(n, seed):
        store.create_campaign(camp)
    del products
    for owner, method, name in (
        (Catalogue, "load", "catalogue_load"),
        (CharNgramEncoder, "encode_words", "encode"),
        (Catalogue, "apply_quality", "pool"),
        (FaissIndex, "build", "index_build"),
        (FaissIndex, "tune", "index_tune"),
    ):
        steps.wrap(owner, method, name)
    t, c = time.perf_counter(), time.process_time()
    engine = make_engine(store, EngineConfig(), index=FaissIndex(kind="ivf"))
    steps.wall["make_engine"], steps.cpu["make_engine"] = time.perf_counter() - t, time.process_time() - c
    return engine, steps


class FlatExact:
    """Exact inner-product search for many queries at once (``sitewide.index.exact.blocked_exact``: by blocks of
    catalogue rows, one float32 matrix product into a reused buffer and a top-k per block, then the top-k of the
    blocks' winners; torch, one thread). About a second for a hundred queries over 1M products, where
    :class:`ExactIndex` writes and sorts a ``[queries × catalogue]`` score matrix (~5 s of the quick run) and
    ``faiss.knn`` took 3.5 s. The same top-k as :class:`ExactIndex` but for which of the products tied at the
    k-th score (equal, or within one float32 rounding) is kept. The recall's ground truth; the timed baseline
    stays :class:`ExactIndex` (the engine's retrieval before the IVF index)."""

    overfetch = 1.0

    def __init__(self, vecs: np.ndarray) -> None:
        self.vecs = vecs

    def search(self, queries: np.ndarray, k: int, allowed: Any = None) -> tuple[np.ndarray, np.ndarray]:
        assert allowed is None, "the recall's retrieval passes no mask"
        return blocked_exact(queries, self.vecs, np.arange(len(self.vecs), dtype=np.int64), k)


def check_vectors(engine: Engine, n: int = 300) -> None:
    """The catalogue's vectors (encoded as one batch) are what encoding each text alone gives, bit for bit."""
    cat = engine.catalogue
    rows = np.random.default_rng(5).choice(len(cat.ids), size=min(n, len(cat.ids)), replace=False)
    alone = np.stack([engine.encoder.encode([cat.texts[r]])[0] for r in rows.tolist()])
    assert np.array_equal(alone, cat.vecs[rows]), "batch-encoded catalogue vectors differ from per-text ones"


def requests(engine: Engine, n: int, seed: int) -> list[ServeRequest]:
    rng = np.random.default_rng(seed)
    cat = engine.catalogue
    targets = rng.integers(0, len(cat.ids), size=n)
    prods = [cat.products[i] for i in targets.tolist()]
    gen = QueryGenerator([p.title for p in prods], [p.brand for p in prods], np.zeros(len(prods)))
    out = []
    for i in range(n):
        if rng.random() < 0.7:
            out.append(
                ServeRequest(f"q{seed}-{i}", f"su{seed}-{i}", RequestKind.SEARCH, gen.one(i, rng), 10, 0)
            )
        else:
            out.append(ServeRequest(f"f{seed}-{i}", f"fu{seed}-{i}", RequestKind.FEED, "", 10, 0))
    return [
        ServeRequest(r.request_id, r.user_id, r.kind, r.query, r.slots, T0 + 50 * i)
        for i, r in enumerate(out)
    ]


def timed(
    engine: Engine, reqs: list[ServeRequest], warm: int
) -> tuple[np.ndarray, np.ndarray, dict[str, float], int]:
    """Per-request wall ms and CPU ms (this thread) of ``engine.serve`` (after ``warm`` untimed requests),
    mean wall ms per stage, promoted slots. On a loaded machine wall time includes waiting for a core; the
    CPU time does not."""
    for r in reqs[:warm]:
        engine.serve(r)
    timer = StageTimer()
    engine.retrieval.timer = timer
    ms, cpu, ads = [], [], 0
    for r in reqs[warm:]:
        c, t = time.thread_time(), time.perf_counter()
        res = engine.serve(r)
        ms.append((time.perf_counter() - t) * 1e3)
        cpu.append((time.thread_time() - c) * 1e3)
        ads += sum(s.promoted for s in res.slots)
    engine.retrieval.timer = None
    n = max(len(ms), 1)
    return np.array(ms), np.array(cpu), {k: timer.ms.get(k, 0.0) / n for k in STAGES}, ads


def batch_of(reqs: list[ServeRequest]) -> RequestBatch:
    return RequestBatch(
        [r.request_id for r in reqs],
        [r.user_id for r in reqs],
        np.array([int(r.kind) for r in reqs], dtype=np.int64),
        [r.query for r in reqs],
        T0,
        10,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--products", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--nprobe", type=int, default=0, help="override the tuned nprobe")
    ap.add_argument("--http-workers", type=int, default=2, help="`sitewide serve --workers` of the HTTP part")
    args = ap.parse_args()
    import faiss
    import torch

    faiss.omp_set_num_threads(1)
    torch.set_num_threads(1)
    n, seed, quick = args.products, args.seed, args.quick
    small_pages()  # as `sitewide serve` does: the build's fresh arrays in 4 KB pages (wiring.small_pages)
    t_all, c_all = time.perf_counter(), time.process_time()
    print(f"== building {n:,} products from cold (load average {os.getloadavg()[0]:.1f}) ==", flush=True)
    # the HTTP part's server (the packaged catalogue, `sitewide serve --workers N`) seeds and starts in its own
    # processes meanwhile; it is timed after the in-process part, on an idle server
    http = serving_http()
    started = http.start(workers=args.http_workers)
    atexit.register(lambda: started.proc.poll() is None and started.proc.kill())  # if the 1M part fails
    engine, steps = build(n, seed)
    check_vectors(engine)
    freeze_heap()  # as `sitewide serve` does once its engine is built: collections skip the catalogue
    ivf = engine.index
    assert isinstance(ivf, FaissIndex)
    if args.nprobe:
        ivf.nprobe = args.nprobe
    cold = steps.wall["generate"] + steps.wall["make_engine"]
    cold_cpu = steps.cpu["generate"] + steps.cpu["make_engine"]
    print(
        f"== {len(engine.catalogue.ids):,} products, {len(engine.campaign_ids())} campaigns, IVF nlist "
        f"{ivf._index.nlist} nprobe {ivf.nprobe} (tuning recall {engine.retrieval.tuned_recall:.3f})\n"
        + "\n".join(
            f"   {k:<15} wall {steps.wall[k]:6.1f} s  cpu {steps.cpu[k]:6.1f} s" for k in steps.wall
        ),
        flush=True,
    )
    n_ann, n_exact, warm = (300, 20, 20) if quick else (2_000, 200, 50)
    reqs = requests(engine, n_ann + warm, seed=11)
    phase: dict[str, float] = {"build": time.perf_counter() - t_all}
    cpu: dict[str, float] = {"build": time.process_time() - c_all}  # this process's CPU s (all threads)
    t, c = time.perf_counter(), time.process_time()
    ann_ms, ann_cpu, ann_st, ann_ads = timed(engine, reqs, warm)
    phase["ann requests"], t = time.perf_counter() - t, time.perf_counter()
    cpu["ann requests"], c = time.process_time() - c, time.process_time()
    # baseline: the same engine and requests with brute-force exact search (the retrieval before this change)
    exact = ExactIndex()
    exact.build(np.arange(len(engine.catalogue.ids), dtype=np.int64), engine.catalogue.vecs)
    sub = reqs[: n_exact + 3]
    engine.retrieval.index = exact
    engine.retrieval.cache.clear()
    ex_ms, ex_cpu, ex_st, _ = timed(engine, sub, 3)
    phase["exact baseline"], t = time.perf_counter() - t, time.perf_counter()
    cpu["exact baseline"], c = time.process_time() - c, time.process_time()
    # recall of the served ANN rows against exact rows, and distinct products in an exact top-100; the exact
    # rows of many requests at once come from a blocked exact search (FlatExact), checked here against
    # the baseline's ExactIndex on a few of them
    rb = batch_of(reqs[warm : warm + (100 if quick else 400)])
    engine.retrieval.index = FlatExact(engine.catalogue.vecs)
    ex_ids, _ = engine.retrieval.retrieve(rb)
    engine.retrieval.index = exact
    few = batch_of(reqs[warm : warm + 3])
    agree = recall(engine.retrieval.retrieve(few)[0], ex_ids[:3])
    assert agree >= 0.98, f"FlatExact's rows differ from ExactIndex's: {agree:.4f} of the top-100 agree"
    engine.retrieval.index = ivf
    engine.retrieval.cache.clear()
    ann_ids, _ = engine.retrieval.retrieve(rb)
    rec = recall(ann_ids, ex_ids)
    phase["recall"], cpu["recall"] = time.perf_counter() - t, time.process_time() - c
    texts = engine.catalogue.texts
    distinct = float(np.mean([len({texts[j] for j in row[row >= 0].tolist()}) for row in ex_ids]))
    uptime = Path("/proc/loadavg").read_text().split()[:3]

    def pct(x: np.ndarray, q: float) -> float:
        return float(np.percentile(x, q))

    print(
        f"\nload average {' '.join(uptime)} (2 cores shared with other work: wall ms include waiting for a core)"
    )
    print(f"{'stage (mean ms)':<16}" + "".join(f"{s:>10}" for s in STAGES))
    print(f"{'ann (ivf)':<16}" + "".join(f"{ann_st[s]:>10.3f}" for s in STAGES))
    print(f"{'exact':<16}" + "".join(f"{ex_st[s]:>10.3f}" for s in STAGES))
    print(
        f"ann: {len(ann_ms)} requests, p50 {pct(ann_ms, 50):.2f} p90 {pct(ann_ms, 90):.2f} p99 "
        f"{pct(ann_ms, 99):.2f} max {ann_ms.max():.2f} ms, {ann_ads} promoted slots; exact: {len(ex_ms)} "
        f"requests, p50 {pct(ex_ms, 50):.1f} p99 {pct(ex_ms, 99):.1f} ms"
    )
    p50, p99 = pct(ann_ms, 50), pct(ann_ms, 99)
    b50, b99 = pct(ex_ms, 50), pct(ex_ms, 99)
    print(
        f"\ntotal {time.perf_counter() - t_all:.1f} s wall, {time.process_time() - c_all:.1f} s CPU of this process ("
        + ", ".join(f"{k} {v:.1f}/{cpu[k]:.1f}" for k, v in phase.items())
        + " wall/CPU s; the HTTP server's start-up runs in its own processes during the build)"
    )
    print(
        f"metric: serve_p50_ms={p50:.3f} baseline={b50:.3f} ratio={p50 / b50:.4f} products={n} "
        f"(in-process Engine.serve, IVF nprobe={ivf.nprobe}; baseline exact search, same run)"
    )
    print(
        f"metric: serve_p99_ms={p99:.3f} baseline={b99:.3f} ratio={p99 / b99:.4f} target=10 products={n} "
        f"requests={len(ann_ms)} baseline_requests={len(ex_ms)}"
    )
    c50, c99, e50, e99 = pct(ann_cpu, 50), pct(ann_cpu, 99), pct(ex_cpu, 50), pct(ex_cpu, 99)
    print(
        f"metric: serve_cpu_p50_ms={c50:.3f} baseline={e50:.3f} ratio={c50 / e50:.4f} (CPU time of the request)"
    )
    print(f"metric: serve_cpu_p99_ms={c99:.3f} baseline={e99:.3f} ratio={c99 / e99:.4f} target=10")
    print(
        f"metric: ann_recall100={rec:.4f} target=0.95 (served top-100 vs exact, {len(ex_ids)} requests; exact rows "
        f"by FlatExact, {agree:.4f} of ExactIndex's on 3)"
    )
    print(f"metric: distinct_products_top100={distinct:.2f} (distinct titles in an exact top-100)")
    print(
        f"metric: build_cold_s={cold:.1f} cpu={cold_cpu:.1f} target=60 (generate + make_engine: encode, pool, "
        f"IVF build and tune, ranker binding; {n} products)"
    )
    print(
        f"metric: index_build_s={steps.wall['index_build']:.1f} cpu={steps.cpu['index_build']:.1f} "
        f"(IVF over {n} products; tune {steps.wall['index_tune']:.1f} s)"
    )
    print(f"metric: peak_rss_mb={rss_mb():.1f}")
    sys.stdout.flush()
    gc.unfreeze()  # the 1M engine's memory is given back before the HTTP part
    del engine, exact, ivf
    gc.collect()
    t = time.perf_counter()
    c = time.process_time()
    http.measure(started, quick)
    print(f"# http part {time.perf_counter() - t:.1f} s wall, {time.process_time() - c:.1f} s CPU of this process")
    print(
        f"metric: run_wall_s={time.perf_counter() - t_all:.1f} cpu={time.process_time() - c_all:.1f}"
        + (" target=60" if quick else "")
        + f" (the whole run, build to HTTP part; load average {' '.join(Path('/proc/loadavg').read_text().split()[:3])};"
        " CPU of this process, the HTTP server's in its own processes)"
    )


def serving_http() -> Any:
    """``bench/serving_http.py`` as a module (the HTTP part)."""
    spec = importlib.util.spec_from_file_location("serving_http", ROOT / "bench" / "serving_http.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


if __name__ == "__main__":
    main()
