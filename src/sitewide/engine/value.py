"""What a promoted impression is worth: the value calibrator fed by served ads and the orders on their clicks,
and each campaign's own realised ÷ category-calibrated value (the campaign layer's evidence)."""

from __future__ import annotations

import numpy as np

from sitewide.domain.types import BoolArray, Event, EventKind, FloatArray, IntArray
from sitewide.domain.value_calibration import ValueCalibrator
from sitewide.engine.catalogue import Catalogue
from sitewide.engine.config import EngineConfig

Cell = tuple[int, int, str]  # (category, position, campaign id)


class ValueBook:
    """Starts afresh (:meth:`reset`) at every catalogue (re)load."""

    def __init__(self, config: EngineConfig, catalogue: Catalogue) -> None:
        self.config = config
        self.catalogue = catalogue
        self.reset()

    def reset(self) -> None:
        cfg = self.config
        self.calib = ValueCalibrator(
            max(self.catalogue.n_categories, 1), max(cfg.slots, 1), prior_orders=cfg.value_prior_orders
        )
        self._click_cell: dict[str, Cell] = {}
        self._order_cell: dict[str, Cell] = {}
        self.predicted: dict[str, float] = {}  # campaign → expected GMV (micros) sold, as valued when served
        self._camp_value: dict[str, list[float]] = {}  # campaign → [category-calibrated value sold, GMV]

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
        tau = self.calib.tau()
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
                self._click_cell[e.id] = (int(self.catalogue.category[r]), int(e.position) - 1, e.campaign_id)
        elif e.kind is EventKind.ORDER and e.click_id in self._click_cell:
            cell = self._click_cell[e.click_id]
            self._order_cell[e.id] = cell
            self.calib.ordered(cell[0], cell[1], int(e.order_value_micros))
            self._camp_value.setdefault(cell[2], [0.0, 0.0])[1] += int(e.order_value_micros)
        elif e.kind is EventKind.REFUND and e.order_id in self._order_cell:
            cell = self._order_cell[e.order_id]
            self.calib.refunded(cell[0], cell[1], int(e.order_value_micros))
            self._camp_value.setdefault(cell[2], [0.0, 0.0])[1] -= int(e.order_value_micros)

    def factors(self) -> tuple[FloatArray, FloatArray]:
        """Per category (what bids use) and per position (the examination curve the calibrator found)."""
        self.calib.refresh()
        return self.calib.category_factors().copy(), self.calib.position_factors()
