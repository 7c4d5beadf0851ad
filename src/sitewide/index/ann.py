"""Approximate nearest-neighbour search with faiss (``faiss-cpu``): HNSW or IVF over inner product.

Eligible-only filtering passes the ``allowed`` mask into faiss as an ``IDSelectorBitmap``, so the graph walk
skips ineligible products instead of over-fetching and dropping. When very few products are allowed (below
``exact_below`` of the catalogue) a filtered graph walk loses recall, so those queries are answered exactly
over the allowed rows (they are few, so this is cheap).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sitewide.domain.types import BoolArray, FloatArray, IntArray, ValidationError
from sitewide.index.exact import check_build, check_search, topk_rows


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("the ANN index needs faiss: pip install 'faiss-cpu>=1.8'") from exc
    return faiss


class FaissIndex:
    """``kind="hnsw"`` (graph, default ``M=32``, ``ef_search=128``) or ``kind="ivf"`` (``nlist`` k-means cells,
    ``nprobe`` visited). Vectors are stored as float32; scores are inner products."""

    def __init__(
        self,
        kind: str = "hnsw",
        m: int = 32,
        ef_construction: int = 80,
        ef_search: int = 128,
        nlist: int | None = None,
        nprobe: int = 16,
        exact_below: float = 0.02,
        seed: int = 0,
    ) -> None:
        if kind not in ("hnsw", "ivf"):
            raise ValidationError(f"unknown faiss index kind {kind!r}")
        self.kind = kind
        self.m = m
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.nlist = nlist
        self.nprobe = nprobe
        self.exact_below = exact_below
        self.seed = seed
        self._ids: IntArray = np.zeros(0, dtype=np.int64)
        self._vecs = np.zeros((0, 0), dtype=np.float32)
        self._index: Any = None

    def __len__(self) -> int:
        return len(self._ids)

    def build(self, ids: IntArray, vectors: FloatArray) -> None:
        faiss = _faiss()
        self._ids, self._vecs = check_build(ids, vectors)
        n, d = self._vecs.shape
        if self.kind == "hnsw":
            index = faiss.IndexHNSWFlat(d, self.m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = self.ef_construction
        else:
            nlist = self.nlist or max(1, min(4096, int(4 * np.sqrt(max(n, 1)))))
            quant = faiss.IndexFlatIP(d)
            index = faiss.IndexIVFFlat(quant, d, nlist, faiss.METRIC_INNER_PRODUCT)
            rng = np.random.default_rng(self.seed)
            train = self._vecs[rng.choice(n, size=min(n, nlist * 40), replace=False)] if n else self._vecs
            index.cp.seed = self.seed
            index.train(train)
        if n:
            index.add(self._vecs)
        self._index = index

    def _params(self, sel: Any, k: int) -> Any:
        faiss = _faiss()
        if self.kind == "hnsw":
            return faiss.SearchParametersHNSW(sel=sel, efSearch=max(self.ef_search, k))
        return faiss.SearchParametersIVF(sel=sel, nprobe=self.nprobe)

    def search(
        self, queries: FloatArray, k: int, allowed: BoolArray | None = None
    ) -> tuple[IntArray, FloatArray]:
        if self._index is None:
            raise ValidationError("search before build")
        faiss = _faiss()
        n = len(self._ids)
        q = check_search(queries, k, self._vecs.shape[1], n, allowed)
        if n == 0:
            return np.full((len(q), k), -1, dtype=np.int64), np.zeros((len(q), k))
        if allowed is not None:
            mask = np.asarray(allowed, dtype=bool)
            n_ok = int(mask.sum())
            if n_ok < max(k, self.exact_below * n):  # few allowed: exact over the allowed rows
                rows = np.flatnonzero(mask)
                return topk_rows(q @ self._vecs[rows].T, self._ids[rows], k)
            bitmap = np.packbits(mask, bitorder="little")
            sel = faiss.IDSelectorBitmap(n, faiss.swig_ptr(bitmap))
            params = self._params(sel, k)
        else:
            params = self._params(None, k)
        kk = min(k, n)
        scores, pos = self._index.search(q, kk, params=params)
        ids = np.where(pos >= 0, self._ids[np.maximum(pos, 0)], -1)
        out_ids = np.full((len(q), k), -1, dtype=np.int64)
        out_sc = np.zeros((len(q), k), dtype=np.float64)
        out_ids[:, :kk] = ids
        out_sc[:, :kk] = np.where(pos >= 0, scores, 0.0)
        return out_ids, out_sc


def faiss_available() -> bool:
    try:
        _faiss()
    except ImportError:
        return False
    return True
