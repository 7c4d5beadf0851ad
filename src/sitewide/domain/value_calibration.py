"""Online calibration of the engine's expected GMV per impression against the orders it earns.

The engine values an impression at ``pCTR × pCVR × price``: pCTR is the click probability *if examined* (the
ranker drops the examination curve at serving), order quantities and the scorer's own biases are ignored, so
the raw value is off by a factor that depends on where the ad lands and on the category. This calibrator
keeps, per (category, position) of the promoted impressions served, the raw value predicted and the GMV of the
orders on their clicks, and turns them into multiplicative factors

    f_rest = (G − G_cat + τ) / (V − V_cat + τ)     the other categories, shrunk toward 1
    f_cat  = (G_cat + τ · f_rest) / (V_cat + τ)   a category's cells, shrunk toward the others

with ``τ`` = ``prior_orders`` orders' worth of GMV (at the mean order value seen, or ``prior_order_value``
before any order): while a category has few orders its factor stays near the other categories' one, and that one
near 1 (with one category, ``f_cat = (G + τ) / (V + τ)``: the data counted once). A bid is made before the auction places the ad, so the factor used is the category's, over the
positions its ads were actually served at; :meth:`position_factors` reports the position curve.

``G`` is the GMV *ordered* (the value model predicts orders, and ``τ`` is priced at the mean order as ordered).
Refunds are one shop's affair first: they enter a category's factor only as a keep rate (:class:`KeepRates`,
the share of GMV that stays sold) in which each shop's weight is capped, so that one shop's recall moves the
other shops' values by a bounded amount (``max_shop_share`` per level); a shop's own refunds reach its own
campaigns through the engine's campaign layer (realised GMV net of refunds ÷ the value it was sold).

Pure and in memory (numpy arrays, no I/O); the engine feeds it served impressions, orders and refunds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from sitewide.domain.guarantee import WindowTotals
from sitewide.domain.types import ValidationError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass
class KeepRates:
    """Per category, the share of ordered GMV that stays sold (1 − refunded share), learned across shops with
    each shop's influence bounded.

    Every shop ``s`` has, per category, its ordered GMV ``g`` and refunded GMV ``r ≤ g`` and so a refund rate
    ``r / g``; it is weighted by ``w = min(g, cap)`` with ``cap = τ · m / (1 − m)`` (``m`` =
    ``max_shop_share``), so that one shop — whatever its size or its week — moves a level's refund rate by at
    most ``m``. The overall refund rate is the shops' weighted mean shrunk toward 0 with weight ``τ``; a
    category's is its shops' weighted mean shrunk toward the overall one with weight ``τ``:

        ρ_all = Σ_s w_s ρ_s / (τ + Σ_s w_s)        keep_cat = 1 − (Σ_s∈cat w ρ + τ ρ_all) / (τ + Σ_s∈cat w)

    so one shop refunding everything lowers another shop's keep rate by at most ``m (2 − m)`` (``m`` through
    its category, ``m`` through the overall rate); many shops refunding alike move it all the way."""

    n_categories: int
    max_shop_share: float = 0.05

    def __post_init__(self) -> None:
        if not 0.0 < self.max_shop_share < 1.0:
            raise ValidationError("max_shop_share must be in (0, 1)")
        self._pair: dict[tuple[int, str], int] = {}  # (category, shop) → row
        self._shop: dict[str, int] = {}
        self._cat: list[int] = []
        self._shop_of: list[int] = []
        self._gross: list[float] = []
        self._refunded: list[float] = []
        self._cache: tuple[int, float, FloatArray] | None = None  # (version, τ, keep)
        self._version = 0

    def _row(self, category: int, shop: str) -> int:
        k = self._pair.get((category, shop))
        if k is None:
            k = self._pair[(category, shop)] = len(self._cat)
            self._cat.append(category)
            self._shop_of.append(self._shop.setdefault(shop, len(self._shop)))
            self._gross.append(0.0)
            self._refunded.append(0.0)
        return k

    def ordered(self, category: int, shop: str, value_micros: float) -> None:
        self._gross[self._row(category, shop)] += value_micros
        self._version += 1

    def refunded(self, category: int, shop: str, value_micros: float) -> None:
        self._refunded[self._row(category, shop)] += value_micros
        self._version += 1

    def keep(self, tau: float) -> FloatArray:
        """``[C]`` each category's keep rate, with ``τ`` (micros) the prior's weight."""
        c = self._cache
        if c is not None and c[0] == self._version and c[1] == tau:
            return c[2]
        out = np.ones(self.n_categories)
        if self._cat:
            g = np.asarray(self._gross)
            r = np.minimum(np.asarray(self._refunded), g)  # refunds of orders never seen here weigh nothing
            cat, shop = np.asarray(self._cat), np.asarray(self._shop_of)
            m = self.max_shop_share
            cap = tau * m / (1.0 - m)
            gs, rs = np.bincount(shop, g), np.bincount(shop, r)
            ws = np.minimum(gs, cap)
            rho_all = float((ws * rs / np.maximum(gs, 1.0)).sum()) / (tau + float(ws.sum()))
            w = np.minimum(g, cap)
            num = np.bincount(cat, w * r / np.maximum(g, 1.0), minlength=self.n_categories) + tau * rho_all
            den = np.bincount(cat, w, minlength=self.n_categories) + tau
            out = 1.0 - num / den
        self._cache = (self._version, tau, out)
        return out


@dataclass
class ValueCalibrator:
    n_categories: int
    n_positions: int
    prior_orders: float = 20.0
    prior_order_value: float = 100_000_000.0  # micros (100 CNY) until the first order says otherwise
    max_shop_share: float = 0.05  # the most one shop's refunds move a keep rate, per level (see KeepRates)
    predicted: FloatArray = field(init=False)  # [C, P] raw expected GMV of the impressions served
    realised: FloatArray = field(init=False)  # [C, P] GMV of the orders on their clicks, as ordered
    orders: FloatArray = field(init=False)  # [C, P]
    keep: KeepRates = field(init=False)  # the refunds, per category and shop

    def __post_init__(self) -> None:
        if self.n_categories < 1 or self.n_positions < 1:
            raise ValidationError("a calibrator needs ≥ 1 category and ≥ 1 position")
        if self.prior_orders <= 0 or self.prior_order_value <= 0:
            raise ValidationError("prior_orders and prior_order_value must be > 0")
        shape = (self.n_categories, self.n_positions)
        self.predicted = np.zeros(shape)
        self.realised = np.zeros(shape)
        self.orders = np.zeros(shape)
        self.keep = KeepRates(self.n_categories, self.max_shop_share)
        self._cat_factor = np.ones(self.n_categories)

    def _cells(self, category: npt.ArrayLike, position: npt.ArrayLike) -> tuple[IntArray, IntArray]:
        c = np.asarray(category, dtype=np.int64).reshape(-1)
        p = np.minimum(np.asarray(position, dtype=np.int64).reshape(-1), self.n_positions - 1)
        if c.shape != p.shape or (c.size and (c.min() < 0 or c.max() >= self.n_categories or p.min() < 0)):
            raise ValidationError("category/position out of range")
        return c, p

    def served(self, category: npt.ArrayLike, position: npt.ArrayLike, raw_value: npt.ArrayLike) -> None:
        """Promoted impressions served: their category, 0-based position and raw expected GMV (micros)."""
        c, p = self._cells(category, position)
        np.add.at(self.predicted, (c, p), np.asarray(raw_value, dtype=np.float64).reshape(-1))

    def ordered(self, category: int, position: int, value_micros: int, shop: str = "") -> None:
        c, p = self._cells([category], [position])
        self.realised[c[0], p[0]] += value_micros
        self.orders[c[0], p[0]] += 1
        self.keep.ordered(int(c[0]), shop, float(value_micros))
        self._refresh()

    def refunded(self, category: int, position: int, value_micros: int, shop: str = "") -> None:
        """A refund of an order of ``shop``'s: it lowers the category's keep rate within the shop's bound."""
        c, _ = self._cells([category], [position])
        self.keep.refunded(int(c[0]), shop, float(value_micros))
        self._refresh()

    def tau(self) -> float:
        """The prior's weight in GMV micros: ``prior_orders`` orders at the mean order value seen."""
        return self._tau()

    def _tau(self) -> float:
        n = float(self.orders.sum())
        mean = float(self.realised.sum()) / n if n > 0 else self.prior_order_value
        return self.prior_orders * max(mean, 1.0)

    def overall_factor(self) -> float:
        tau = self._tau()
        return (max(float(self.realised.sum()), 0.0) + tau) / (float(self.predicted.sum()) + tau)

    def _refresh(self) -> None:
        tau = self._tau()
        g = np.maximum(self.realised.sum(axis=1), 0.0)
        v = self.predicted.sum(axis=1)
        f_rest = (max(float(g.sum()), 0.0) - g + tau) / (float(v.sum()) - v + tau)  # the other categories
        self._cat_factor = (g + tau * f_rest) / (v + tau) * self.keep.keep(tau)

    def category_factors(self) -> FloatArray:
        """``[C]`` the factor a raw value of each category is multiplied by, keep rate included (refreshed on
        every order and refund; call :meth:`refresh` after many ``served`` calls to fold the latest impressions
        in)."""
        return self._cat_factor

    def refresh(self) -> None:
        self._refresh()

    def position_factors(self) -> FloatArray:
        """``[P]`` realised ÷ predicted per position over all categories, shrunk toward the overall factor."""
        tau, f_all = self._tau(), self.overall_factor()
        g = np.maximum(self.realised.sum(axis=0), 0.0)
        out: FloatArray = (g + tau * f_all) / (self.predicted.sum(axis=0) + tau)
        return out


