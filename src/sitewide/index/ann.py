"""Approximate nearest-neighbour search with faiss (``faiss-cpu``): IVF (the serving default) or HNSW, over inner
product, with products added, changed and removed without a rebuild.

- IVF-Flat: ``nlist`` k-means cells (default ≈ 2·√n; one cell — an exact scan — below ``one_cell_below``
  vectors, where a scan costs less than a millisecond), ``nprobe`` of them scanned per query. Builds in about a
  minute for a million 256-d vectors on one core (HNSW takes over ten), and :meth:`FaissIndex.tune` sets
  ``nprobe`` to the smallest value that reaches a recall target against exact search on sample queries.
- HNSW: graph search (``M``, ``ef_search``).

Ids are non-negative ints (catalogue rows). Internally each vector has a position; changing a product's vector
adds it at a new position and retires the old one (IVF removes it from its cell; HNSW, whose graph cannot
delete, keeps it as a tombstone that the search's ``IDSelectorBitmap`` skips). An ``allowed`` mask (indexed by
id) is applied inside the search in the same way, so the walk skips disallowed products instead of over-fetching
and dropping; when very few products are allowed (below ``exact_below`` of the index) the query is answered
exactly over the allowed rows, which are few. Without a mask and without tombstones a query does no work
proportional to the catalogue.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sitewide.domain.types import BoolArray, FloatArray, IntArray, ValidationError
from sitewide.index.exact import check_build, check_search, topk_rows

_FAISS: Any = None


def _faiss() -> Any:
    """faiss, with OpenMP at one thread: a serving query is one vector, parallelism comes from concurrent
    requests, and OpenMP's spinning threads on a loaded machine cost more than they give (builds ask for more
    through :func:`_threads`)."""
    global _FAISS
    if _FAISS is None:
        try:
            import faiss
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("the ANN index needs faiss: pip install 'faiss-cpu>=1.8'") from exc
        faiss.omp_set_num_threads(1)
        _FAISS = faiss
    return _FAISS


class _threads:
    """``with _threads(n):`` faiss uses ``n`` OpenMP threads inside (index builds), then one again."""

    def __init__(self, n: int) -> None:
        self.n = max(1, n)

    def __enter__(self) -> None:
        _faiss().omp_set_num_threads(self.n)

    def __exit__(self, *exc: object) -> None:
        _faiss().omp_set_num_threads(1)


@dataclass(eq=False)
class FaissIndex:
    """``kind="ivf"`` (``nlist`` cells, ``nprobe`` visited) or ``kind="hnsw"`` (``m``, ``ef_search``).
    Vectors are stored as float32 inside faiss; scores are inner products. ``one_cell_below``: IVF over fewer
    vectors is one cell, i.e. an exact scan; ``build_threads``: OpenMP threads for build and add (0: all)."""

    kind: str = "ivf"
    m: int = 32
    ef_construction: int = 80
    ef_search: int = 128
    nlist: int | None = None
    nprobe: int = 16
    exact_below: float = 0.02
    seed: int = 0
    one_cell_below: int = 20_000
    build_threads: int = 0
    _ids: IntArray = field(init=False, repr=False)  # position → id
    _pos: IntArray = field(init=False, repr=False)  # id → position (-1: absent)
    _live: BoolArray = field(init=False, repr=False)  # per position
    _tombstones: int = field(init=False, default=0)  # dead positions still in the faiss index (HNSW)
    _bits: np.ndarray | None = field(init=False, default=None, repr=False)  # packed _live with tombstones
    _index: Any = field(init=False, default=None, repr=False)
    dim: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if self.kind not in ("hnsw", "ivf"):
            raise ValidationError(f"unknown faiss index kind {self.kind!r}")
        self.build_threads = self.build_threads or (os.cpu_count() or 1)
        self._ids = np.zeros(0, dtype=np.int64)
        self._pos = np.zeros(0, dtype=np.int64)
        self._live = np.zeros(0, dtype=bool)

    def __len__(self) -> int:
        return int(self._live.sum())

    @property
    def id_bound(self) -> int:
        """One more than the largest id the index has held: the length an ``allowed`` mask must have."""
        return len(self._pos)

    # building and changing -------------------------------------------------------------------------
    def build(self, ids: IntArray, vectors: FloatArray) -> None:
        faiss = _faiss()
        ids_, vecs = check_build(ids, vectors)
        if len(ids_) and (ids_.min() < 0 or len(np.unique(ids_)) != len(ids_)):
            raise ValidationError("ids must be distinct and non-negative")
        n, d = vecs.shape
        self.dim = d
        if self.kind == "hnsw":
            index = faiss.IndexHNSWFlat(d, self.m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = self.ef_construction
        else:
            # ≈ 2·√n cells with ≥ 39 training points each (faiss's minimum); one cell (exact) for small n
            auto = 1 if n < self.one_cell_below else min(8192, int(2 * np.sqrt(n)), n // 39)
            nlist = max(1, self.nlist or auto)
            quant = faiss.IndexFlatIP(d)
            index = faiss.IndexIVFFlat(quant, d, nlist, faiss.METRIC_INNER_PRODUCT)
            rng = np.random.default_rng(self.seed)
            train = vecs[np.sort(rng.choice(n, size=min(n, nlist * 40), replace=False))] if n else vecs
            index.cp.seed = self.seed
            index.cp.niter = 12
            with _threads(self.build_threads):
                index.train(train if len(train) >= nlist else np.resize(vecs, (nlist, d)))
            index.set_direct_map_type(faiss.DirectMap.Hashtable)  # reconstruct + remove by id
        self._index = index
        self._ids = np.zeros(0, dtype=np.int64)
        self._pos = np.full(int(ids_.max()) + 1 if n else 0, -1, dtype=np.int64)
        self._live = np.zeros(0, dtype=bool)
        self._tombstones = 0
        self._bits = None
        self._append(ids_, vecs)

    def _append(self, ids: IntArray, vecs: np.ndarray) -> None:
        start = len(self._ids)
        pos = np.arange(start, start + len(ids), dtype=np.int64)
        with _threads(self.build_threads if len(ids) > 1_000 else 1):
            if self.kind == "hnsw":
                self._index.add(vecs)
            else:
                self._index.add_with_ids(vecs, pos)
        self._ids = np.concatenate([self._ids, ids])
        self._live = np.concatenate([self._live, np.ones(len(ids), dtype=bool)])
        need = int(ids.max()) + 1 if len(ids) else 0
        if need > len(self._pos):
            self._pos = np.concatenate([self._pos, np.full(need - len(self._pos), -1, dtype=np.int64)])
        self._pos[ids] = pos
        self._bits = np.packbits(self._live, bitorder="little") if self._tombstones else None

    def upsert(self, ids: IntArray, vectors: FloatArray) -> None:
        """Add products, or change the vectors of products already in the index; no rebuild."""
        if self._index is None:
            raise ValidationError("upsert before build")
        ids_, vecs = check_build(ids, vectors)
        if vecs.shape[1] != self.dim or (len(ids_) and ids_.min() < 0):
            raise ValidationError(f"vectors must be [n, {self.dim}] with non-negative ids")
        if len(np.unique(ids_)) != len(ids_):
            raise ValidationError("ids must be distinct")
        self.remove(ids_[ids_ < len(self._pos)])
        self._append(ids_, vecs)

    def remove(self, ids: IntArray) -> None:
        """Take products out of the index (ids it does not hold are ignored)."""
        ids_ = np.asarray(ids, dtype=np.int64).reshape(-1)
        ids_ = ids_[(ids_ >= 0) & (ids_ < len(self._pos))]
        pos = self._pos[ids_]
        pos = pos[pos >= 0]
        if not len(pos):
            return
        self._live[pos] = False
        self._pos[self._ids[pos]] = -1
        if self.kind == "ivf":
            faiss = _faiss()
            arr = np.ascontiguousarray(pos, dtype=np.int64)
            self._index.remove_ids(faiss.IDSelectorArray(len(arr), faiss.swig_ptr(arr)))
        else:
            self._tombstones += len(pos)
        self._bits = np.packbits(self._live, bitorder="little") if self._tombstones else None

    # searching --------------------------------------------------------------------------------------
    def _params(self, sel: Any, k: int) -> Any:
        faiss = _faiss()
        if self.kind == "hnsw":
            return faiss.SearchParametersHNSW(sel=sel, efSearch=max(self.ef_search, k))
        return faiss.SearchParametersIVF(sel=sel, nprobe=self.nprobe)

    def _vectors(self, pos: IntArray) -> np.ndarray:
        out = np.empty((len(pos), self.dim), dtype=np.float32)
        for j, p in enumerate(pos.tolist()):
            out[j] = self._index.reconstruct(int(p))
        return out

    def search(
        self, queries: FloatArray, k: int, allowed: BoolArray | None = None
    ) -> tuple[IntArray, FloatArray]:
        if self._index is None:
            raise ValidationError("search before build")
        faiss = _faiss()
        q = check_search(queries, k, self.dim, len(self._pos), allowed)
        n_pos = len(self._ids)
        if not self._live.any():
            return np.full((len(q), k), -1, dtype=np.int64), np.zeros((len(q), k))
        if allowed is not None:
            ok = self._live & np.asarray(allowed, dtype=bool)[self._ids]
            n_ok = int(ok.sum())
            if n_ok < max(k, self.exact_below * len(self)):  # few allowed: exact over the allowed rows
                pos = np.flatnonzero(ok)
                return topk_rows(q @ self._vectors(pos).T, self._ids[pos], k)
            sel = faiss.IDSelectorBitmap(n_pos, faiss.swig_ptr(np.packbits(ok, bitorder="little")))
        elif self._bits is not None:
            sel = faiss.IDSelectorBitmap(n_pos, faiss.swig_ptr(self._bits))
        else:
            sel = None
        kk = min(k, n_pos)
        scores, pos = self._index.search(q, kk, params=self._params(sel, k))
        out_ids = np.full((len(q), k), -1, dtype=np.int64)
        out_sc = np.zeros((len(q), k), dtype=np.float64)
        out_ids[:, :kk] = np.where(pos >= 0, self._ids[np.maximum(pos, 0)], -1)
        out_sc[:, :kk] = np.where(pos >= 0, scores, 0.0)
        return out_ids, out_sc

    def exact(self, queries: FloatArray, k: int) -> tuple[IntArray, FloatArray]:
        """Exact top-k over the live products (IVF: every cell scanned; HNSW: its flat storage)."""
        q = check_search(queries, k, self.dim, len(self._pos), None)
        sel = (
            _faiss().IDSelectorBitmap(len(self._ids), _faiss().swig_ptr(self._bits))
            if self._bits is not None
            else None
        )
        kk = min(k, len(self._ids))
        with _threads(self.build_threads):
            if self.kind == "ivf":
                scores, pos = self._index.search(
                    q, kk, params=_faiss().SearchParametersIVF(sel=sel, nprobe=self._index.nlist)
                )
            else:
                scores, pos = self._index.storage.search(q, kk, params=_faiss().SearchParameters(sel=sel))
        out_ids = np.full((len(q), k), -1, dtype=np.int64)
        out_ids[:, :kk] = np.where(pos >= 0, self._ids[np.maximum(pos, 0)], -1)
        out_sc = np.zeros((len(q), k), dtype=np.float64)
        out_sc[:, :kk] = np.where(pos >= 0, scores, 0.0)
        return out_ids, out_sc

    def tune(self, queries: FloatArray, k: int, target: float = 0.97, limit: int = 4096) -> float:
        """Raise ``nprobe`` (IVF) or ``ef_search`` (HNSW) in steps of 1.5×, from its current value, until the recall
        of the top ``k`` of ``queries`` against exact search reaches ``target`` or the knob ``limit``; returns
        the recall reached (1.0 for a one-cell IVF, which is exact)."""
        if self._index is None or not self._live.any():
            return 1.0
        if self.kind == "ivf" and self._index.nlist == 1:
            return 1.0
        want, _ = self.exact(queries, k)
        while True:
            got, _ = self.search(queries, k)
            rec = recall(got, want)
            knob = self.nprobe if self.kind == "ivf" else self.ef_search
            if rec >= target or knob >= limit:
                return rec
            step = min(limit, max(knob + 1, knob * 3 // 2))
            if self.kind == "ivf":
                self.nprobe = step
            else:
                self.ef_search = step

    # persistence (benchmarks cache a large index on disk) -------------------------------------------
    def save(self, path: Path) -> None:
        faiss = _faiss()
        path.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self._index, str(path / "faiss.index"))
        np.savez(
            path / "meta.npz",
            ids=self._ids,
            live=self._live,
            knobs=np.array([self.nprobe, self.ef_search, self._tombstones, self.dim]),
        )

    def load(self, path: Path) -> None:
        faiss = _faiss()
        self._index = faiss.read_index(str(path / "faiss.index"))
        meta = np.load(path / "meta.npz")
        self._ids, self._live = meta["ids"], meta["live"]
        self.nprobe, self.ef_search, self._tombstones, self.dim = (int(x) for x in meta["knobs"])
        self._pos = np.full(int(self._ids.max()) + 1 if len(self._ids) else 0, -1, dtype=np.int64)
        live = np.flatnonzero(self._live)
        self._pos[self._ids[live]] = live
        self._bits = np.packbits(self._live, bitorder="little") if self._tombstones else None


def recall(got: IntArray, want: IntArray) -> float:
    """Mean share of each row of ``want`` (ids, ``-1`` = padding) found in the same row of ``got``."""
    out = []
    for g, w in zip(np.asarray(got), np.asarray(want), strict=True):
        ws = set(w[w >= 0].tolist())
        if ws:
            out.append(len(ws & set(g.tolist())) / len(ws))
    return float(np.mean(out)) if out else 1.0


def faiss_available() -> bool:
    try:
        _faiss()
    except ImportError:
        return False
    return True
