"""A scorer without a model: the ``"priors"`` choice of ``EngineConfig.scorer`` and the simple baseline the
learned ranker is judged against in the benchmarks."""

from __future__ import annotations

import numpy as np

from sitewide.domain.types import FloatArray, IntArray, RequestKind
from sitewide.ports import ScoreInput


class SimilarityPriorScorer:
    """pCTR from a base rate scaled by retrieval similarity; pCVR from a base rate scaled by relative price.

    Base rates: CTR 4.05 % and CVR 0.53 % are the ESMM paper's full Ali-CCP figures
    (see ``../shared/data/ali_ccp_sample/PROVENANCE.md``); the shapes of the adjustments are assumptions.
    (Not :class:`sitewide.training.baselines.CategoryPriceScorer`, which is fitted on a log.)
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
        kind = x.request_kind[:, None] if x.request_kind.ndim == 1 else x.request_kind
        feed = kind == RequestKind.FEED
        ctr = 2.0 * self.base_ctr * np.exp(8.0 * np.minimum(np.where(pad, 0.0, sim) - best, 0.0))
        ctr = ctr * np.where(feed, 0.1, 1.0)
        cvr = self.base_cvr * np.exp(-0.5 * self._rel_price[prod])
        ctr = np.clip(ctr, 1e-6, 0.5)
        cvr = np.clip(cvr, 1e-6, 0.5)
        return np.where(pad, 0.0, ctr), np.where(pad, 0.0, cvr)
