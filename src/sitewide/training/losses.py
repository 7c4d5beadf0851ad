"""Losses, kept apart from the model. Probabilities are handled in log space for stability."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from sitewide.models.ranker import RankerOutput


def _bce_from_log(logp: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
    """Binary cross-entropy given ``log p`` ``[B]`` (p may be a product of probabilities)."""
    logp = logp.clamp(max=-1e-7)
    log1mp = torch.log1p(-torch.exp(logp))
    loss = -(y * logp + (1.0 - y) * log1mp)
    if w is None:
        return loss.mean()
    return (w * loss).sum() / w.sum().clamp(min=1e-12)


def esmm_loss(
    out: RankerOutput,
    click: torch.Tensor,
    order: torch.Tensor | None,
    weight: torch.Tensor | None = None,
    ctcvr_weight: float = 1.0,
) -> torch.Tensor:
    """ESMM over all impressions: BCE(click, exam·pCTR) + ``ctcvr_weight``·BCE(click ∧ order, exam·pCTR·pCVR).

    ``click``/``order`` ``[B]`` in {0, 1}; ``weight`` ``[B]`` optional per-impression weights (e.g. inverse
    propensities). Without positions in the batch, exam = 1.
    """
    log_ctr = F.logsigmoid(out.ctr_logit)
    if out.log_exam is not None:
        log_ctr = log_ctr + out.log_exam
    loss = _bce_from_log(log_ctr, click, weight)
    if order is not None and ctcvr_weight > 0:
        log_ctcvr = log_ctr + F.logsigmoid(out.cvr_logit)
        loss = loss + ctcvr_weight * _bce_from_log(log_ctcvr, order * click, weight)
    return loss


def in_batch_softmax_loss(
    q: torch.Tensor,
    p: torch.Tensor,
    temperature: float = 0.05,
    log_q: torch.Tensor | None = None,
    hard: torch.Tensor | None = None,
    hard_log_q: torch.Tensor | None = None,
) -> torch.Tensor:
    """Two-tower sampled softmax with in-batch negatives: ``q [B, D]``, ``p [B, D]`` (L2-normalised; row i of p
    is the positive of row i of q). ``log_q [B]``: log sampling frequency of each product (logQ correction, so
    popular products are not over-penalised as negatives). ``hard [H, D]``: extra negatives shared by every
    row (e.g. products the batch's requests showed and were not clicked), with their own ``hard_log_q [H]``."""
    logits = q @ p.T / temperature  # [B, B]
    if log_q is not None:
        logits = logits - log_q[None, :]
    if hard is not None and hard.shape[0] > 0:
        extra = q @ hard.T / temperature  # [B, H]
        if hard_log_q is not None:
            extra = extra - hard_log_q[None, :]
        logits = torch.cat([logits, extra], dim=1)
    labels = torch.arange(q.shape[0])
    return F.cross_entropy(logits, labels)
