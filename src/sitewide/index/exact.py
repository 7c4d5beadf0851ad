"""Exact inner-product search in numpy: the reference that ANN adapters are tested against."""

from __future__ import annotations

import numpy as np

from sitewide.domain.types import BoolArray, FloatArray, IntArray, ValidationError


def check_build(ids: IntArray, vectors: FloatArray) -> tuple[IntArray, np.ndarray]:
    ids_ = np.asarray(ids, dtype=np.int64).reshape(-1)
    vecs = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if vecs.ndim != 2 or vecs.shape[0] != ids_.shape[0]:
        raise ValidationError(f"vectors must be [n, d] with n = len(ids); got {vecs.shape} and {ids_.shape}")
    if not np.isfinite(vecs).all():
        raise ValidationError("vectors contain NaN or inf")
    return ids_, vecs


def check_search(queries: FloatArray, k: int, dim: int, n: int, allowed: BoolArray | None) -> np.ndarray:
    q = np.ascontiguousarray(np.asarray(queries, dtype=np.float32))
    if q.ndim == 1:
        q = q[None, :]
    if q.ndim != 2 or q.shape[1] != dim:
        raise ValidationError(f"queries must be [Q, {dim}], got {q.shape}")
    if k < 1:
        raise ValidationError("k must be ≥ 1")
    if allowed is not None and np.asarray(allowed).shape != (n,):
        raise ValidationError(f"allowed must be a bool mask [n={n}] aligned with the built ids")
    return q


def topk_rows(sims: np.ndarray, ids: IntArray, k: int) -> tuple[IntArray, FloatArray]:
    """Top-k of every row of ``sims [Q, n]`` (``-inf`` = excluded) → ``(ids [Q, k], scores [Q, k])``, -1 padded."""
    qn, n = sims.shape
    kk = min(k, n)
    out_ids = np.full((qn, k), -1, dtype=np.int64)
    out_sc = np.zeros((qn, k), dtype=np.float64)
    if kk == 0:
        return out_ids, out_sc
    top = np.argpartition(-sims, kk - 1, axis=1)[:, :kk] if kk < n else np.tile(np.arange(n), (qn, 1))
    part = np.take_along_axis(sims, top, axis=1)
    order = np.argsort(-part, axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1)
    sc = np.take_along_axis(part, order, axis=1)
    ok = np.isfinite(sc)
    out_ids[:, :kk] = np.where(ok, ids[top], -1)
    out_sc[:, :kk] = np.where(ok, sc, 0.0)
    return out_ids, out_sc


class ExactIndex:
    """Brute-force inner product (cosine on L2-normalised vectors), float32 matmul in blocks of queries."""

    def __init__(self, block: int = 256) -> None:
        self.block = block
        self._ids: IntArray = np.zeros(0, dtype=np.int64)
        self._vecs = np.zeros((0, 0), dtype=np.float32)

    def build(self, ids: IntArray, vectors: FloatArray) -> None:
        self._ids, self._vecs = check_build(ids, vectors)

    def __len__(self) -> int:
        return len(self._ids)

    def search(
        self, queries: FloatArray, k: int, allowed: BoolArray | None = None
    ) -> tuple[IntArray, FloatArray]:
        q = check_search(queries, k, self._vecs.shape[1], len(self._ids), allowed)
        mask = None if allowed is None else np.asarray(allowed, dtype=bool)
        outs_i, outs_s = [], []
        for s in range(0, max(len(q), 1), self.block):
            sims = q[s : s + self.block] @ self._vecs.T
            if mask is not None:
                sims = np.where(mask[None, :], sims, -np.inf)
            i, sc = topk_rows(sims, self._ids, k)
            outs_i.append(i)
            outs_s.append(sc)
        return np.concatenate(outs_i), np.concatenate(outs_s)
