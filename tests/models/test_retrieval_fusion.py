"""Reciprocal-rank fusion and the fused retriever; hard negatives in two-tower training."""

from __future__ import annotations

import numpy as np
import pytest

from sitewide.domain.types import ValidationError
from sitewide.index.bm25 import BM25Index
from sitewide.index.exact import ExactIndex
from sitewide.models.retrieval import FusedRetriever, reciprocal_rank_fusion


def test_rrf_puts_items_both_lists_agree_on_first_and_keeps_each_lists_best() -> None:
    a = np.array([[1, 2, 3, -1]])
    b = np.array([[9, 3, 8, -1]])
    ids, sc = reciprocal_rank_fusion([a, b], 5)
    assert ids[0, 0] == 3  # in both lists
    assert set(ids[0, 1:3].tolist()) == {1, 9}  # each list's first
    assert np.all(np.diff(sc[0][ids[0] >= 0]) <= 0)
    assert sorted(ids[0].tolist()) == [1, 2, 3, 8, 9]  # every id of either list, no padding ids
    ids6, _ = reciprocal_rank_fusion([a, b], 6)
    assert ids6[0, -1] == -1  # only five distinct ids: the sixth slot is padding
    ids3, _ = reciprocal_rank_fusion([a, b], 3, weights=[1.0, 0.0])
    assert ids3[0].tolist() == [1, 2, 3]  # zero weight: the first list alone
    with pytest.raises(ValidationError):
        reciprocal_rank_fusion([a, np.array([[1], [2]])], 3)


def _five_products() -> tuple[ExactIndex, BM25Index, np.ndarray]:
    """Five titles, one-hot vectors: an exact vector index and BM25 over the same rows."""
    texts = ["red usb cable", "blue usb cable", "wireless mouse", "gaming keyboard", "laptop sleeve"]
    vecs = np.eye(5, dtype=np.float32)
    dense = ExactIndex()
    dense.build(np.arange(5), vecs)
    bm = BM25Index()
    bm.build(np.arange(5), texts)
    return dense, bm, vecs


def test_fused_retriever_finds_what_either_source_alone_misses() -> None:
    dense, bm, vecs = _five_products()
    fused = FusedRetriever(dense, bm, depth=2)
    # the vector points at the mouse; the text says "keyboard" (a lexical hit the vector misses)
    q = vecs[[2]]
    ids, _ = fused.search(q, ["keyboard"], 3)
    assert {2, 3} <= set(ids[0].tolist())
    # an empty query (feed) uses the vector list alone
    ids_feed, _ = fused.search(q, [""], 1)
    assert ids_feed[0, 0] == 2
    with pytest.raises(ValidationError):
        fused.search(q, ["a", "b"], 1)


def test_hard_negatives_change_the_two_tower_loss() -> None:
    import torch

    from sitewide.training.losses import in_batch_softmax_loss

    q = torch.nn.functional.normalize(torch.randn(4, 8, generator=torch.Generator().manual_seed(0)), dim=1)
    base = in_batch_softmax_loss(q, q.clone())
    # a hard negative identical to row 0's query competes with row 0's positive: the loss rises
    harder = in_batch_softmax_loss(q, q.clone(), hard=q[:1].clone())
    assert float(harder) > float(base)


def test_fusion_weight_follows_the_source_that_finds_the_validation_clicks() -> None:
    from sitewide.models.retrieval import tune_dense_weight

    dense, bm, vecs = _five_products()
    fused = FusedRetriever(dense, bm, depth=1)
    # the query says "cable" (BM25: 0, 1); the vectors point at 4, which is what was clicked
    w = tune_dense_weight(fused, vecs[[4, 4]], ["cable", "usb cable"], [{4}, {4}], k=1, grid=(0.0, 0.5, 4.0))
    assert w == 4.0 and fused.weights == (4.0, 1.0)
    # the clicks are BM25's: the smallest weight wins
    w = tune_dense_weight(fused, vecs[[4, 4]], ["cable", "usb cable"], [{0}, {0}], k=1, grid=(0.0, 1.0, 4.0))
    assert w == 0.0
