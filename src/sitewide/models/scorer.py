"""The learned scorer behind the ``Scorer`` port, and its checkpoint format.

A checkpoint (``torch.save`` of plain tensors, numbers and strings; loaded with ``weights_only=True``) holds the
feature spec, the ranker's config and weights and the calibration. The catalogue is bound at load time, so the
same checkpoint serves any catalogue (unknown products hash to codes the model has not seen and fall back on
their category, brand and price).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sitewide.domain.types import FloatArray, Product, ValidationError
from sitewide.models.calibration import PlattScaling
from sitewide.models.features import FeaturePipeline, FeatureSpec, ProductTable, RankBatch, UserTable
from sitewide.models.ranker import MultiTaskRanker, RankerConfig
from sitewide.ports import ScoreInput

CHECKPOINT_VERSION = 2  # 2: request match features (similarity gap, category share)
PACKAGED_RANKER = "data/models/ranker.pt"


@dataclass(frozen=True)
class LoggedPrediction:
    """Predictions for the B non-padded pairs of a log, in ``RankBatch`` order."""

    click: FloatArray  # P(click) at the logged position (exam · pCTR)
    pctr: FloatArray  # P(click | examined): the serving estimate
    pcvr: FloatArray  # P(order | click)
    ctcvr: FloatArray  # P(click ∧ order) at the logged position


class LearnedScorer:
    """``score(ScoreInput) -> (pctr [R, N], pcvr [R, N])``; padded slots (``product == -1``) get 0."""

    def __init__(
        self,
        model: MultiTaskRanker,
        pipeline: FeaturePipeline,
        ctr_calibration: PlattScaling | None = None,
        cvr_calibration: PlattScaling | None = None,
    ) -> None:
        self.model = model.eval()
        self.pipeline = pipeline
        self.ctr_calibration = ctr_calibration or PlattScaling()
        self.cvr_calibration = cvr_calibration or PlattScaling()

    def _logits(self, batch: RankBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        with torch.no_grad():
            out = self.model(batch)
            return (
                self.ctr_calibration.apply_logit(out.ctr_logit),
                self.cvr_calibration.apply_logit(out.cvr_logit),
                out.log_exam,
            )

    def score(self, x: ScoreInput) -> tuple[FloatArray, FloatArray]:
        batch = self.pipeline.transform(x, keep_position=False)
        ctr_l, cvr_l, _ = self._logits(batch)
        shape = np.asarray(x.product).shape
        pctr = np.zeros(shape)
        pcvr = np.zeros(shape)
        pctr[batch.rows, batch.cols] = torch.sigmoid(ctr_l).numpy()
        pcvr[batch.rows, batch.cols] = torch.sigmoid(cvr_l).numpy()
        return pctr, pcvr

    def predict_logged(self, x: ScoreInput) -> LoggedPrediction:
        batch = self.pipeline.transform(x, keep_position=True)
        ctr_l, cvr_l, log_exam = self._logits(batch)
        pctr = torch.sigmoid(ctr_l)
        c = self.ctr_calibration.exam_power
        exam = torch.exp(c * log_exam) if log_exam is not None else torch.ones_like(pctr)
        pcvr = torch.sigmoid(cvr_l)
        return LoggedPrediction(
            (exam * pctr).numpy().astype(np.float64),
            pctr.numpy().astype(np.float64),
            pcvr.numpy().astype(np.float64),
            (exam * pctr * pcvr).numpy().astype(np.float64),
        )

    def bind(self, products: ProductTable, users: UserTable | None = None) -> LearnedScorer:
        """The same model over another catalogue (and user table)."""
        p = FeaturePipeline(products, users, self.pipeline.n_buckets, self.pipeline.n_positions)
        if p.spec != self.pipeline.spec:
            raise ValidationError(
                f"catalogue features {p.spec} do not match the model's {self.pipeline.spec}"
            )
        return LearnedScorer(self.model, p, self.ctr_calibration, self.cvr_calibration)


def save_scorer(scorer: LearnedScorer, path: str | Path, meta: dict[str, Any] | None = None) -> Path:
    spec = scorer.model.spec
    ckpt = {
        "version": CHECKPOINT_VERSION,
        "spec": {
            "product_fields": list(spec.product_fields),
            "user_fields": list(spec.user_fields),
            "dense_names": list(spec.dense_names),
            "n_buckets": spec.n_buckets,
            "n_positions": spec.n_positions,
        },
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(scorer.model.config).items()},
        "state_dict": {k: v.detach().clone() for k, v in scorer.model.state_dict().items()},
        "ctr_calibration": [
            scorer.ctr_calibration.a,
            scorer.ctr_calibration.b,
            scorer.ctr_calibration.exam_power,
        ],
        "cvr_calibration": [scorer.cvr_calibration.a, scorer.cvr_calibration.b],
        "meta": {k: str(v) for k, v in (meta or {}).items()},
    }
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, out)
    return out


def _packaged_products() -> list[Product]:
    from sitewide.catalogue import packaged_catalogue

    _, products = packaged_catalogue()
    return sorted(products, key=lambda p: p.id)


def packaged_ranker_path() -> Path:
    from importlib import resources

    return Path(str(resources.files("sitewide").joinpath(PACKAGED_RANKER)))


def load_scorer(
    path: str | Path | None = None,
    products: Sequence[Product] | ProductTable | None = None,
    user_ids: Sequence[str] | UserTable | None = None,
) -> LearnedScorer:
    """Load a checkpoint (default: the one shipped in ``sitewide/data/models/ranker.pt``) and bind it to
    ``products`` — in the order of ``ScoreInput.product`` row indices; default: the packaged catalogue sorted by
    id, which is the engine's order — and optionally to ``user_ids`` (``ScoreInput.user`` row indices)."""
    p = Path(path) if path is not None else packaged_ranker_path()
    if not p.exists():
        raise ValidationError(f"checkpoint not found: {p}")
    ckpt = torch.load(p, map_location="cpu", weights_only=True)
    if ckpt.get("version") != CHECKPOINT_VERSION:
        raise ValidationError(f"unsupported checkpoint version {ckpt.get('version')!r}")
    s = ckpt["spec"]
    spec = FeatureSpec(
        tuple(s["product_fields"]),
        tuple(s["user_fields"]),
        tuple(s["dense_names"]),
        int(s["n_buckets"]),
        int(s["n_positions"]),
    )
    c = ckpt["config"]
    model = MultiTaskRanker(
        spec,
        RankerConfig(
            int(c["emb_dim"]),
            tuple(int(h) for h in c["hidden"]),
            float(c["dropout"]),
            "wide.weight" in ckpt["state_dict"],
        ),
    )
    model.load_state_dict(ckpt["state_dict"])
    if isinstance(products, ProductTable):
        table = products
    else:
        table = ProductTable.from_products(
            list(products) if products is not None else _packaged_products(), spec.n_buckets
        )
    if isinstance(user_ids, UserTable) or user_ids is None:
        users = user_ids
    else:
        users = UserTable.from_ids(list(user_ids), spec.n_buckets)
    if users is None:
        users = UserTable.from_columns({f: [] for f in spec.user_fields}, spec.n_buckets)
    pipeline = FeaturePipeline(table, users, spec.n_buckets, spec.n_positions)
    if pipeline.spec != spec:
        raise ValidationError(f"catalogue features {pipeline.spec} do not match the checkpoint's {spec}")
    return LearnedScorer(
        model,
        pipeline,
        PlattScaling(*(float(v) for v in ckpt["ctr_calibration"])),  # [a, b] or [a, b, exam_power]
        PlattScaling(*(float(v) for v in ckpt["cvr_calibration"])),
    )
