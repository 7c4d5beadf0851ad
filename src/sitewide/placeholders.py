"""First-slice adapters: a hashed character n-gram encoder, exact cosine search and a priors scorer.

They satisfy the ports so the engine works end to end before the learned models (``models/``) and the ANN
index (``index/``) are plugged in, and they stay as the simple baselines beside them.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

from sitewide.ports import BoolArray, FloatArray, IntArray, ScoreInput


class CharNgramEncoder:
    """Hashed character 2/3-grams → signed buckets → L2-normalised vector. Works for any script."""

    def __init__(self, dim: int = 256, cache_size: int = 100_000) -> None:
        self.dim = dim
        self._cache: dict[str, FloatArray] = {}  # queries repeat; encoding is a Python loop over n-grams
        self._cache_size = cache_size

    def _grams(self, text: str) -> list[str]:
        t = f" {' '.join(text.lower().split())} "
        return [t[i : i + n] for n in (2, 3) for i in range(len(t) - n + 1)]

    def _one(self, text: str) -> FloatArray:
        v = self._cache.get(text)
        if v is None:
            v = np.zeros(self.dim, dtype=np.float64)
            for g in self._grams(text):
                h = zlib.crc32(g.encode())
                v[h % self.dim] += 1.0 if (h >> 16) & 1 else -1.0
            n = float(np.linalg.norm(v))
            v = v / n if n else v
            if len(self._cache) < self._cache_size:
                self._cache[text] = v
        return v

    def encode(self, texts: Sequence[str]) -> FloatArray:
        if not len(texts):
            return np.zeros((0, self.dim), dtype=np.float64)
        return np.stack([self._one(t) for t in texts])


class ExactCosineIndex:
    """Brute-force inner product over L2-normalised vectors."""

    def __init__(self) -> None:
        self._ids: IntArray = np.zeros(0, dtype=np.int64)
        self._vecs: FloatArray = np.zeros((0, 0))

    def build(self, ids: IntArray, vectors: FloatArray) -> None:
        self._ids = np.asarray(ids, dtype=np.int64)
        self._vecs = np.asarray(vectors, dtype=np.float32)

    def search(
        self, queries: FloatArray, k: int, allowed: BoolArray | None = None
    ) -> tuple[IntArray, FloatArray]:
        sims = (np.asarray(queries, dtype=np.float32) @ self._vecs.T).astype(np.float64)
        if allowed is not None:
            sims = np.where(allowed[None, :], sims, -np.inf)
        k = min(k, sims.shape[1])
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        part = np.take_along_axis(sims, top, axis=1)
        order = np.argsort(-part, axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        scores = np.take_along_axis(part, order, axis=1)
        ids = np.where(np.isfinite(scores), self._ids[top], -1)
        return ids, np.where(np.isfinite(scores), scores, 0.0)


class PriorScorer:
    """pCTR from a base rate scaled by retrieval similarity; pCVR from a base rate scaled by relative price.

    Base rates: CTR 4.05 % and CVR 0.53 % are the ESMM paper's full Ali-CCP figures
    (see ``../shared/data/ali_ccp_sample/PROVENANCE.md``); the shapes of the adjustments are assumptions.
    """

    def __init__(
        self, price_micros: IntArray, category: IntArray, base_ctr: float = 0.0405, base_cvr: float = 0.0053
    ) -> None:
        price = np.asarray(price_micros, dtype=np.float64)
        self._log_price = np.log(np.maximum(price, 1.0))
        cats = np.asarray(category, dtype=np.int64)
        med = np.zeros(int(cats.max()) + 1 if len(cats) else 1)
        for c in np.unique(cats):
            med[c] = np.median(self._log_price[cats == c])
        self._rel_price = self._log_price - med[cats]  # log(price / category median)
        self.base_ctr = base_ctr
        self.base_cvr = base_cvr

    def score(self, x: ScoreInput) -> tuple[FloatArray, FloatArray]:
        prod = np.maximum(x.product, 0)
        pad = x.product < 0
        sim = np.where(pad, -np.inf, np.asarray(x.similarity, dtype=np.float64))
        best = np.max(sim, axis=1, keepdims=True)
        best = np.where(np.isfinite(best), best, 0.0)
        # pCTR falls off sharply with the similarity gap to the best match of the request (assumption:
        # a 0.1 gap in cosine costs ~55 % of the clicks); feed requests click ~10x less than searches
        # (Open Bandit's feed CTR 0.38 % vs Ali-CCP's 4.05 %).
        feed = (x.request_kind[:, None] == 1) if x.request_kind.ndim == 1 else x.request_kind == 1
        ctr = 2.0 * self.base_ctr * np.exp(8.0 * np.minimum(np.where(pad, 0.0, sim) - best, 0.0))
        ctr = ctr * np.where(feed, 0.1, 1.0)
        cvr = self.base_cvr * np.exp(-0.5 * self._rel_price[prod])
        ctr = np.clip(ctr, 1e-6, 0.5)
        cvr = np.clip(cvr, 1e-6, 0.5)
        return np.where(pad, 0.0, ctr), np.where(pad, 0.0, cvr)
