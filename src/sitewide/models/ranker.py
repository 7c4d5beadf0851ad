"""Multi-task ranker: pCTR and pCVR over the whole exposure space (ESMM), with a position-bias tower.

    FeatureArch:  hashed categorical codes [B, F] → embeddings [B, F, D]; dense [B, K] → one more vector [B, D];
                  pairwise dot products of the F + 1 vectors (DLRM-style interactions) → [B, H]
    TaskTower:    MLP [B, H] → logit [B]
    Wide:         a per-task linear term over the same codes and dense features (Wide & Deep), so the model
                  contains logistic regression on its features and the deep part learns what is left
    MultiTaskRanker: one FeatureArch shared by a CTR tower and a CVR tower, plus the wide terms; an examination
                  curve over positions.

Trained on impressions: P(click) = exam[pos] · pCTR and P(click ∧ order) = exam[pos] · pCTR · pCVR (ESMM), so the
CVR tower learns from every exposure instead of only from clicked items (no selection bias), and the position
enters only through ``exam`` (PAL-style), which is dropped at serving time: serving pCTR is the probability of a
click *if examined* (= at the top slot, where ``exam[0] = 1``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from sitewide.models.features import FeatureSpec, RankBatch


@dataclass(frozen=True)
class RankerConfig:
    emb_dim: int = 16
    hidden: tuple[int, ...] = (64, 32)
    dropout: float = 0.0
    wide: bool = True  # add the wide (linear) terms to the towers' logits


class FeatureArch(nn.Module):
    """``(cat [B, F], dense [B, K]) -> [B, H]`` with ``H = (F + 1)·D + (F + 1)·F / 2 + K``."""

    def __init__(self, n_buckets: int, n_cat: int, n_dense: int, emb_dim: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(n_buckets, emb_dim)
        nn.init.normal_(self.embedding.weight, std=0.05)
        self.dense_proj = nn.Linear(n_dense, emb_dim)
        n_vec = n_cat + 1
        iu = torch.triu_indices(n_vec, n_vec, offset=1)
        self.iu: torch.Tensor
        self.register_buffer("iu", iu, persistent=False)
        self.out_dim = n_vec * emb_dim + iu.shape[1] + n_dense

    def forward(self, cat: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
        e = self.embedding(cat)  # [B, F, D]
        d = self.dense_proj(dense).unsqueeze(1)  # [B, 1, D]
        v = torch.cat([e, d], dim=1)  # [B, F+1, D]
        inter = torch.bmm(v, v.transpose(1, 2))  # [B, F+1, F+1]
        dots = inter[:, self.iu[0], self.iu[1]]  # [B, (F+1)F/2]
        return torch.cat([v.flatten(1), dots, dense], dim=1)  # [B, H]


class TaskTower(nn.Module):
    """MLP ``[B, H] -> [B]`` logit."""

    def __init__(self, in_dim: int, hidden: tuple[int, ...], dropout: float = 0.0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        d = in_dim
        for h in hidden:
            layers += [nn.Linear(d, h), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            d = h
        layers.append(nn.Linear(d, 1))
        self.mlp = nn.Sequential(*layers)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.mlp(h).squeeze(-1)
        return out


@dataclass(frozen=True)
class RankerOutput:
    ctr_logit: torch.Tensor  # [B] logit of P(click | examined)
    cvr_logit: torch.Tensor  # [B] logit of P(order | click)
    log_exam: torch.Tensor | None  # [B] log P(examined | position); None when the batch has no positions


class MultiTaskRanker(nn.Module):
    def __init__(self, spec: FeatureSpec, config: RankerConfig | None = None) -> None:
        super().__init__()
        self.spec = spec
        self.config = config or RankerConfig()
        c = self.config
        self.features = FeatureArch(spec.n_buckets, spec.n_cat, spec.n_dense, c.emb_dim)
        self.ctr_tower = TaskTower(self.features.out_dim, c.hidden, c.dropout)
        self.cvr_tower = TaskTower(self.features.out_dim, c.hidden, c.dropout)
        # wide part: one weight per hashed code and task, and a linear map of the dense features per task
        self.wide: nn.Embedding | None = None
        self.wide_dense: nn.Linear | None = None
        if c.wide:
            self.wide = nn.Embedding(spec.n_buckets, 2)
            nn.init.zeros_(self.wide.weight)
            self.wide_dense = nn.Linear(spec.n_dense, 2)
        # examination logits for positions 1..P-1 (position 0 is examined with probability 1)
        self.exam_logit = nn.Parameter(torch.zeros(max(spec.n_positions - 1, 0)))

    def exam_curve(self) -> torch.Tensor:
        """``[P]`` P(examined | position), ``exam[0] = 1``."""
        return torch.cat([torch.ones(1), torch.sigmoid(self.exam_logit)])

    def code_sq_norm(self) -> torch.Tensor:
        """Sum of squares of the per-code weights: the embedding table and the wide terms."""
        out = self.features.embedding.weight.pow(2).sum()
        if self.wide is not None:
            out = out + self.wide.weight.pow(2).sum()
        return out

    def forward(self, batch: RankBatch) -> RankerOutput:
        h = self.features(batch.cat, batch.dense)  # [B, H]
        log_exam = None
        if batch.position is not None:
            log_exam = torch.log(self.exam_curve())[batch.position]  # [B]
        ctr, cvr = self.ctr_tower(h), self.cvr_tower(h)
        if self.wide is not None and self.wide_dense is not None:
            wide = self.wide(batch.cat).sum(1) + self.wide_dense(batch.dense)  # [B, 2]
            ctr, cvr = ctr + wide[:, 0], cvr + wide[:, 1]
        return RankerOutput(ctr, cvr, log_exam)
