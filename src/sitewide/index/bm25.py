"""BM25 lexical retrieval (``bm25s``): the lexical baseline and a second retrieval source for search queries.

Tokens (``domain.text.tokenize``): lower-cased Latin/digit words, and for CJK text every character plus every
character bigram (Chinese titles have no spaces, so words are not available without a segmenter).

Bounded work per query: up to ``exact_below`` titles a query scores every title (exact; at 20,000 Chinese titles
about 0.3 ms CPU). Past it, a query reads at most ``max_postings`` postings (a posting: a title holding a token,
with its BM25 term score), its rarest tokens first and each token's highest-scoring postings first, and scores the
titles found there on every query token (binary search in each token's postings). A query whose tokens' postings
fit the budget is still scored exactly; past it, a title reached only through unread postings of common tokens
(single common characters: 新, 款, 女) is not returned. ``bench/ranking.py`` measures both at 20,000 (quick) and
100,000 Chinese titles.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sitewide.domain.text import tokenize
from sitewide.domain.types import BoolArray, FloatArray, IntArray, ValidationError


class BM25Index:
    """``build(ids, texts)``; ``search(queries, k, allowed) -> (ids [Q, k], scores [Q, k])``, -1 padded.

    Documents with no query token in common score 0 and are not returned.
    """

    def __init__(
        self, k1: float = 1.5, b: float = 0.75, max_postings: int = 2_000, exact_below: int = 50_000
    ) -> None:
        if max_postings < 1 or exact_below < 0:
            raise ValidationError("max_postings must be ≥ 1 and exact_below ≥ 0")
        self.k1 = k1
        self.b = b
        self.max_postings = max_postings
        self.exact_below = exact_below
        self._ids: IntArray = np.zeros(0, dtype=np.int64)
        self._bm25: Any = None
        self._impact: IntArray = np.zeros(0, dtype=np.int64)  # each token's postings, best term score first

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
        if len(ids_) <= self.exact_below:  # every title scored: no postings read one by one
            self._impact = np.zeros(0, dtype=np.int64)
            return
        sc = self._bm25.scores
        token = np.repeat(np.arange(len(sc["indptr"]) - 1), np.diff(sc["indptr"]))
        docs_first = np.lexsort((sc["indices"], token))
        if np.any(docs_first != np.arange(len(token))):  # postings sorted by document: binary search needs it
            sc["indices"], sc["data"] = sc["indices"][docs_first], sc["data"][docs_first]
        self._impact = np.lexsort((-sc["data"], token))

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
        mask = None if allowed is None else np.asarray(allowed, dtype=bool)
        for r, q in enumerate(queries):
            toks = tokenize(q)
            if not toks or kk == 0:
                continue
            if n <= self.exact_below:  # every title scored
                scores = np.asarray(self._bm25.get_scores(toks), dtype=np.float64)
                if mask is not None:
                    scores = scores * mask
                top = np.argpartition(-scores, kk - 1)[:kk] if kk < n else np.arange(n)
                top = top[np.argsort(-scores[top], kind="stable")]
                top_sc = scores[top]
            else:  # the titles in the postings read
                top, top_sc = self._scores(toks)
                if mask is not None:
                    top, top_sc = top[mask[top]], top_sc[mask[top]]
                best = np.lexsort((top, -top_sc))[:kk]  # best first; ties: the earlier title
                top, top_sc = top[best], top_sc[best]
            keep = top_sc > 0
            out_ids[r, : keep.sum()] = self._ids[top[keep]]
            out_sc[r, : keep.sum()] = top_sc[keep]
        return out_ids, out_sc

    def _scores(self, toks: list[str]) -> tuple[IntArray, FloatArray]:
        """``(documents, BM25 scores)`` for a query's tokens: the documents in the postings read (rarest tokens
        first, within ``max_postings``), scored on every token."""
        vocab = self._bm25.vocab_dict
        tids = np.array([vocab[t] for t in toks if t in vocab], dtype=np.int64)
        sc = self._bm25.scores
        indptr, indices, data = sc["indptr"], sc["indices"], sc["data"]
        tids = tids[np.argsort(indptr[tids + 1] - indptr[tids], kind="stable")]
        read: list[IntArray] = []
        whole: list[bool] = []  # per token read: read whole (else: its first postings only)
        budget = self.max_postings
        for t in tids.tolist():
            a, b_ = int(indptr[t]), int(indptr[t + 1])
            if budget <= 0:
                break
            take = min(b_ - a, budget)
            read.append(self._impact[a : a + take])
            whole.append(take == b_ - a)
            budget -= take
        if not read:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        at = np.concatenate(read)
        docs, inv = np.unique(indices[at], return_inverse=True)
        in_whole = np.repeat(whole, [len(x) for x in read])
        scores = np.bincount(
            inv.reshape(-1)[in_whole], weights=data[at][in_whole].astype(np.float64), minlength=len(docs)
        ).astype(np.float64)
        for t in tids[sum(whole) :].tolist():  # tokens not read whole (the last read, the unread): by lookup
            a, b_ = int(indptr[t]), int(indptr[t + 1])
            pos = a + np.searchsorted(indices[a:b_], docs)
            hit = pos < b_
            hit[hit] = indices[pos[hit]] == docs[hit]
            scores[hit] += data[pos[hit]]
        return docs.astype(np.int64), scores
