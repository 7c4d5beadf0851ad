"""The one composition root: which adapters the engine runs with, chosen from ``Settings`` (the service and
the CLI) or from the operator's ``EngineConfig`` (the simulator runner, the benchmarks, the tests).

Defaults (the encoder kept from the first slice because the shipped ranker's similarity features were computed
with it): the character 2/3-gram encoder, the faiss IVF index (an exact scan below 20,000 products), the shipped
learned ranker (the similarity priors when asked, or when no checkpoint ships), BM25 for the lexical merge
(every search when ``EngineConfig.lexical_k > 0``; Chinese queries over the CJK titles always), the wall clock,
a SQL store (SQLite under ``data_dir``) for the service and an in-memory store for a simulated market.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sitewide.domain.budget_lease import LeasePolicy
from sitewide.domain.creative_bandit import CreativeRotation
from sitewide.domain.types import Campaign, Product, Shop, ValidationError
from sitewide.engine import Engine, EngineConfig
from sitewide.engine.pacing import PacingConfig
from sitewide.engine.retrieval import ScorerFactory
from sitewide.models.bidding_policy import BidderFactory
from sitewide.ports import (
    Clock,
    KeyAdmin,
    LexicalIndex,
    Scorer,
    ServiceRecords,
    Store,
    TextEncoder,
    VectorIndex,
)
from sitewide.settings import EncoderKind, IndexKind, Settings

if TYPE_CHECKING:  # the simulator is imported only by the functions that build a simulated market
    from sitewide.simulator.world import World

SCORERS = ("learned", "priors")


def make_text_encoder(kind: EncoderKind, dim: int) -> TextEncoder:
    if kind == "char-ngram":
        from sitewide.models.char_ngram import CharNgramEncoder  # no torch

        return CharNgramEncoder(dim)
    from sitewide.models.encoders import make_encoder

    encoder: TextEncoder = make_encoder(kind, dim=dim)
    return encoder


def make_vector_index(kind: IndexKind) -> VectorIndex:
    from sitewide.index.factory import make_index

    index: VectorIndex = make_index(kind)
    return index


def scorer_factory(config: EngineConfig) -> ScorerFactory:
    """The scorer ``EngineConfig.scorer`` names, bound to each catalogue the engine loads: ``"learned"`` =
    the ranker checkpoint at ``scorer_path`` (default: the shipped one; the priors when it is absent),
    ``"priors"`` = :class:`~sitewide.models.priors.SimilarityPriorScorer`."""
    kind = config.scorer
    if kind not in SCORERS:
        raise ValidationError(f"unknown scorer {kind!r}; expected 'learned' or 'priors'")

    def make(products: Sequence[Product]) -> Scorer:
        if kind == "learned" and products:
            from sitewide.models.scorer import load_scorer, packaged_ranker_path  # lazy: torch

            path = config.scorer_path
            if path is not None or packaged_ranker_path().is_file():
                return load_scorer(path, products=products)
        from sitewide.models.priors import SimilarityPriorScorer

        price = np.array([int(p.price_micros) for p in products], dtype=np.int64)
        code = {c: i for i, c in enumerate(sorted({p.category for p in products}))}
        category = np.array([code[p.category] for p in products], dtype=np.int64)
        return SimilarityPriorScorer(price, category)

    return make


def make_engine(
    store: Store,
    config: EngineConfig | None = None,
    *,
    clock: Clock | None = None,
    scorer: Scorer | None = None,
    creatives: CreativeRotation | None = None,
    encoder: EncoderKind = "char-ngram",
    index: IndexKind | VectorIndex = "ivf",
    snapshot: Path | None = None,
) -> Engine:
    """An engine over what ``store`` holds, with the default adapters (``scorer``: a fixed one instead;
    ``index``: a kind, or an index object; ``snapshot``: warm-start the catalogue and index from a
    :func:`save_snapshot` directory instead of encoding and indexing the store's products)."""
    cfg = config or EngineConfig()
    vector_index = make_vector_index(index) if isinstance(index, str) else index
    index_loaded = False
    if snapshot is not None and (snapshot / "index").is_dir():
        from sitewide.index.ann import FaissIndex

        if isinstance(vector_index, FaissIndex):
            vector_index.load(snapshot / "index")
            index_loaded = True
    from sitewide.index.bm25 import BM25Index

    lexical: LexicalIndex = BM25Index()  # built over every title with lexical_k > 0, else over the CJK ones
    with collector_paused():
        return Engine(
            store,
            cfg,
            encoder=make_text_encoder(encoder, cfg.encoder_dim),
            index=vector_index,
            scorer_for=(lambda _: scorer) if scorer is not None else scorer_factory(cfg),
            make_bidder=BidderFactory.load(cfg.pacing.bidder, cfg.pacing.policy_path),
            lexical=lexical,
            clock=clock,
            creatives=creatives,
            snapshot=snapshot,
            snapshot_index=index_loaded,
        )


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while an engine is built: its catalogue is millions of small objects (rows,
    texts, ids) that live as long as the engine, and every full collection meanwhile walks all those made so
    far. Building over 1M generated products spent about half its Python time there. It runs again afterwards
    (at its next threshold, or :func:`freeze_heap`)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def small_pages() -> None:
    """numpy's large arrays in 4 KB pages instead of transparent huge pages (numpy asks the kernel for huge pages
    for every array of 4 MB or more), for this process and the ones it starts (``NUMPY_MADVISE_HUGEPAGE=0``).
    On a virtual machine that hands freed memory back to its host (free page reporting gives back whole 2 MB
    blocks) a huge page is host memory touched for the first time: filling 1 GB of fresh arrays cost 3-7 CPU-s
    in 2 MB pages and 0.4-0.5 s in 4 KB pages on the benchmark host, and a 1M-product build allocates several GB
    (catalogue generation 6.7 -> 3.1 CPU-s, encoding 11.0 -> 4.6). Serving is unchanged: its per-request arrays
    are small. Called by the ``serve`` command and the serving benchmark before they build an engine."""
    import os

    os.environ["NUMPY_MADVISE_HUGEPAGE"] = "0"
    import importlib

    try:
        ma = importlib.import_module("numpy._core.multiarray")
    except ImportError:  # pragma: no cover - numpy < 2 names it numpy.core
        ma = importlib.import_module("numpy.core.multiarray")
    ma._set_madvise_hugepage(False)


def save_snapshot(engine: Engine, path: Path) -> None:
    """Write what a warm start needs to skip the catalogue's encoding, pool and index build:
    the catalogue (``Catalogue.save``) and, for a faiss index, the index itself. Restore with
    ``make_engine(store, config, snapshot=path)`` over a store that holds the same products."""
    from sitewide.index.ann import FaissIndex

    engine.catalogue.save(path)
    if isinstance(engine.index, FaissIndex):
        engine.index.save(path / "index")


def seeded_engine(
    store: Store,
    shops: Sequence[Shop],
    products: Sequence[Product],
    campaigns: Sequence[Campaign] = (),
    config: EngineConfig | None = None,
    *,
    clock: Clock | None = None,
    scorer: Scorer | None = None,
    creatives: CreativeRotation | None = None,
) -> Engine:
    """Register shops, products and (new) campaigns in ``store``, then :func:`make_engine` over it."""
    store.upsert_shops(shops)
    store.upsert_products(products)
    for c in campaigns:
        if store.get_campaign(c.id) is None:
            store.create_campaign(c)
    return make_engine(store, config, clock=clock, scorer=scorer, creatives=creatives)


def freeze_heap() -> None:
    """Once a serving process has built its engine: collect, then move every object alive into the garbage
    collector's permanent generation (``gc.freeze``). The catalogue, the models and the app are kept for the
    process's life; without this each full collection walks all of them (over 300,000 objects with 2,000
    products: one pause of ~0.3 s every thousand or so requests, and a request's young collections cost
    several times more). Objects made later are collected as usual. Call it where the process is a server (the
    ``serve`` command, a benchmark standing in for one), not in a library or test that builds many engines.

    Also the GIL's switch interval drops from 5 ms to 1 ms: a serving process runs short requests (a /serve is
    ~2 ms of CPU) beside event batches that hold the interpreter for ~10 ms, and each waits up to an interval
    per hand-over. Two servers side by side under the same load, paired (issue 24: 2 workers each, the soak
    mix at 50 and 70 req/s each): p99 64 -> 51 ms and 121 -> 89 ms, at the same CPU (0.39 and 0.43 cores)."""
    import sys

    gc.collect()
    gc.freeze()
    sys.setswitchinterval(0.001)


def _settings_store(settings: Settings) -> Store:
    from sitewide.storage.sql import SqlStore

    return SqlStore.from_url(settings.store_url())


def _seed_packaged(settings: Settings, store: Store) -> None:
    """The packaged catalogue into an empty store (when ``settings.load_catalogue``)."""
    if settings.load_catalogue and not store.list_products():
        from sitewide.catalogue import packaged_catalogue

        shops_, products_ = packaged_catalogue()
        store.upsert_shops(shops_)
        store.upsert_products(products_)


def prepare_service(settings: Settings, announce: Callable[[str], None]) -> None:
    """What ``sitewide serve --workers N`` does once, before its workers build their engines, so that they do
    not race to do it, without building an engine itself (over a 1M catalogue that is minutes of CPU and GBs
    the supervisor would hold): the store migrated and seeded, merchants' accounts, and an operator key: the
    configured one, else, when none exists, a bootstrap key handed to ``announce`` (``service.app.create_app``
    does the same in a single process)."""
    from sitewide.domain.time import SystemClock

    store = _settings_store(settings)
    _seed_packaged(settings, store)
    accounts, keys = build_accounts(store, SystemClock())
    try:
        accounts.ensure_merchants(s.merchant_id for s in store.list_shops())
        if settings.operator_key is not None:
            keys.configure(settings.operator_key)
        elif not accounts.has_operator_key():
            announce(accounts.issue_key("operator", source="bootstrap"))
    finally:
        accounts.close()


def build_engine(
    settings: Settings, store: Store | None = None, config: EngineConfig | None = None
) -> Engine:
    """The service's engine: the store at ``settings.store_url()`` (seeded with the packaged catalogue when
    empty and ``load_catalogue``), the adapters ``settings`` names."""
    if store is None:
        store = _settings_store(settings)
    _seed_packaged(settings, store)
    if config is None:
        path = str(settings.scorer_path) if settings.scorer_path is not None else None
        config = EngineConfig(
            scorer=settings.scorer,
            scorer_path=path,
            pacing=pacing_for(settings),
            forecast_calibration_campaigns=settings.forecast_calibration_campaigns,
        )
    return make_engine(store, config, encoder=settings.encoder, index=settings.index)


def pacing_for(settings: Settings) -> PacingConfig:
    """One serving process alone, or one of several sharing the database (``settings.shared_serving``)."""
    if not settings.shared_serving:
        return PacingConfig()
    return PacingConfig(leases=LeasePolicy(), campaign_poll_ms=settings.campaign_poll_ms, background=True)


@dataclass(frozen=True)
class ServiceParts:
    """What the service runs on, composed here: the engine, the store the use cases read and write through
    (the one the engine serves from), the records the service keeps beside it and the operator-key admin."""

    engine: Engine
    store: Store
    accounts: ServiceRecords
    operator_keys: KeyAdmin


def build_service(settings: Settings, engine: Engine | None = None) -> ServiceParts:
    """The service's parts: ``engine`` when given (a test's or a benchmark's, over its own store), else
    :func:`build_engine` over the store at ``settings.store_url()``."""
    if engine is None:
        store = _settings_store(settings)
        engine = build_engine(settings, store)
    else:
        store = engine.store
    accounts, keys = build_accounts(store, engine.clock)
    return ServiceParts(engine, store, accounts, keys)


def build_accounts(store: Store, clock: Clock) -> tuple[ServiceRecords, KeyAdmin]:
    """What the service keeps beside the engine's store — merchants and keys, quality signals, appeals, auction
    losses — and the operator-key admin over it: on the store's database when that is SQL, else a private
    in-memory SQLite; every timestamp from ``clock`` (the engine's)."""
    from sitewide.storage.accounts import AccountStore
    from sitewide.storage.operator_keys import OperatorKeys
    from sitewide.storage.sql import SqlStore

    if isinstance(store, SqlStore):
        accounts = AccountStore(store.engine, clock)
    else:
        accounts = AccountStore.in_memory(clock)
    return accounts, OperatorKeys(accounts)


def world_engine(world: World, config: EngineConfig | None = None) -> Engine:
    """The real engine for a simulated market: an in-memory store loaded with the world's shops, products and
    first campaigns, told the products' signals and the shops' service metrics. ``config`` sets the
    operator's knobs (auction α and reserve, pool and shop score on/off, …); its ``slots`` always follows
    the world's."""
    from sitewide.storage.memory import MemoryStore

    cfg = replace(config or EngineConfig(), slots=world.config.slots)
    engine = seeded_engine(MemoryStore(), world.shops, world.product_list, world.campaigns_starting(0), cfg)
    engine.set_quality(world.product_signals(), world.shop_metrics())
    return engine


def world_engine_factory(config: EngineConfig | None = None) -> Callable[[World], Engine]:
    """A factory for ``sitewide.simulator.run_simulation``: :func:`world_engine` with ``config``."""

    def make(world: World) -> Engine:
        return world_engine(world, config)

    return make
