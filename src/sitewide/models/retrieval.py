"""Fused retrieval for search: the two-tower's nearest neighbours (any ``VectorIndex``: faiss HNSW when
serving) and BM25's lexical matches, merged by reciprocal-rank fusion (RRF).

    fused = FusedRetriever(index, bm25)                 # both already built over the same product rows
    ids, scores = fused.search(request_vectors, queries, k=50)

RRF scores a product ``Σ_s w_s / (c + rank_s)`` over the lists it appears in (rank from 1; Cormack et al.,
SIGIR 2009, ``c = 60``): no score calibration between the sources is needed, a product that both find comes
first, and each source still contributes its own best matches. Rows with an empty query (feed) use the vector
list alone. The lexical source catches exact tokens (model numbers, brands) that a small learned tower blurs;
the two-tower catches synonyms, typos and Chinese queries for English titles, which share no token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sitewide.domain.types import BoolArray, FloatArray, IntArray, ValidationError
from sitewide.ports import LexicalIndex, VectorIndex


def reciprocal_rank_fusion(
    lists: Sequence[IntArray], k: int, c: float = 60.0, weights: Sequence[float] | None = None
) -> tuple[IntArray, FloatArray]:
    """Fuse ranked id lists ``[Q, K_s]`` (``-1`` padded) into ``(ids [Q, k], rrf scores [Q, k])``, -1 padded.
    Ties keep the order of first appearance (source 0 first)."""
    if not lists:
        raise ValidationError("nothing to fuse")
    q = np.asarray(lists[0]).shape[0]
    if any(np.asarray(lst).ndim != 2 or np.asarray(lst).shape[0] != q for lst in lists):
        raise ValidationError("every ranked list must be [Q, K] with the same Q")
    w = [1.0] * len(lists) if weights is None else [float(x) for x in weights]
    if len(w) != len(lists) or any(x < 0 for x in w):
        raise ValidationError("one non-negative weight per list")
    out_ids = np.full((q, k), -1, dtype=np.int64)
    out_sc = np.zeros((q, k), dtype=np.float64)
    for r in range(q):
        score: dict[int, float] = {}
        for lst, wt in zip(lists, w, strict=True):
            for rank, pid in enumerate(np.asarray(lst[r]).tolist(), start=1):
                if pid >= 0:
                    score[pid] = score.get(pid, 0.0) + wt / (c + rank)
        best = sorted(score.items(), key=lambda kv: -kv[1])[:k]  # stable: first appearance wins ties
        for j, (pid, s) in enumerate(best):
            out_ids[r, j], out_sc[r, j] = pid, s
    return out_ids, out_sc


@dataclass
class FusedRetriever:
    """``search(request_vectors [Q, D], queries [Q], k, allowed) -> (ids [Q, k], rrf scores [Q, k])``.

    ``depth``: how many candidates each source contributes before fusion."""

    index: VectorIndex
    lexical: LexicalIndex | None
    depth: int = 100
    c: float = 60.0
    weights: tuple[float, float] = (1.0, 1.0)

    def __post_init__(self) -> None:
        if self.depth < 1:
            raise ValidationError("depth must be ≥ 1")

    def search(
        self, request_vectors: FloatArray, queries: Sequence[str], k: int, allowed: BoolArray | None = None
    ) -> tuple[IntArray, FloatArray]:
        vecs = np.asarray(request_vectors)
        if len(queries) != vecs.shape[0]:
            raise ValidationError("one query text per request vector ('' for none)")
        depth = max(self.depth, k)
        dense, _ = self.index.search(vecs, depth, allowed)
        rows = [i for i, t in enumerate(queries) if t]
        lex = np.full((len(queries), depth), -1, dtype=np.int64)
        if rows and self.lexical is not None:
            lex[rows], _ = self.lexical.search([queries[i] for i in rows], depth, allowed)
        return reciprocal_rank_fusion([dense, lex], k, self.c, self.weights)


def tune_dense_weight(
    retriever: FusedRetriever,
    request_vectors: FloatArray,
    queries: Sequence[str],
    relevant: Sequence[set[int]],
    k: int = 50,
    grid: Sequence[float] = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0),
) -> float:
    """Learned fusion: the weight of the vector list (BM25's is 1) that retrieves the most ``relevant`` products
    in the top 10 and the top ``k`` of *validation* requests (sum of recall@10 and recall@k); sets it on
    ``retriever`` and returns it. Ties go to the smaller weight (the lexical list is the stronger prior). Weight 0
    is BM25's order with the two-tower's neighbours filling the rows BM25 cannot (queries with no token in
    common with enough titles: Chinese words for English titles, misspellings)."""
    if not len(queries):
        raise ValidationError("no validation requests")
    best_w, best_v = float(grid[0]), -1.0
    for w in grid:
        retriever.weights = (float(w), 1.0)
        ids, _ = retriever.search(request_vectors, queries, k)
        v = 0.0
        for cut in (10, k):
            hits = [
                len(set(r[:cut].tolist()) & rel) / min(len(rel), cut)
                for r, rel in zip(ids, relevant, strict=True)
                if rel
            ]
            v += float(np.mean(hits)) if hits else 0.0
        if v > best_v + 1e-12:
            best_w, best_v = float(w), v
    retriever.weights = (best_w, 1.0)
    return best_w
