"""Serving side of the learned bidding policy: load the shipped weights and make campaigns' bidders.

What the policy is and how it is trained (hindsight-optimal multiplier regression with DAgger relabelling on
the bidding simulator) lives in :mod:`sitewide.training.bidding_policy`; this module never imports the
simulator, so serving does not load it. Inference is numpy (:class:`~sitewide.domain.bidding.PolicyBidder`);
torch is needed only to read the ``torch.save`` file (tensors only, ``weights_only=True``).

:class:`BidderFactory` is the explicit object the engine's :class:`~sitewide.engine.pacing.Pacer` receives: it knows
the bidder kind and holds the policy weights, loaded once when the factory is built (no module-level cache).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from sitewide.domain.bidding import BIDDER_KINDS, Bidder, DualBidder, make_baseline_bidder
from sitewide.domain.policy_bidder import N_FEATURES, MlpWeights, PolicyBidder
from sitewide.domain.types import ValidationError

__all__ = ["TRAINED_ROI_RANGE", "BidderFactory", "default_policy_path", "load_policy"]

# The target ROIs the shipped policy was trained on (``EnvConfig().target_rois`` of the training config);
# outside this range :class:`PolicyBidder` clamps its plan. A test keeps it equal to the training default.
TRAINED_ROI_RANGE = (1.5, 8.0)


def load_policy(path: str | Path) -> MlpWeights:
    import torch

    obj = torch.load(str(path), map_location="cpu", weights_only=True)
    if int(obj.get("n_features", -1)) != N_FEATURES:
        raise ValidationError(f"policy file {path} was trained for other features")
    layers = tuple((a.double().numpy(), b.double().numpy()) for a, b in obj["layers"])
    return MlpWeights(mean=obj["mean"].double().numpy(), std=obj["std"].double().numpy(), layers=layers)


def default_policy_path() -> Path | None:
    """The shipped policy, ``sitewide/data/bidding_policy.pt``, when it is installed."""
    ref = resources.files("sitewide.data").joinpath("bidding_policy.pt")
    return Path(str(ref)) if ref.is_file() else None


@dataclass(frozen=True, slots=True)
class BidderFactory:
    """Makes one campaign's bidder for a day: ``factory(target_roi, budget_micros)``.

    ``kind``: ``truthful`` | ``pid`` | ``dual`` | ``learned`` | ``landscape`` | ``landscape_lcb``. ``learned`` uses ``policy``
    (see :meth:`load`); without weights it falls back to the dual bidder."""

    kind: str
    policy: MlpWeights | None = None

    def __post_init__(self) -> None:
        if self.kind not in BIDDER_KINDS:
            raise ValidationError(f"unknown bidder kind {self.kind!r}; expected one of {BIDDER_KINDS}")

    @classmethod
    def load(cls, kind: str, policy_path: str | None = None) -> BidderFactory:
        """A factory for ``kind``; for ``learned`` the weights are read once, from ``policy_path`` or the
        shipped file (none: the dual bidder serves)."""
        if kind != "learned":
            return cls(kind)
        path = Path(policy_path) if policy_path is not None else default_policy_path()
        if path is None or not path.is_file():
            return cls(kind)
        return cls(kind, load_policy(path))

    def __call__(self, target_roi: float, budget_micros: int) -> Bidder:
        if self.kind != "learned":
            return make_baseline_bidder(self.kind, target_roi, budget_micros)
        if self.policy is None:
            return DualBidder(target_roi, budget_micros)
        return PolicyBidder(target_roi, budget_micros, self.policy, trained_roi_range=TRAINED_ROI_RANGE)
