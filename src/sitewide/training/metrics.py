"""Offline metrics: AUC, log-loss, expected calibration error, recall@k and NDCG@k."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sitewide.domain.types import FloatArray, IntArray, ValidationError


def _midranks(s: np.ndarray) -> np.ndarray:
    """1-based ranks of ``s``, ties sharing their average rank."""
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    _, start, counts = np.unique(s[order], return_index=True, return_counts=True)
    ranks[order] = np.repeat(start + (counts - 1) / 2.0 + 1.0, counts)
    return ranks


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC by the rank-sum formula, ties get average ranks. NaN when only one class is present."""
    y_ = np.asarray(y, dtype=bool).ravel()
    s = np.asarray(score, dtype=np.float64).ravel()
    if y_.shape != s.shape:
        raise ValidationError("labels and scores must have the same shape")
    n_pos = int(y_.sum())
    n_neg = len(y_) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _midranks(s)
    return float((ranks[y_].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


@dataclass(frozen=True)
class AucComparison:
    """Two scores' AUCs on the same labels with DeLong's standard errors: of each AUC and of their difference
    (paired: the same rows, so the difference is far less noisy than either AUC when the scores agree)."""

    auc_a: float
    auc_b: float
    se_a: float
    se_b: float
    se_diff: float


def compare_auc(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> AucComparison:
    """DeLong, DeLong & Clarke-Pearson (1988) for two scores of the same rows."""
    y_ = np.asarray(y, dtype=bool).ravel()
    pos, neg = np.flatnonzero(y_), np.flatnonzero(~y_)
    if not len(pos) or not len(neg):
        nan = float("nan")
        return AucComparison(nan, nan, nan, nan, nan)
    v10, v01 = [], []
    for score in (a, b):
        s = np.asarray(score, dtype=np.float64).ravel()
        if s.shape != y_.shape:
            raise ValidationError("labels and scores must have the same shape")
        every = _midranks(s)
        v10.append((every[pos] - _midranks(s[pos])) / len(neg))  # per positive: share of negatives below
        v01.append(
            1.0 - (every[neg] - _midranks(s[neg])) / len(pos)
        )  # per negative: share of positives above
    cov10, cov01 = np.cov(np.stack(v10)), np.cov(np.stack(v01))
    var = cov10 / len(pos) + cov01 / len(neg)  # [2, 2]
    diff = float(var[0, 0] + var[1, 1] - 2 * var[0, 1])
    return AucComparison(
        float(v10[0].mean()),
        float(v10[1].mean()),
        float(np.sqrt(var[0, 0])),
        float(np.sqrt(var[1, 1])),
        float(np.sqrt(max(diff, 0.0))),
    )


def log_loss(y: np.ndarray, p: np.ndarray, eps: float = 1e-7) -> float:
    y_ = np.asarray(y, dtype=np.float64).ravel()
    p_ = np.clip(np.asarray(p, dtype=np.float64).ravel(), eps, 1 - eps)
    return float(-(y_ * np.log(p_) + (1 - y_) * np.log(1 - p_)).mean())


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 15) -> float:
    """ECE over equal-mass bins of the prediction: Σ (n_b / n) · |mean(p)_b − mean(y)_b|."""
    y_ = np.asarray(y, dtype=np.float64).ravel()
    p_ = np.asarray(p, dtype=np.float64).ravel()
    if len(y_) == 0:
        return float("nan")
    order = np.argsort(p_, kind="stable")
    err = 0.0
    for chunk in np.array_split(order, min(bins, len(order))):
        err += len(chunk) * abs(float(p_[chunk].mean()) - float(y_[chunk].mean()))
    return err / len(y_)


def recall_at_k(retrieved: IntArray, relevant: list[set[int]], k: int) -> float:
    """Mean over queries with ≥ 1 relevant item of |top-k ∩ relevant| / min(|relevant|, k)."""
    vals = []
    for row, rel in zip(np.asarray(retrieved)[:, :k], relevant, strict=True):
        if rel:
            vals.append(len(set(row.tolist()) & rel) / min(len(rel), k))
    return float(np.mean(vals)) if vals else float("nan")


def ndcg_at_k(retrieved: IntArray, gains: FloatArray, k: int) -> float:
    """Mean NDCG@k with graded gains ``gains [Q, P]`` (e.g. true pCTR) over the whole catalogue; ``-1`` ids
    gain nothing."""
    ret = np.asarray(retrieved)[:, :k]
    disc = 1.0 / np.log2(np.arange(k) + 2.0)
    g = np.where(ret >= 0, np.take_along_axis(gains, np.maximum(ret, 0), axis=1), 0.0)
    dcg = (g * disc[: g.shape[1]]).sum(axis=1)
    ideal = (-np.sort(-gains, axis=1)[:, :k] * disc[: min(k, gains.shape[1])]).sum(axis=1)
    return float(np.mean(dcg / np.maximum(ideal, 1e-12)))
