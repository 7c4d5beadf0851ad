"""The ANN index changes without a rebuild (add, change, remove), tunes itself to a recall target and
round-trips through disk; the char-n-gram encoder's batch path equals its per-text path and needs no torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sitewide.index.ann import FaissIndex, recall
from sitewide.index.exact import ExactIndex
from sitewide.models.char_ngram import CharNgramEncoder


def _clustered(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    centres = np.random.default_rng(99).standard_normal((40, d)).astype(np.float32)
    x = centres[rng.integers(0, 40, n)] + 0.5 * rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _indexes() -> list[object]:
    return [
        FaissIndex(kind="ivf", nlist=32, nprobe=32, one_cell_below=0),
        FaissIndex(kind="hnsw"),
        ExactIndex(),
    ]


@pytest.mark.parametrize("ix", _indexes(), ids=["ivf", "hnsw", "exact"])
def test_add_change_and_remove_without_a_rebuild(ix: FaissIndex) -> None:
    rng = np.random.default_rng(0)
    vecs = _clustered(rng, 3_000, 16)
    ix.build(np.arange(3_000), vecs)
    # a new product 3000 = a copy of product 7's vector: it is found next to 7
    ix.upsert(np.array([3_000]), vecs[[7]])
    got, _ = ix.search(vecs[[7]], 2)
    assert set(got[0].tolist()) == {7, 3_000}
    # product 5 changes to product 9's vector: a query for 9 finds 5, a query for 5's old vector does not
    old5 = vecs[5].copy()
    ix.upsert(np.array([5]), vecs[[9]])
    got, _ = ix.search(vecs[[9]], 2)
    assert set(got[0].tolist()) == {5, 9}
    got, _ = ix.search(old5[None, :], 10)
    assert 5 not in got[0]
    # removed products never come back, with or without an allowed mask
    ix.remove(np.array([9, 3_000]))
    got, _ = ix.search(vecs[[9, 7]], 50)
    assert not np.isin(got, [9, 3_000]).any()
    allowed = np.ones(ix.id_bound, dtype=bool)
    allowed[7] = False
    got, _ = ix.search(vecs[[7]], 50, allowed=allowed)
    assert not np.isin(got, [7, 9, 3_000]).any()
    assert len(ix) == 2_999


@pytest.mark.parametrize("codec", ["flat", "sq8"])
def test_ivf_tunes_nprobe_to_the_recall_target_and_round_trips_through_disk(tmp_path: Path, codec: str) -> None:
    rng = np.random.default_rng(1)
    vecs = _clustered(rng, 6_000, 32)
    q = _clustered(rng, 100, 32)
    ix = FaissIndex(kind="ivf", nlist=64, nprobe=1, one_cell_below=0, codec=codec)
    ix.build(np.arange(6_000), vecs)
    exact = ExactIndex()
    exact.build(np.arange(6_000), vecs)
    want, _ = exact.search(q, 50)

    def served(k: int) -> np.ndarray:  # what retrieval does: overfetch × k rows re-ranked by exact cosine
        got, _ = ix.search(q, int(np.ceil(k * ix.overfetch)))
        sims = np.where(got >= 0, np.einsum("qkd,qd->qk", vecs[np.maximum(got, 0)], q), -np.inf)
        return np.take_along_axis(got, np.argsort(-sims, axis=1)[:, :k], axis=1)

    before = recall(served(50), want)
    reached = ix.tune(q, 50, target=0.98)
    after = recall(served(50), want)
    assert before < 0.98 <= reached and ix.nprobe > 1
    assert ix.overfetch == (1.0 if codec == "flat" else 1.3)
    # float cells find exactly the neighbours the tuning counted; 8-bit cells re-ranked all but near-ties
    assert after == pytest.approx(reached) if codec == "flat" else reached - 0.01 <= after <= reached
    if codec == "flat":  # the smallest such nprobe: one cell fewer misses the target
        ix.nprobe -= 1
        assert recall(served(50), want) < 0.98
        ix.nprobe += 1
    ix.remove(np.array([3]))
    ix.save(tmp_path / "ix")
    back = FaissIndex(kind="ivf")
    back.load(tmp_path / "ix")
    assert np.array_equal(back.search(q, 50)[0], ix.search(q, 50)[0]) and back.nprobe == ix.nprobe
    assert back.overfetch == ix.overfetch
    assert 3 not in back.search(vecs[[3]], 5)[0]


def test_char_ngram_batch_path_equals_the_per_text_path_and_imports_no_torch() -> None:
    texts = [f"sandisk cruzer {i}gb usb flash drive  Black" for i in range(100)] + [
        "",
        "x",
        "华为 手机 充电器",
    ]
    enc = CharNgramEncoder(256, cache_size=0)
    batch = enc.encode(texts)
    one = np.stack([enc._one(t) for t in texts])
    assert batch.dtype == np.float32 and np.allclose(batch, one, atol=1e-7)
    assert np.all(batch[100] == 0) and np.linalg.norm(batch[0]) == pytest.approx(1.0)
    code = "import sys, sitewide.models.char_ngram, sitewide.wiring; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_large_build_assigns_cells_through_groups_of_centroids_and_tunes_to_its_target(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch of ``_COARSE_FROM`` vectors or more is assigned through groups of centroids (cheaper than every
    vector against every centroid): most get their nearest cell, every one a real cell, and ``tune`` still
    reaches its recall target, measured by searching (the cells actually assigned are what it reads)."""
    import sitewide.index.ann as ann

    monkeypatch.setattr(ann, "_COARSE_FROM", 1_000)
    rng = np.random.default_rng(3)
    vecs = _clustered(rng, 20_000, 32)
    ix = FaissIndex(kind="ivf", nlist=256, one_cell_below=0, codec="flat")
    ix.build(np.arange(20_000), vecs)
    nearest = ix._index.quantizer.search(vecs, 1)[1][:, 0]
    share = float(np.mean(ix._cell == nearest))
    assert 0.8 <= share < 1.0, share  # the group path ran (not all nearest) and kept most cells exact
    assert ix._cell.min() >= 0 and ix._cell.max() < 256
    queries = _clustered(np.random.default_rng(4), 300, 32)
    reached = ix.tune(queries[:150], 20, target=0.95)
    assert reached >= 0.95
    exact = ExactIndex()
    exact.build(np.arange(20_000), vecs)
    got, _ = ix.search(queries[150:], 20)
    want, _ = exact.search(queries[150:], 20)
    assert recall(got, want) >= 0.9  # held-out queries
