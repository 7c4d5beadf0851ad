"""Baselines trained on the same split as the ranker: popularity, logistic regression, category/price priors.

- :class:`PopularityModel` — per-product smoothed rates (clicks / impressions, orders / clicks,
  orders / impressions), shrunk to the global rate with a Beta prior of strength ``prior``.
- :class:`LogisticRegressionModel` — one logistic regression per task over the *same* hashed features as the
  ranker (one-hot of every categorical code, the dense columns) plus one-hot position, fitted full-batch with
  L-BFGS and L2. CTR and CTCVR on all impressions, CVR on clicked impressions.
- :class:`CategoryPriceScorer` — a ``Scorer``: pCTR and pCVR from smoothed category rates times a price-decile factor,
  fitted from a log; unfitted, it returns the base rates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from sitewide.domain.types import FloatArray, IntArray, Product, ValidationError
from sitewide.models.features import FeaturePipeline, RankBatch, logged_pairs
from sitewide.models.scorer import LoggedPrediction
from sitewide.ports import ScoreInput
from sitewide.training.data import RankingLog


def _flat(log: RankingLog) -> tuple[IntArray, IntArray, np.ndarray, np.ndarray]:
    rows, cols = logged_pairs(log.inputs)
    click = log.click[rows, cols].astype(np.float64)
    order = (
        log.order[rows, cols].astype(np.float64) if log.order is not None else np.zeros(len(rows))
    ) * click
    return rows, cols, click, order


class PopularityModel:
    def __init__(self, n_products: int, prior: float = 20.0) -> None:
        self.n_products = n_products
        self.prior = prior
        self.ctr = np.zeros(n_products)
        self.cvr = np.zeros(n_products)
        self.ctcvr = np.zeros(n_products)

    def fit(self, log: RankingLog) -> PopularityModel:
        rows, cols, click, order = _flat(log)
        p = log.inputs.product[rows, cols]
        imp = np.bincount(p, minlength=self.n_products).astype(np.float64)
        clk = np.bincount(p, weights=click, minlength=self.n_products)
        odr = np.bincount(p, weights=order, minlength=self.n_products)
        g_ctr = clk.sum() / max(imp.sum(), 1.0)
        g_cvr = odr.sum() / max(clk.sum(), 1.0)
        g_ctcvr = odr.sum() / max(imp.sum(), 1.0)
        a = self.prior
        self.ctr = (clk + a * g_ctr) / (imp + a)
        self.cvr = (odr + a * g_cvr) / (clk + a)
        self.ctcvr = (odr + a * g_ctcvr) / (imp + a)
        return self

    def predict_logged(self, x: ScoreInput) -> LoggedPrediction:
        rows, cols = logged_pairs(x)
        p = x.product[rows, cols]
        return LoggedPrediction(self.ctr[p], self.ctr[p], self.cvr[p], self.ctcvr[p])

    def scores(self) -> FloatArray:
        """Popularity of every product (CTR), the retrieval baseline's ranking score."""
        return self.ctr


class _Linear(nn.Module):
    """``logit = b + Σ_f w[cat_f] + v·dense + u[position]``; ``[B]``."""

    def __init__(self, n_buckets: int, n_dense: int, n_positions: int) -> None:
        super().__init__()
        self.w = nn.Embedding(n_buckets, 1)
        nn.init.zeros_(self.w.weight)
        self.v = nn.Linear(n_dense, 1)
        nn.init.zeros_(self.v.weight)
        self.u = nn.Embedding(n_positions, 1)
        nn.init.zeros_(self.u.weight)

    def forward(self, b: RankBatch) -> torch.Tensor:
        out: torch.Tensor = self.w(b.cat).sum(dim=(1, 2)) + self.v(b.dense).squeeze(-1)
        if b.position is not None:
            out = out + self.u(b.position).squeeze(-1)
        return out


@dataclass
class _Standardiser:
    mean: torch.Tensor
    std: torch.Tensor

    def __call__(self, b: RankBatch) -> RankBatch:
        return RankBatch(b.cat, (b.dense - self.mean) / self.std, b.position, b.rows, b.cols)


