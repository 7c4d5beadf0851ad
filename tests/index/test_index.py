from __future__ import annotations

import numpy as np
import pytest

from sitewide.domain.types import ValidationError
from sitewide.index.bm25 import BM25Index, tokenize
from sitewide.index.exact import ExactIndex
from sitewide.index.factory import make_index
from sitewide.ports import VectorIndex


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _clustered(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """Embedding-like data: 50 topic centres (fixed) plus noise; queries and products share the centres."""
    centres = _unit(np.random.default_rng(99), 50, d)
    x = centres[rng.integers(0, 50, n)] + 0.2 * rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_exact_index_returns_the_true_top_k_in_order() -> None:
    rng = np.random.default_rng(0)
    vecs = _unit(rng, 300, 16)
    ids = np.arange(1000, 1300)
    idx = ExactIndex()
    idx.build(ids, vecs)
    q = _unit(rng, 5, 16)
    got, scores = idx.search(q, 7)
    sims = q @ vecs.T
    want = ids[np.argsort(-sims, axis=1)[:, :7]]
    assert np.array_equal(got, want)
    assert np.all(np.diff(scores, axis=1) <= 1e-9)


def test_exact_index_returns_only_allowed_products_and_pads_with_minus_one() -> None:
    rng = np.random.default_rng(1)
    vecs = _unit(rng, 20, 8)
    idx = ExactIndex()
    idx.build(np.arange(20), vecs)
    allowed = np.zeros(20, dtype=bool)
    allowed[[3, 5, 7]] = True
    got, _ = idx.search(_unit(rng, 2, 8), 5, allowed=allowed)
    assert set(got[:, :3].ravel()) <= {3, 5, 7}
    assert np.all(got[:, 3:] == -1)


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_ann_recall_against_exact_search_is_at_least_095(kind: str) -> None:
    rng = np.random.default_rng(2)
    vecs = _clustered(rng, 8_000, 32)
    q = _clustered(rng, 100, 32)
    exact, ann = ExactIndex(), make_index(kind, nprobe=32) if kind == "ivf" else make_index(kind)
    for ix in (exact, ann):
        ix.build(np.arange(len(vecs)), vecs)
    want, _ = exact.search(q, 50)
    got, _ = ann.search(q, 50)
    recall = np.mean([len(set(g) & set(w)) / 50 for g, w in zip(got, want, strict=True)])
    assert recall >= 0.95, recall


def test_ann_with_eligibility_filter_returns_only_allowed_and_keeps_recall() -> None:
    rng = np.random.default_rng(3)
    vecs = _clustered(rng, 5_000, 32)
    allowed = rng.random(5_000) < 0.5
    q = _clustered(rng, 50, 32)
    exact, ann = ExactIndex(), make_index("hnsw")
    for ix in (exact, ann):
        ix.build(np.arange(len(vecs)), vecs)
    want, _ = exact.search(q, 20, allowed=allowed)
    got, _ = ann.search(q, 20, allowed=allowed)
    assert allowed[got[got >= 0]].all()
    recall = np.mean([len(set(g) & set(w)) / 20 for g, w in zip(got, want, strict=True)])
    assert recall >= 0.95, recall


def test_ann_with_a_tiny_allowed_set_still_finds_every_allowed_product() -> None:
    rng = np.random.default_rng(4)
    vecs = _unit(rng, 5_000, 16)
    allowed = np.zeros(5_000, dtype=bool)
    allowed[[10, 20, 30]] = True
    ann = make_index("hnsw")
    ann.build(np.arange(5_000), vecs)
    got, _ = ann.search(_unit(rng, 3, 16), 5, allowed=allowed)
    assert all(set(row[:3]) == {10, 20, 30} for row in got)
    assert np.all(got[:, 3:] == -1)


def test_indexes_satisfy_the_port_and_reject_bad_shapes() -> None:
    for kind in ("exact", "hnsw", "ivf", "auto"):
        ix = make_index(kind)
        assert isinstance(ix, VectorIndex)
    ix = ExactIndex()
    with pytest.raises(ValidationError):
        ix.build(np.arange(3), np.zeros((4, 2)))
    ix.build(np.arange(3), np.eye(3))
    with pytest.raises(ValidationError):
        ix.search(np.zeros((1, 5)), 2)
    with pytest.raises(ValidationError):
        ix.search(np.zeros((1, 3)), 2, allowed=np.ones(7, dtype=bool))
    with pytest.raises(ValidationError):
        make_index("annoy")


@pytest.mark.parametrize("row", [0, 65_535, 65_536, 69_999])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_vector_in_any_block_of_rows_is_rejected(row: int, bad: float) -> None:
    vecs = np.ones((70_000, 2), dtype=np.float32)
    vecs[row, 1] = bad
    for ix in (ExactIndex(), make_index("ivf")):
        with pytest.raises(ValidationError, match="NaN or inf"):
            ix.build(np.arange(len(vecs)), vecs)


def test_bm25_ranks_lexical_matches_first_and_handles_chinese() -> None:
    titles = [
        "duracell coppertop aa batteries 40 pack",
        "sandisk usb flash drive 32gb",
        "华为 手机 快充 充电器",
        "logitech wireless mouse",
        "小米 蓝牙 耳机",
    ]
    bm = BM25Index()
    bm.build(np.arange(5) + 100, titles)
    ids, scores = bm.search(["aa batteries", "充电器", "nothing matches zzz"], 3)
    assert ids[0, 0] == 100
    assert ids[1, 0] == 102
    assert np.all(ids[2] == -1) and np.all(scores[2] == 0)
    ids, _ = bm.search(["aa batteries"], 3, allowed=np.array([False, True, True, True, True]))
    assert 100 not in ids
    assert "充电" in tokenize("华为充电器")


def _zh_titles(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    chars = list("新款女装夏季连衣裙宽松显瘦纯棉短袖上衣韩版学生百搭手机充电器耳机蓝牙")
    return ["".join(rng.choice(chars, int(rng.integers(8, 20)))) for _ in range(n)]


def test_bm25_within_its_postings_budget_scores_exactly_as_bm25s() -> None:
    titles = _zh_titles(300)
    bm = BM25Index(max_postings=10**9, exact_below=0)  # the postings path, unbounded
    bm.build(np.arange(300), titles)
    for q in ["连衣裙 宽松", "蓝牙耳机", "新款女装 夏季 百搭 短袖"]:
        ids, scores = bm.search([q], 300)
        want = np.asarray(bm._bm25.get_scores(tokenize(q)), dtype=np.float64)
        got = ids[0] >= 0
        np.testing.assert_allclose(scores[0][got], want[ids[0][got]], rtol=1e-5)
        assert got.sum() == (want > 0).sum()  # every matching title, none other
        assert np.all(np.diff(scores[0][got]) <= 0)


def test_bm25_past_its_budget_reads_the_rarest_tokens_and_skips_titles_with_only_common_ones() -> None:
    titles = _zh_titles(400) + ["小金桔盆栽连衣裙"]  # 金桔 is in one title; 连, 衣, 裙 in most
    exact, bounded = BM25Index(), BM25Index(max_postings=50, exact_below=0)
    for bm in (exact, bounded):
        bm.build(np.arange(len(titles)), titles)
    q = ["金桔连衣裙"]
    e_ids, e_sc = exact.search(q, len(titles))
    b_ids, b_sc = bounded.search(q, len(titles))
    assert e_ids[0, 0] == b_ids[0, 0] == 400  # the rare word's title first, with the same score
    assert b_sc[0, 0] == pytest.approx(e_sc[0, 0])
    found_e, found_b = (set(x[x >= 0].tolist()) for x in (e_ids[0], b_ids[0]))
    assert len(found_e) > 300  # exact: every title with a common character
    assert 400 in found_b and len(found_b) <= 50  # bounded: the postings read (≤ 50 titles) only
    assert found_b <= found_e
    for i, s in zip(b_ids[0].tolist(), b_sc[0].tolist(), strict=True):  # each title found scores exactly
        if i >= 0:
            assert s == pytest.approx(e_sc[0][e_ids[0] == i][0])
    with pytest.raises(ValidationError):
        BM25Index(max_postings=0)
    ids, _ = bounded.search(q, 5, allowed=np.arange(len(titles)) != 400)  # a mask on the postings path
    assert 400 not in ids[0] and ids[0, 0] >= 0


@pytest.mark.parametrize("n, k", [(200_000, 100), (70_000, 30), (50, 80)])
def test_the_blocked_exact_search_finds_the_true_top_k_in_order_across_blocks(n: int, k: int) -> None:
    """The IVF tuning's exact neighbours (``exact.blocked_exact``: top k per block of 65,536 rows, then of the
    blocks' winners): the ids and scores of a full sort, -1 padded when k exceeds the rows."""
    from sitewide.index.exact import blocked_exact

    rng = np.random.default_rng(7)
    vecs = _unit(rng, n, 16)
    ids = np.arange(n, dtype=np.int64) * 3 + 5  # ids are not positions
    q = _unit(rng, 6, 16)
    got, scores = blocked_exact(q, vecs, ids, k)
    sims = (q @ vecs.T).astype(np.float64)
    kk = min(k, n)
    want = np.argsort(-sims, axis=1, kind="stable")[:, :kk]
    assert np.array_equal(got[:, :kk], ids[want])
    assert np.allclose(scores[:, :kk], np.take_along_axis(sims, want, axis=1), atol=1e-5)
    assert np.all(got[:, kk:] == -1) and np.all(scores[:, kk:] == 0)


def test_coarse_assignment_gives_each_vector_the_same_cell_on_one_thread_or_two() -> None:
    """``ann._coarse_assign`` by blocks of 65,536 vectors: the blocks spread over threads, the cells unchanged."""
    from sitewide.index.ann import _coarse_assign

    rng = np.random.default_rng(3)
    vecs = _clustered(rng, 150_000, 16)
    centroids = vecs[rng.choice(len(vecs), 300, replace=False)].copy()
    one = _coarse_assign(vecs, centroids, 0, threads=1)
    assert np.array_equal(_coarse_assign(vecs, centroids, 0, threads=2), one)
    nearest = np.argmax(vecs[:2_000] @ centroids.T, axis=1)
    assert np.mean(one[:2_000] == nearest) > 0.8  # mostly the nearest cell (the rest a near one)
