"""Calibration maps fitted on held-out data: Platt/temperature scaling and isotonic regression (PAV)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from sitewide.domain.types import ValidationError
from sitewide.ports import FloatArray


@dataclass(frozen=True)
class PlattScaling:
    """``p = sigmoid(a · logit + b)``; ``a = 1/T`` is the inverse temperature."""

    a: float = 1.0
    b: float = 0.0

    def apply(self, logit: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.a * logit + self.b)

    def apply_logit(self, logit: torch.Tensor) -> torch.Tensor:
        return self.a * logit + self.b

    @classmethod
    def fit(
        cls, logit: torch.Tensor, y: torch.Tensor, log_offset: torch.Tensor | None = None, steps: int = 100
    ) -> PlattScaling:
        """Minimise BCE of ``exp(log_offset) · sigmoid(a·logit + b)`` against ``y`` (the offset carries the
        examination probability when calibrating a position-debiased pCTR on logged clicks)."""
        if logit.numel() == 0 or float(y.sum()) == 0.0:
            return cls()
        ab = torch.tensor([1.0, 0.0], requires_grad=True)
        opt = torch.optim.LBFGS([ab], lr=0.5, max_iter=steps, line_search_fn="strong_wolfe")
        off = torch.zeros_like(logit) if log_offset is None else log_offset

        def closure() -> torch.Tensor:
            opt.zero_grad()
            logp = (F.logsigmoid(ab[0] * logit + ab[1]) + off).clamp(max=-1e-7)
            loss = -(y * logp + (1 - y) * torch.log1p(-torch.exp(logp))).mean()
            loss.backward()  # type: ignore[no-untyped-call]
            return loss

        opt.step(closure)  # type: ignore[no-untyped-call]
        a, b = (float(v) for v in ab.detach())
        if not (np.isfinite(a) and np.isfinite(b)):
            return cls()
        return cls(a, b)


@dataclass(frozen=True)
class IsotonicCalibration:
    """Monotone step map from scores to probabilities (pool-adjacent-violators), linear between knots."""

    x: FloatArray
    y: FloatArray

    def apply(self, scores: FloatArray) -> FloatArray:
        out: FloatArray = np.interp(np.asarray(scores, dtype=np.float64), self.x, self.y)
        return out

    @classmethod
    def fit(cls, scores: FloatArray, y: FloatArray) -> IsotonicCalibration:
        s = np.asarray(scores, dtype=np.float64)
        t = np.asarray(y, dtype=np.float64)
        if s.shape != t.shape or s.size == 0:
            raise ValidationError("isotonic fit needs equal, non-empty score and label arrays")
        order = np.argsort(s, kind="stable")
        s, t = s[order], t[order]
        vals: list[float] = []
        wts: list[float] = []
        xs: list[float] = []
        for xi, yi in zip(s.tolist(), t.tolist(), strict=True):
            vals.append(yi)
            wts.append(1.0)
            xs.append(xi)
            while len(vals) > 1 and vals[-2] >= vals[-1]:
                w = wts[-2] + wts[-1]
                v = (vals[-2] * wts[-2] + vals[-1] * wts[-1]) / w
                vals[-2:] = [v]
                wts[-2:] = [w]
                xs[-2:] = [xs[-2]]
        # knots at each block's first score; repeat the last value at the largest score
        kx = np.array(xs + [float(s[-1])])
        ky = np.array(vals + [vals[-1]])
        kx, idx = np.unique(kx, return_index=True)
        return cls(kx, ky[idx])
