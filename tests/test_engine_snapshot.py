"""Warm start: an engine restored from a snapshot serves and judges exactly as the engine that wrote it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sitewide.catalogue import packaged_catalogue
from sitewide.domain.eligibility import ProductSignals
from sitewide.domain.types import RequestKind, ServeRequest
from sitewide.engine import EngineConfig
from sitewide.index.ann import FaissIndex
from sitewide.simulator.big_catalogue import big_catalogue
from sitewide.storage.memory import MemoryStore
from sitewide.wiring import make_engine, save_snapshot


def test_a_restored_engine_serves_and_judges_like_the_one_that_saved_it(tmp_path: Path) -> None:
    shops, products = big_catalogue(packaged_catalogue()[1], 2_500, seed=4)
    store = MemoryStore()
    store.upsert_shops(shops)
    store.upsert_products(products)
    cfg = EngineConfig(scorer="priors")
    a = make_engine(store, cfg, index=FaissIndex(kind="ivf", nlist=16, one_cell_below=0))
    a.set_quality(
        [ProductSignals(p.id, p.category, p.shop_id, int(p.price_micros), stock=0) for p in products[:300]],
        [],
    )
    save_snapshot(a, tmp_path / "snap")
    b = make_engine(store, cfg, index=FaissIndex(kind="ivf"), snapshot=tmp_path / "snap")
    assert b.catalogue_ids() == a.catalogue_ids() and np.array_equal(b.catalogue.vecs, a.catalogue.vecs)
    assert np.array_equal(b.catalogue.eligible, a.catalogue.eligible) and not b.catalogue.eligible.all()
    assert isinstance(b.index, FaissIndex) and b.index.nprobe == a.index.nprobe  # loaded, not rebuilt
    for p in products[::97]:
        assert b.eligibility(p.id) == a.eligibility(p.id)
    for i, q in enumerate(["usb flash drive 32gb", "wireless mouse", "ink cartridge black", ""]):
        kind = RequestKind.SEARCH if q else RequestKind.FEED
        r = ServeRequest(f"r{i}", f"u{i}", kind, q, 8, 1_767_571_200_000)
        assert [s.product_id for s in a.serve(r).slots] == [s.product_id for s in b.serve(r).slots]
