"""Calibration maps fitted on held-out data: Platt/temperature scaling and isotonic regression (PAV).

With few positives a fitted slope is mostly noise: :meth:`PlattScaling.fit_selected` picks the simplest of four
nested maps that the evidence supports (BIC), down to the base rate itself, so that a model with nothing to say
predicts the base rate instead of doing worse than it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from sitewide.domain.types import FloatArray, ValidationError


@dataclass(frozen=True)
class PlattScaling:
    """``p = sigmoid(a · logit + b)``; ``a = 1/T`` is the inverse temperature. ``exam_power`` (c) scales the
    model's log examination probability where a logged position is known: ``P(click) = exam^c · p`` (c = 0: the
    evidence did not support a position effect)."""

    a: float = 1.0
    b: float = 0.0
    exam_power: float = 1.0

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

    @classmethod
    def fit_selected(
        cls, logit: torch.Tensor, y: torch.Tensor, log_offset: torch.Tensor | None = None, steps: int = 100
    ) -> PlattScaling:
        """Fit ``{b}``, ``{b, c}``, ``{a, b}`` and ``{a, b, c}`` (c only with ``log_offset``) by maximum likelihood
        on held-out (or cross-fitted) logits and keep the one with the lowest BIC = 2·NLL + k·ln n. ``a`` and
        ``b`` are fitted when included, a = 0 otherwise (the base rate: the logit carries no evidence); ``c``
        is the model's examination curve used as learned (c = 1) or dropped (c = 0: no position effect), not
        re-scaled, so that the position-debiased serving pCTR keeps its meaning. With many positives this is
        plain Platt scaling; with a handful it is the base rate."""
        n = int(logit.numel())
        pos = float(y.sum())
        if n == 0 or pos == 0.0:
            return cls()
        rate = min(max(pos / n, 1e-6), 1 - 1e-6)
        b0 = float(np.log(rate / (1 - rate)))
        off = torch.zeros_like(logit) if log_offset is None else log_offset
        subsets = [("b",), ("a", "b")]
        if log_offset is not None:
            subsets += [("b", "c"), ("a", "b", "c")]
        best: tuple[float, PlattScaling] | None = None
        for free in subsets:
            nll, cal = cls._fit_subset(logit, y, off, free, b0, steps)
            bic = 2.0 * nll + len(free) * float(np.log(n))
            if best is None or bic < best[0]:
                best = (bic, cal)
        assert best is not None
        return best[1]

    @classmethod
    def _fit_subset(
        cls,
        logit: torch.Tensor,
        y: torch.Tensor,
        off: torch.Tensor,
        free: tuple[str, ...],
        b0: float,
        steps: int,
    ) -> tuple[float, PlattScaling]:
        """Summed NLL and map with only the ``free`` parameters (a = 0 otherwise; b starts at the base rate's
        logit; "c" in ``free`` means c = 1, else 0)."""
        init = {"a": 1.0, "b": b0}
        fitted = [k for k in free if k != "c"]
        theta = torch.tensor([init[k] for k in fitted], dtype=torch.float64, requires_grad=True)
        z, yy, oo = logit.double(), y.double(), off.double()
        opt = torch.optim.LBFGS([theta], lr=0.5, max_iter=steps, line_search_fn="strong_wolfe")

        def params() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            zero = torch.zeros((), dtype=torch.float64)
            got = {k: theta[i] for i, k in enumerate(fitted)}
            c = torch.ones((), dtype=torch.float64) if "c" in free else zero
            return got.get("a", zero), got.get("b", zero), c

        def nll() -> torch.Tensor:
            a, b, c = params()
            logp = (F.logsigmoid(a * z + b) + c * oo).clamp(max=-1e-12)
            return -(yy * logp + (1 - yy) * torch.log1p(-torch.exp(logp))).sum()

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = nll()
            loss.backward()  # type: ignore[no-untyped-call]
            return loss

        opt.step(closure)  # type: ignore[no-untyped-call]
        with torch.no_grad():
            loss = float(nll())
            a, b, c = (float(v) for v in params())
        if not all(np.isfinite(v) for v in (a, b, c, loss)):
            return float("inf"), cls()
        return loss, cls(a, b, c)


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
