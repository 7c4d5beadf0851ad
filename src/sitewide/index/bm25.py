"""BM25 lexical retrieval (``bm25s``): the lexical baseline and a second retrieval source for search queries.

Tokens: lower-cased Latin/digit words, and for CJK text every character plus every character bigram (Chinese
titles have no spaces, so words are not available without a segmenter).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from sitewide.domain.types import BoolArray, FloatArray, IntArray, ValidationError

_WORD = re.compile(r"[a-z0-9]+(?:[.\-][a-z0-9]+)*")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")


def tokenize(text: str) -> list[str]:
    t = str(text).lower()
    toks = _WORD.findall(t)
    for run in _CJK.findall(t):
        toks.extend(run)
        toks.extend(run[i : i + 2] for i in range(len(run) - 1))
    return toks


class BM25Index:
    """``build(ids, texts)``; ``search(queries, k, allowed) -> (ids [Q, k], scores [Q, k])``, -1 padded.

    Documents with no query token in common score 0 and are not returned.
    """

    def __init__(self, k1: float = 1.5, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self._ids: IntArray = np.zeros(0, dtype=np.int64)
        self._bm25: Any = None

    def __len__(self) -> int:
        return len(self._ids)

    def build(self, ids: IntArray, texts: Sequence[str]) -> None:
        import bm25s

        ids_ = np.asarray(ids, dtype=np.int64).reshape(-1)
        if len(ids_) != len(texts):
            raise ValidationError("ids and texts must have the same length")
        self._ids = ids_
        self._bm25 = bm25s.BM25(k1=self.k1, b=self.b)
        corpus = [tokenize(t) or ["\x00empty"] for t in texts]
        self._bm25.index(corpus, show_progress=False)

    def search(
        self, queries: Sequence[str], k: int, allowed: BoolArray | None = None
    ) -> tuple[IntArray, FloatArray]:
        if self._bm25 is None:
            raise ValidationError("search before build")
        if k < 1:
            raise ValidationError("k must be ≥ 1")
        n = len(self._ids)
        if allowed is not None and np.asarray(allowed).shape != (n,):
            raise ValidationError(f"allowed must be a bool mask [n={n}]")
        out_ids = np.full((len(queries), k), -1, dtype=np.int64)
        out_sc = np.zeros((len(queries), k), dtype=np.float64)
        kk = min(k, n)
        mask = None if allowed is None else np.asarray(allowed, dtype=np.float32)
        for r, q in enumerate(queries):
            toks = tokenize(q)
            if not toks or kk == 0:
                continue
            scores = np.asarray(self._bm25.get_scores(toks), dtype=np.float64)
            if mask is not None:
                scores = scores * mask
            top = np.argpartition(-scores, kk - 1)[:kk] if kk < n else np.arange(n)
            top = top[np.argsort(-scores[top], kind="stable")]
            keep = top[scores[top] > 0]
            out_ids[r, : len(keep)] = self._ids[keep]
            out_sc[r, : len(keep)] = scores[keep]
        return out_ids, out_sc
