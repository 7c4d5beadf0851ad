"""Which creative to show: each product's approved creatives compete by Thompson sampling, per placement.

Pure logic, no I/O; randomness comes in as a ``numpy.random.Generator``. One arm = (creative, placement); a
placement is where the slot is served (``search`` or ``feed``: CTRs differ ~10× between them, so they learn
apart). Objective ``ctr`` samples each arm's CTR from Beta(1 + clicks, 1 + impressions − clicks) and shows the
highest draw; ``ctcvr`` multiplies by a CVR draw from Beta(1 + orders, 1 + clicks − orders), so a creative that
earns clicks that do not convert loses. A merchant may pin one creative per product: it is always shown (and
still counted). Only creatives that passed the checks can enter (:class:`~sitewide.domain.types.ValidationError`
otherwise), so nothing unchecked is ever served.

Pooling (``pool_strength`` > 0): creatives written from the same template family (their
:class:`~sitewide.domain.creative.Angle`) share part of their effect, so each arm's Beta prior is centred on
the product's own CTR in the placement times the angle's CTR relative to the placement's CTR over all
products, worth ``pool_strength`` clicks (as many impressions as the prior mean needs to earn them); the arm's own clicks then move it away. With no data the prior
is the placement's mean. ``pool_strength = 0`` is plain per-arm Thompson sampling.

A served slot counts as an impression when it is chosen (the engine's own reports count served slots the same
way); clicks and orders come back through :meth:`CreativeRotation.feedback`, matched to the choice by
(request id, product id) and, for orders, by the click's id. Both maps are bounded (oldest dropped first).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sitewide.domain.creative import Creative
from sitewide.domain.types import NotFound, ValidationError

OBJECTIVES = ("ctr", "ctcvr")


@dataclass(frozen=True, slots=True)
class ArmStats:
    creative_id: str
    placement: str
    impressions: int
    clicks: int
    orders: int
    p_best: float  # posterior probability that this arm has the best objective value in its placement

    @property
    def ctr(self) -> float:
        return self.clicks / self.impressions if self.impressions else 0.0

    @property
    def cvr(self) -> float:
        return self.orders / self.clicks if self.clicks else 0.0


class CreativeRotation:
    """Approved creatives per product, their counts per placement, pins, and the choice per served slot."""

    def __init__(self, objective: str = "ctr", memory: int = 500_000, pool_strength: float = 20.0) -> None:
        if objective not in OBJECTIVES:
            raise ValidationError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        if pool_strength < 0:
            raise ValidationError("pool_strength must be ≥ 0")
        self.objective = objective
        self.pool_strength = pool_strength
        self._pooled: dict[
            tuple[str, str], list[int]
        ] = {}  # (product or angle or "*", placement) → [imp, clk]
        self.memory = memory
        self._by_product: dict[str, list[Creative]] = {}
        self._creative: dict[str, Creative] = {}
        self._pins: dict[str, str] = {}
        self._n: dict[
            tuple[str, str], list[int]
        ] = {}  # (creative, placement) → [impressions, clicks, orders]
        self._served: OrderedDict[tuple[str, str], tuple[str, str]] = OrderedDict()
        self._clicks: OrderedDict[str, tuple[str, str]] = OrderedDict()

    # merchants' side ------------------------------------------------------------------------------
    def set_creatives(self, product_id: str, creatives: Sequence[Creative]) -> None:
        """Replace the product's creatives (order kept: the first is the merchant's first). Counts of
        creatives that stay are kept; a pin on a creative that left is dropped."""
        bad = [c.id for c in creatives if not c.check.passed]
        if bad:
            raise ValidationError(f"creatives that failed the checks cannot be served: {', '.join(bad)}")
        other = [c.id for c in creatives if c.product_id != product_id]
        if other:
            raise ValidationError(f"creatives of another product: {', '.join(other)}")
        for c in self._by_product.get(product_id, []):
            self._creative.pop(c.id, None)
        self._by_product[product_id] = list(creatives)
        self._creative.update({c.id: c for c in creatives})
        if self._pins.get(product_id) not in {c.id for c in creatives}:
            self._pins.pop(product_id, None)
        if not creatives:
            del self._by_product[product_id]

    def creatives(self, product_id: str) -> list[Creative]:
        return list(self._by_product.get(product_id, []))

    def get(self, creative_id: str) -> Creative:
        c = self._creative.get(creative_id)
        if c is None:
            raise NotFound(f"creative {creative_id} not found")
        return c

    def pin(self, product_id: str, creative_id: str | None) -> None:
        """Always show ``creative_id`` for the product (None: back to the bandit)."""
        if creative_id is None:
            self._pins.pop(product_id, None)
            return
        if creative_id not in {c.id for c in self._by_product.get(product_id, [])}:
            raise NotFound(f"creative {creative_id} is not an approved creative of product {product_id}")
        self._pins[product_id] = creative_id

    def pinned(self, product_id: str) -> str | None:
        return self._pins.get(product_id)

    # serving ----------------------------------------------------------------------------------------
    def _counts(self, cid: str, placement: str) -> list[int]:
        return self._n.setdefault((cid, placement), [0, 0, 0])

    def _count(self, cid: str, placement: str, what: int) -> None:
        """Add one impression (``what`` = 0), click (1) or order (2) to the arm and its pools."""
        self._counts(cid, placement)[what] += 1
        if what < 2:
            c = self._creative.get(cid)
            keys = ["*"] + ([f"p:{c.product_id}", f"a:{c.draft.angle.value}"] if c else [])
            for k in keys:
                self._pooled.setdefault((k, placement), [0, 0])[what] += 1

    def _rate(self, key: str, placement: str) -> float:
        imp, clk = self._pooled.get((key, placement), (0, 0))
        return (clk + 1.0) / (imp + 2.0)

    def _prior(self, ids: Sequence[str], placement: str) -> tuple[np.ndarray, np.ndarray]:
        """Beta prior (a, b) of each arm: Beta(1, 1), or centred on the pooled estimate (see module doc)."""
        m = self.pool_strength
        if m <= 0:
            return np.ones(len(ids)), np.ones(len(ids))
        base = self._rate("*", placement)
        cs = [self._creative.get(c) for c in ids]
        prod = self._rate(f"p:{cs[0].product_id}", placement) if cs[0] else base
        mu = np.array(
            [prod * self._rate(f"a:{c.draft.angle.value}", placement) / base if c else prod for c in cs]
        )
        mu = np.clip(mu, 1e-6, 0.5)
        n = m / mu  # impressions worth of prior: m clicks at the prior mean
        return 1.0 + n * mu, 1.0 + n * (1.0 - mu)

    def _draw(
        self, ids: Sequence[str], placement: str, rng: np.random.Generator, size: int = 1
    ) -> np.ndarray:
        n = np.array([self._n.get((c, placement), [0, 0, 0]) for c in ids], dtype=np.float64)  # [A, 3]
        imp, clk, odr = n[:, 0], n[:, 1], n[:, 2]
        clk = np.minimum(clk, imp)
        a, b = self._prior(ids, placement)
        v = rng.beta(a + clk, b + imp - clk, size=(size, len(ids)))
        if self.objective == "ctcvr":
            o = np.minimum(odr, clk)
            v = v * rng.beta(1.0 + o, 1.0 + clk - o, size=(size, len(ids)))
        return v

    def choose(
        self,
        request_ids: Sequence[str],
        product_ids: Sequence[str],
        placements: Sequence[str],
        rng: np.random.Generator,
    ) -> list[str | None]:
        """The creative for each served slot (None for a product without approved creatives); counts the
        impression and remembers the choice for the click that may follow. Slots of the same product and
        placement in one call draw independent posterior samples in one vectorised draw."""
        out: list[str | None] = [None] * len(product_ids)
        groups: dict[tuple[str, str], list[int]] = {}
        for i, (pid, pl) in enumerate(zip(product_ids, placements, strict=True)):
            if pid in self._by_product:
                groups.setdefault((pid, pl), []).append(i)
        for (pid, pl), rows in groups.items():
            ids = [c.id for c in self._by_product[pid]]
            pin = self._pins.get(pid)
            if pin is not None or len(ids) == 1:
                picks = [pin or ids[0]] * len(rows)
            else:
                picks = [ids[j] for j in np.argmax(self._draw(ids, pl, rng, size=len(rows)), axis=1).tolist()]
            for i, cid in zip(rows, picks, strict=True):
                out[i] = cid
                self._count(cid, pl, 0)
                self._remember(self._served, (request_ids[i], pid), (cid, pl))
        return out

    def _remember(self, m: OrderedDict, key: object, value: tuple[str, str]) -> None:  # type: ignore[type-arg]
        m[key] = value
        if len(m) > self.memory:
            m.popitem(last=False)

    def feedback(
        self, kind: str, event_id: str, request_id: str, product_id: str, click_id: str | None = None
    ) -> str | None:
        """A click (matched by request and product) or an order (matched by its click's id) on a served
        creative; returns the creative's id, or None when the slot had none (or is no longer remembered)."""
        if kind == "click":
            arm = self._served.get((request_id, product_id))
            if arm is None:
                return None
            self._count(*arm, 1)
            self._remember(self._clicks, event_id, arm)
            return arm[0]
        if kind == "order" and click_id:
            arm = self._clicks.pop(click_id, None)
            if arm is None:
                return None
            self._count(*arm, 2)
            return arm[0]
        return None

    # results ----------------------------------------------------------------------------------------
    def stats(
        self, product_id: str, rng: np.random.Generator | None = None, draws: int = 2_000
    ) -> list[ArmStats]:
        """Counts and P(best) of each of the product's creatives in every placement it was served in."""
        ids = [c.id for c in self._by_product.get(product_id, [])]
        if not ids:
            return []
        r = rng or np.random.default_rng(0)
        placements = sorted({pl for (c, pl) in self._n if c in set(ids)})
        out = []
        for pl in placements:
            wins = np.bincount(np.argmax(self._draw(ids, pl, r, size=draws), axis=1), minlength=len(ids))
            for i, cid in enumerate(ids):
                imp, clk, odr = self._n.get((cid, pl), [0, 0, 0])
                out.append(ArmStats(cid, pl, imp, clk, odr, float(wins[i] / draws)))
        return out


__all__ = ["OBJECTIVES", "ArmStats", "CreativeRotation"]
