"""The composition root: Settings name the adapters, and the engine runs with exactly those."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sitewide.domain.types import Product, RequestKind, Shop, ValidationError
from sitewide.engine import EngineConfig
from sitewide.index.ann import FaissIndex
from sitewide.index.bm25 import BM25Index
from sitewide.models.char_ngram import CharNgramEncoder
from sitewide.models.encoders import HashedNgramEncoder
from sitewide.models.priors import SimilarityPriorScorer
from sitewide.settings import Settings
from sitewide.storage.memory import MemoryStore
from sitewide.wiring import build_engine, build_service, make_engine, seeded_engine, small_pages


def test_the_defaults_are_the_char_ngram_encoder_the_ivf_index_and_bm25_for_cjk_titles_only(
    shops: list[Shop], products: list[Product]
) -> None:
    e = seeded_engine(MemoryStore(), shops, products, config=EngineConfig(scorer="priors"))
    assert isinstance(e.encoder, CharNgramEncoder) and e.encoder.dim == EngineConfig().encoder_dim
    assert isinstance(e.index, FaissIndex) and e.index.kind == "ivf"
    assert isinstance(e.scorer, SimilarityPriorScorer)
    assert isinstance(e.retrieval.lexical, BM25Index) and e.retrieval.lexical_rows == 0  # English titles
    defaults = {k: Settings.model_fields[k].default for k in ("encoder", "index", "scorer")}
    assert defaults == {"encoder": "char-ngram", "index": "ivf", "scorer": "learned"}


def test_settings_choose_the_adapters_the_service_engine_runs_with(
    shops: list[Shop], products: list[Product], tmp_path: Path
) -> None:
    store = MemoryStore()
    store.upsert_shops(shops)
    store.upsert_products(products)
    s = Settings(data_dir=tmp_path, load_catalogue=False, encoder="hashed", scorer="priors")
    e = build_engine(s, store)
    assert isinstance(e.encoder, HashedNgramEncoder)
    assert isinstance(e.scorer, SimilarityPriorScorer)
    assert e.config.scorer == "priors"
    assert e.catalogue_ids() == sorted(p.id for p in products)


def test_a_lexical_merge_gets_bm25_and_an_unknown_scorer_is_refused(
    shops: list[Shop], products: list[Product]
) -> None:
    e = seeded_engine(MemoryStore(), shops, products, config=EngineConfig(scorer="priors", lexical_k=3))
    assert isinstance(e.retrieval.lexical, BM25Index)
    with pytest.raises(ValidationError):
        make_engine(MemoryStore(), EngineConfig(scorer="magic"))


def test_request_kind_codes_and_labels() -> None:
    assert [int(k) for k in RequestKind] == [0, 1]
    assert RequestKind.parse("feed") is RequestKind.FEED and RequestKind.FEED.label == "feed"
    with pytest.raises(ValidationError):
        RequestKind.parse("video")


def test_the_service_parts_share_one_store_and_the_accounts_live_on_its_database(tmp_path: Path) -> None:
    from sitewide.storage.accounts import AccountStore
    from sitewide.storage.sql import SqlStore

    s = Settings(data_dir=tmp_path, load_catalogue=False, scorer="priors")
    parts = build_service(s)
    assert isinstance(parts.store, SqlStore)
    assert parts.engine.store is parts.store  # the use cases write where the engine serves from
    assert isinstance(parts.accounts, AccountStore) and parts.accounts.engine is parts.store.engine
    key = parts.accounts.issue_key("operator", source="test")
    again = build_service(s)  # a restart over the same database sees the key
    assert again.accounts.has_operator_key() and key


def test_freeze_heap_moves_the_live_objects_out_of_the_collectors_walks() -> None:
    import gc

    from sitewide.wiring import freeze_heap

    kept = [[i] for i in range(1_000)]  # containers the collector tracks
    try:
        freeze_heap()
        assert gc.get_freeze_count() >= len(kept)
        assert not any(gc.is_tracked(x) and x in gc.get_objects(generation=2) for x in kept[:3])
    finally:
        gc.unfreeze()


def test_the_collector_is_paused_only_while_an_engine_is_built() -> None:
    import gc

    from sitewide.wiring import collector_paused

    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        assert not gc.isenabled()
        raise RuntimeError("a failed build")
    assert gc.isenabled()  # back on after a failure too
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # a caller who had turned it off keeps it off
    finally:
        gc.enable()


def test_small_pages_turns_numpys_huge_page_requests_off_here_and_for_child_processes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import numpy._core.multiarray as ma

    was = ma._get_madvise_hugepage()
    monkeypatch.setenv("NUMPY_MADVISE_HUGEPAGE", "1")
    ma._set_madvise_hugepage(True)
    try:
        small_pages()
        assert ma._get_madvise_hugepage() is False
        assert os.environ["NUMPY_MADVISE_HUGEPAGE"] == "0"
    finally:
        ma._set_madvise_hugepage(was)