@dataclass(frozen=True, slots=True)
class WindowSoFar:
    """One campaign's guarantee window as its next day's bidder sees it: the window's totals so far (charged
    spend, realised GMV net of refunds, attributed orders), the days of the window already over and the days
    left (today included); and the most the rest of the window can spend (its daily budget × days left, in
    micros; None: unknown, taken as its pace)."""

    totals: WindowTotals
    days_done: int
    days_left: int
    budget_rest_micros: int | None = None

    def __post_init__(self) -> None:
        if self.days_done < 0 or self.days_left < 1:
            raise ValidationError("window so far: days done ≥ 0 and days left ≥ 1")
        if self.budget_rest_micros is not None and self.budget_rest_micros < 0:
            raise ValidationError("window so far: the budget left must be ≥ 0")


@dataclass(frozen=True, slots=True)
class AimPolicy:
    """How a campaign's bidder is aimed for the rest of its guarantee window (see :func:`window_aim`).

    ``z``: standard deviations of the order-count noise still to come that the rest of the window must clear;
    ``order_value_cv2``: squared coefficient of variation of one order's value (1 + cv² scales the Poisson
    variance of a GMV sum); ``lo``/``hi``: the aim's range (× target)."""

    z: float = 1.0
    order_value_cv2: float = 0.13
    lo: float = 0.5
    hi: float = 2.0

    def __post_init__(self) -> None:
        if self.z < 0 or self.order_value_cv2 < 0 or not 0 < self.lo <= 1.0 <= self.hi:
            raise ValidationError("aim policy: z ≥ 0, cv² ≥ 0 and 0 < lo ≤ 1 ≤ hi")


