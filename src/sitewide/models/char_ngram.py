"""The serving default text encoder: character 2/3-grams hashed (CRC32) into signed buckets. No torch.

A catalogue of a million titles is encoded in seconds, not minutes: a title's grams are those of each of its
words padded with one space (`` word ``) plus one trigram per pair of neighbouring words (last letter, space,
first letter), so a batch is encoded word by word — each distinct word's grams are hashed once — and summed
with ``numpy.bincount``. The result is the same as hashing every title's grams one by one (:meth:`_one`).
"""

from __future__ import annotations

import zlib
from array import array
from collections.abc import Sequence

import numpy as np

from sitewide.domain.types import FloatArray

BATCH_MIN = 64  # below this many texts, the per-text path (with its cache) is used
_CHUNK = 16_384  # texts per bincount


def char_ngrams(text: str, ngram: tuple[int, int] = (1, 3)) -> list[str]:
    """Character n-grams of the lower-cased, whitespace-normalised text padded with one space each side."""
    t = f" {' '.join(str(text).lower().split())} "
    lo, hi = ngram
    return [t[i : i + n] for n in range(lo, hi + 1) for i in range(len(t) - n + 1) if t[i : i + n].strip()]


def _codes(grams: Sequence[str], dim: int) -> list[int]:
    """Each gram's bucket, ``+ dim`` when it counts -1 (the sign is bit 16 of the CRC32)."""
    out = []
    for g in grams:
        h = zlib.crc32(g.encode())
        out.append(h % dim + (0 if (h >> 16) & 1 else dim))
    return out


class CharNgramEncoder:
    """Character 2/3-grams hashed (CRC32) into ``dim`` signed buckets, L2-normalised; no training, any script.
    The serving default (``sitewide.wiring``): the shipped ranker's similarity features were computed with it.
    ``encode(texts) -> [n, dim]`` float32; repeated texts (queries) come from a bounded cache."""

    def __init__(self, dim: int = 256, cache_size: int = 100_000) -> None:
        self.dim = dim
        self._cache: dict[str, FloatArray] = {}  # encoding is a Python loop over n-grams
        self._cache_size = cache_size

    def _one(self, text: str) -> FloatArray:
        v = self._cache.get(text)
        if v is None:
            acc = np.zeros(2 * self.dim, dtype=np.float64)
            np.add.at(acc, np.asarray(_codes(char_ngrams(text, (2, 3)), self.dim), dtype=np.int64), 1.0)
            v = _unit(acc[None, : self.dim] - acc[None, self.dim :])[0]
            if len(self._cache) < self._cache_size:
                self._cache[text] = v
        return v

    def encode(self, texts: Sequence[str]) -> FloatArray:
        if not len(texts):
            return np.zeros((0, self.dim), dtype=np.float32)
        if len(texts) < BATCH_MIN:
            return np.stack([self._one(t) for t in texts])
        return self._batch(texts)

    def _batch(self, texts: Sequence[str]) -> FloatArray:
        """Word by word (module docstring): units are words (``word``) and word joins (``"x y"``, with a
        space, so the two kinds never collide); each unit's codes are computed once per call."""
        dim = self.dim
        unit: dict[str, int] = {}
        ptr = array("q", [0])
        data = array("i")
        out: np.ndarray = np.empty((len(texts), dim), dtype=np.float32)
        for lo in range(0, len(texts), _CHUNK):
            part = texts[lo : lo + _CHUNK]
            ids = array("q")
            n_units = array("q")
            for t in part:
                ws = str(t).lower().split()
                before = len(ids)
                for w in ws:
                    u = unit.get(w)
                    if u is None:
                        u = unit[w] = len(unit)
                        data.extend(_codes(char_ngrams(w, (2, 3)), dim))
                        ptr.append(len(data))
                    ids.append(u)
                for a, b in zip(ws, ws[1:], strict=False):
                    key = f"{a[-1]} {b[0]}"
                    u = unit.get(key)
                    if u is None:
                        u = unit[key] = len(unit)
                        data.extend(_codes([key], dim))
                        ptr.append(len(data))
                    ids.append(u)
                n_units.append(len(ids) - before)
            out[lo : lo + len(part)] = _sum_units(
                np.frombuffer(ids, dtype=np.int64),
                np.frombuffer(n_units, dtype=np.int64),
                np.frombuffer(ptr, dtype=np.int64),
                np.frombuffer(data, dtype=np.int32),
                dim,
            )
        return out


def _sum_units(
    ids: np.ndarray, n_units: np.ndarray, ptr: np.ndarray, data: np.ndarray, dim: int
) -> FloatArray:
    """``[len(n_units), dim]`` unit vectors: text ``r`` sums the codes of its ``n_units[r]`` units in ``ids``."""
    n = len(n_units)
    text_of_unit = np.repeat(np.arange(n, dtype=np.int64), n_units)
    start, length = ptr[ids], ptr[ids + 1] - ptr[ids]
    total = int(length.sum())
    # CSR expansion: for every unit occurrence, the positions start .. start + length - 1 of ``data``
    first = np.cumsum(length) - length
    pos = np.arange(total, dtype=np.int64) - np.repeat(first - start, length)
    text_of_code = np.repeat(text_of_unit, length)
    acc = np.bincount(text_of_code * (2 * dim) + data[pos], minlength=n * 2 * dim).astype(np.float64)
    acc = acc.reshape(n, 2, dim)
    return _unit(acc[:, 0] - acc[:, 1])


def _unit(x: np.ndarray) -> FloatArray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    out: FloatArray = (x / np.where(norm == 0, 1.0, norm)).astype(np.float32)
    return out
