"""What a promoted impression is worth: the value calibrator fed by served ads and the orders on their clicks,
each campaign's own realised ÷ category-calibrated value (the campaign layer's evidence), and each campaign's
guarantee window so far (spend and realised GMV), from which its bidder is aimed for the day
(:func:`sitewide.domain.value_calibration.window_aim`)."""

from __future__ import annotations

import numpy as np

from sitewide.domain.time import DAY_MS
from sitewide.domain.types import BoolArray, Event, EventKind, FloatArray, IntArray
from sitewide.domain.value_calibration import ValueCalibrator, WindowTotals, window_aim
from sitewide.engine.catalogue import Catalogue
from sitewide.engine.config import EngineConfig

Cell = tuple[int, int, str, int]  # (category, position, campaign id, day of the click)


class _Window:
    """One campaign's current guarantee window: first day, spend, realised GMV, orders."""

    __slots__ = ("gmv", "orders", "spend", "start")

    def __init__(self, start: int) -> None:
        self.start = start
        self.spend = 0.0
        self.gmv = 0.0
        self.orders = 0


class ValueBook:
    """Starts afresh (:meth:`reset`) at every catalogue (re)load."""

    def __init__(self, config: EngineConfig, catalogue: Catalogue) -> None:
        self.config = config
        self.catalogue = catalogue
        self.reset()

    def reset(self) -> None:
        cfg = self.config
        prior = cfg.value_prior_orders if cfg.campaign_prior_orders is None else cfg.campaign_prior_orders
        self._campaign_prior_share = prior / cfg.value_prior_orders
        self.calib = ValueCalibrator(
            max(self.catalogue.n_categories, 1), max(cfg.slots, 1), prior_orders=cfg.value_prior_orders
        )
        self._click_cell: dict[str, Cell] = {}
        self._order_cell: dict[str, Cell] = {}
        self.predicted: dict[str, float] = {}  # campaign → expected GMV (micros) sold, as valued when served
        self._camp_value: dict[str, list[float]] = {}  # campaign → [category-calibrated value sold, GMV]
        self._window: dict[str, _Window] = {}  # campaign → its guarantee window so far (from its first click)
        self._window_days = cfg.settlement_policy().default_contract.window_days

    def noted_served(
        self,
        campaign_ids: list[str],
        won: BoolArray,
        prod: IntArray,
        camp_shown: IntArray,
        slot: IntArray,
        raw: FloatArray,
        value_cat: FloatArray,
        value: FloatArray,
    ) -> None:
        """Feed the value calibrator the promoted impressions served; sum the value each campaign was sold."""
        if not won.any():
            return
        col = np.maximum(slot, 0)
        _, pos = np.nonzero(won)
        self.calib.served(self.catalogue.category[prod[won]], pos, np.take_along_axis(raw, col, axis=1)[won])
        n = len(campaign_ids)
        cw = camp_shown[won]
        sold = np.bincount(cw, weights=np.take_along_axis(value, col, axis=1)[won], minlength=n)
        sold_cat = np.bincount(cw, weights=np.take_along_axis(value_cat, col, axis=1)[won], minlength=n)
        for i in np.flatnonzero(sold):
            cid = campaign_ids[int(i)]
            self.predicted[cid] = self.predicted.get(cid, 0.0) + float(sold[i])
            self._camp_value.setdefault(cid, [0.0, 0.0])[0] += float(sold_cat[i])

    def campaign_factors(self, campaign_ids: list[str]) -> FloatArray:
        """``[C]`` each campaign's own realised ÷ category-calibrated value, shrunk toward 1 with the
        calibrator's prior (what per-category calibration cannot see: the shop, the products' quality)."""
        tau = self.calib.tau() * self._campaign_prior_share
        out = np.ones(len(campaign_ids))
        for i, cid in enumerate(campaign_ids):
            v = self._camp_value.get(cid)
            if v is not None:
                out[i] = (max(v[1], 0.0) + tau) / (v[0] + tau)
        return out

    def feed(self, e: Event) -> None:
        """Promoted clicks remember their (category, position); orders and refunds on them are outcomes."""
        if e.kind is EventKind.CLICK:
            r = self.catalogue.row.get(e.product_id)
            if e.campaign_id and e.position and r is not None:
                if len(self._click_cell) > 2_000_000:  # bounded memory: forget the oldest half
                    for k in list(self._click_cell)[: len(self._click_cell) // 2]:
                        del self._click_cell[k]
                day = e.ts_ms // DAY_MS
                self._click_cell[e.id] = (
                    int(self.catalogue.category[r]),
                    int(e.position) - 1,
                    e.campaign_id,
                    day,
                )
                w = self._window_of(e.campaign_id, day)
                if w is not None:
                    w.spend += int(e.price_micros)
        elif e.kind is EventKind.ORDER and e.click_id in self._click_cell:
            cell = self._click_cell[e.click_id]
            self._order_cell[e.id] = cell
            self.calib.ordered(cell[0], cell[1], int(e.order_value_micros))
            self._camp_value.setdefault(cell[2], [0.0, 0.0])[1] += int(e.order_value_micros)
            w = self._window_of(cell[2], cell[3])
            if w is not None:
                w.gmv += int(e.order_value_micros)
                w.orders += 1
        elif e.kind is EventKind.REFUND and e.order_id in self._order_cell:
            cell = self._order_cell[e.order_id]
            self.calib.refunded(cell[0], cell[1], int(e.order_value_micros))
            self._camp_value.setdefault(cell[2], [0.0, 0.0])[1] -= int(e.order_value_micros)
            w = self._window_of(cell[2], cell[3])
            if w is not None:
                w.gmv -= int(e.order_value_micros)

    def _window_of(self, campaign_id: str, day: int) -> _Window | None:
        """The campaign's window holding ``day`` (a new one when ``day`` is past the current one); None for
        a day before the current window (a late event of a closed window)."""
        w = self._window.get(campaign_id)
        if w is None:
            w = self._window[campaign_id] = _Window(day)
        if day < w.start:
            return None
        if day >= w.start + self._window_days:
            k = (day - w.start) // self._window_days
            w = self._window[campaign_id] = _Window(w.start + k * self._window_days)
        return w

    def aim(self, campaign_id: str, target_roi: float, day: int) -> float:
        """× target for the campaign's bidder today: what the rest of its guarantee window must earn for the
        window's realised ROI to end at the target (1 when off, before the first full day, or daily windows)."""
        if self.config.window_aim is None or self._window_days <= 1:
            return 1.0
        w = self._window.get(campaign_id)
        if w is None or not w.start <= day < w.start + self._window_days:
            return 1.0  # no event of the window holding ``day`` yet (an event there would have opened it)
        done = day - w.start
        totals = WindowTotals(w.spend, w.gmv, w.orders, done, self._window_days - done)
        return window_aim(target_roi, totals, self.config.window_aim)

    def factors(self) -> tuple[FloatArray, FloatArray]:
        """Per category (what bids use) and per position (the examination curve the calibrator found)."""
        self.calib.refresh()
        return self.calib.category_factors().copy(), self.calib.position_factors()