class LogisticRegressionModel:
    def __init__(self, pipeline: FeaturePipeline, l2: float = 1e-4, max_iter: int = 100) -> None:
        self.pipeline = pipeline
        self.l2 = l2
        self.max_iter = max_iter
        n = pipeline.n_buckets
        k = pipeline.spec.n_dense
        self.models = {t: _Linear(n, k, pipeline.n_positions) for t in ("ctr", "cvr", "ctcvr")}
        self.std: _Standardiser | None = None

    def _fit_one(self, model: _Linear, b: RankBatch, y: torch.Tensor) -> None:
        if len(y) == 0 or float(y.sum()) == 0.0:
            return
        opt = torch.optim.LBFGS(
            model.parameters(), lr=1.0, max_iter=self.max_iter, line_search_fn="strong_wolfe"
        )
        used = torch.unique(b.cat)

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = F.binary_cross_entropy_with_logits(model(b), y)
            reg = (
                model.w.weight[used].pow(2).sum() + model.v.weight.pow(2).sum() + model.u.weight.pow(2).sum()
            )
            loss = loss + self.l2 * reg
            loss.backward()  # type: ignore[no-untyped-call]
            return loss

        opt.step(closure)  # type: ignore[no-untyped-call]

    def fit(self, log: RankingLog) -> LogisticRegressionModel:
        torch.manual_seed(0)
        b = self.pipeline.transform(log.inputs)
        self.std = _Standardiser(b.dense.mean(0), b.dense.std(0).clamp(min=1e-6))
        b = self.std(b)
        _, _, click, order = _flat(log)
        yc = torch.tensor(click, dtype=torch.float32)
        yo = torch.tensor(order, dtype=torch.float32)
        self._fit_one(self.models["ctr"], b, yc)
        self._fit_one(self.models["ctcvr"], b, yo)
        clicked = torch.nonzero(yc > 0).squeeze(-1)
        self._fit_one(self.models["cvr"], b.take(clicked), yo[clicked])
        return self

    def predict_logged(self, x: ScoreInput) -> LoggedPrediction:
        if self.std is None:
            raise ValidationError("predict before fit")
        b = self.std(self.pipeline.transform(x))
        with torch.no_grad():
            ctr = torch.sigmoid(self.models["ctr"](b)).numpy().astype(np.float64)
            cvr = torch.sigmoid(self.models["cvr"](b)).numpy().astype(np.float64)
            ctcvr = torch.sigmoid(self.models["ctcvr"](b)).numpy().astype(np.float64)
        return LoggedPrediction(ctr, ctr, cvr, ctcvr)


class CategoryPriceScorer:
    """pCTR = category CTR × price-decile factor; pCVR = category CVR × price-decile factor (all smoothed).

    ``products`` fixes the row order of ``ScoreInput.product``. Base rates before :meth:`fit`: CTR 4.05 % and
    CVR 0.53 %, the ESMM paper's full Ali-CCP figures.
    """

    def __init__(
        self, products: list[Product], base_ctr: float = 0.0405, base_cvr: float = 0.0053, prior: float = 50.0
    ) -> None:
        if not products:
            raise ValidationError("empty catalogue")
        cats = sorted({p.category for p in products})
        code = {c: i for i, c in enumerate(cats)}
        self.category = np.array([code[p.category] for p in products], dtype=np.int64)
        price = np.array([float(p.price_micros) for p in products])
        edges = np.quantile(price, np.linspace(0, 1, 11)[1:-1])
        self.decile = np.searchsorted(edges, price, side="right").astype(np.int64)
        self.prior = prior
        self.ctr_cat = np.full(len(cats), base_ctr)
        self.cvr_cat = np.full(len(cats), base_cvr)
        self.ctr_dec = np.ones(10)
        self.cvr_dec = np.ones(10)

    def fit(self, log: RankingLog, exam: FloatArray | None = None) -> CategoryPriceScorer:
        """Rates from a log; with ``exam [positions]``, impressions count as ``exam[position]`` examinations."""
        rows, cols, click, order = _flat(log)
        p = log.inputs.product[rows, cols]
        w = (
            np.ones(len(p))
            if exam is None or log.inputs.position is None
            else exam[log.inputs.position[rows, cols]]
        )
        c, d = self.category[p], self.decile[p]
        g_ctr = click.sum() / max(w.sum(), 1.0)
        g_cvr = order.sum() / max(click.sum(), 1.0)
        a = self.prior
        nc = len(self.ctr_cat)
        self.ctr_cat = (np.bincount(c, click, nc) + a * g_ctr) / (np.bincount(c, w, nc) + a)
        self.cvr_cat = (np.bincount(c, order, nc) + a * g_cvr) / (np.bincount(c, click, nc) + a)
        self.ctr_dec = ((np.bincount(d, click, 10) + a * g_ctr) / (np.bincount(d, w, 10) + a)) / max(
            g_ctr, 1e-12
        )
        self.cvr_dec = ((np.bincount(d, order, 10) + a * g_cvr) / (np.bincount(d, click, 10) + a)) / max(
            g_cvr, 1e-12
        )
        return self

    def score(self, x: ScoreInput) -> tuple[FloatArray, FloatArray]:
        prod = np.asarray(x.product)
        safe = np.maximum(prod, 0)
        c, d = self.category[safe], self.decile[safe]
        ctr = np.clip(self.ctr_cat[c] * self.ctr_dec[d], 1e-6, 0.99)
        cvr = np.clip(self.cvr_cat[c] * self.cvr_dec[d], 1e-6, 0.99)
        pad = prod < 0
        return np.where(pad, 0.0, ctr), np.where(pad, 0.0, cvr)
