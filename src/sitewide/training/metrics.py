"""Offline metrics: AUC, log-loss, expected calibration error, recall@k and NDCG@k."""

from __future__ import annotations

import numpy as np

from sitewide.domain.types import FloatArray, IntArray, ValidationError


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
    order = np.argsort(s, kind="mergesort")
    ss = s[order]
    ranks = np.empty(len(s), dtype=np.float64)
    # average ranks over ties
    _, start, counts = np.unique(ss, return_index=True, return_counts=True)
    avg = start + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[y_].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


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