def window_aim(target_roi: float, w: WindowSoFar, policy: AimPolicy) -> float:
    """The ROI (× ``target_roi``) today's bidder should buy at so that the window ends at the target.

    The guarantee — and the merchant — judge *realised* ROI over the window, so what is already realised is a
    fact, not noise to be shrunk: the window ends at ``(G + ρ·S_rest) ÷ (S + S_rest)`` where ``G``, ``S`` are
    the window's realised GMV and spend so far, ``S_rest`` the spend still to come (at the window's pace so
    far) and ``ρ`` the ROI bought from now on, on the (calibrated) expected value. Only the orders still to
    come are uncertain: ``ρ`` must clear the target by ``z`` standard deviations of their count,
    ``sqrt((1 + cv²) ÷ n_rest)``. A window behind its target aims higher, one ahead spends its surplus
    (down to ``lo``); before the first full day, or with nothing spent, the aim is 1.

    How much the rest will spend depends on the aim itself: a lower bar buys more. So ``S_rest`` is taken as
    the worse of the window's pace so far and the most its budget lets it spend (``budget_rest_micros``): a
    window ahead of its target (``ρ`` below it: the final ROI falls as spend grows) spreads its surplus over
    all it may still spend, so that a cheaper bar that buys more than the pace cannot spend the surplus
    twice; a window behind (the final ROI rises with spend) counts on its pace only."""
    if w.days_done == 0 or w.totals.spend_micros <= 0:
        return 1.0
    r = float(target_roi)
    pace = w.totals.spend_micros / w.days_done * w.days_left
    rests = [pace] if w.budget_rest_micros is None else [pace, max(float(w.budget_rest_micros), pace)]
    return float(min(max(max(_rho(r, w.totals, s, policy) for s in rests) / r, policy.lo), policy.hi))


def _rho(r: float, w: WindowTotals, s_rest: float, policy: AimPolicy) -> float:
    """The ROI the rest must be bought at for the window to end at ``r`` if it spends ``s_rest``."""
    aov = w.gmv_micros / w.orders if w.orders > 0 and w.gmv_micros > 0 else None
    if aov is None:  # no order yet: judge by the expected orders of the rest at the target
        n_rest = 1.0
    else:
        n_rest = max(r * s_rest / aov, 1.0)
    rel_sd = min(np.sqrt((1.0 + policy.order_value_cv2) / n_rest), 0.5)
    need = r * (w.spend_micros + s_rest) - max(w.gmv_micros, 0.0)
    return float(need / (s_rest * max(1.0 - policy.z * rel_sd, 0.25)))
