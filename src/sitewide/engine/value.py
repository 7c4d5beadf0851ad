"""What a promoted impression is worth: the value calibrator fed by served ads and the orders on their clicks,
each campaign's own realised ÷ category-calibrated value (the campaign layer's evidence), and the aim of each
campaign's bidder for the day (:func:`sitewide.domain.value_calibration.window_aim`) from its guarantee window so
far — read from the settled days in the store, so that a restart or a reload aims exactly as before, with the
window where the campaign's contract puts it (the campaign's start for the platform default), not where its
first click fell.

In shared serving (``PacingConfig.background``) the aims' store reads (the last settlement run, the contracts,
the settled days) are the follower thread's (:meth:`ValueBook.refresh`, at each of its polls); a bidder made on
the serve path (a new day, a changed campaign) aims on the facts as last read, so that the event loop never
waits for them. What that leaves: a settlement run or a contract set during the day reaches the bidders made
after the follower's next poll (``campaign_poll_ms``), as in one process it reaches those made after it; the
facts read on day ``d`` serve day ``d + 1``'s first bidders (the same facts while nothing was settled through
``d``: the day's aims read only days before the last settled one) until that poll."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from sitewide.domain.guarantee import WindowTotals
from sitewide.domain.settlement import DayFigures, window_for
from sitewide.domain.settlement_plan import Contracts
from sitewide.domain.time import DAY_MS, day_index, day_str
from sitewide.domain.types import BoolArray, Campaign, Event, EventKind, FloatArray, IntArray
from sitewide.domain.value_calibration import ValueCalibrator, WindowSoFar, window_aim
from sitewide.engine.catalogue import Catalogue
from sitewide.engine.config import EngineConfig
from sitewide.ports import Store

Cell = tuple[int, int, str, str]  # (category, position, campaign id, shop id) of a promoted click


class ValueBook:
    """The calibration starts afresh (:meth:`reset`) at every catalogue (re)load; the window aim reads the
    store's settled days and survives both."""

    def __init__(self, config: EngineConfig, catalogue: Catalogue, store: Store) -> None:
        self.config = config
        self.catalogue = catalogue
        self.store = store
        self._default_contract = config.settlement_policy().default_contract
        # what the aims of one day read: (day, settled through, settled figures per campaign, contracts)
        self._facts: tuple[int, int, dict[str, list[DayFigures]], Contracts] | None = None
        # shared serving: the facts are the follower's to read (refresh); the aims use the last ones read
        self.background = False
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
        # campaign_factors' last answer (ids, tau, their rows, factors) and the campaigns changed since
        self._factors: tuple[list[str], float, dict[str, int], FloatArray] | None = None
        self._changed: set[str] = set()

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
            self._changed.add(cid)
            self.predicted[cid] = self.predicted.get(cid, 0.0) + float(sold[i])
            self._camp_value.setdefault(cid, [0.0, 0.0])[0] += float(sold_cat[i])

    def campaign_factors(self, campaign_ids: list[str]) -> FloatArray:
        """``[C]`` each campaign's own realised ÷ category-calibrated value, shrunk toward 1 with the
        calibrator's prior (what per-category calibration cannot see: the shop, the products' quality)."""
        tau = self.calib.tau() * self._campaign_prior_share
        got = self._factors
        if got is None or got[1] != tau or got[0] != campaign_ids:
            row = {cid: i for i, cid in enumerate(campaign_ids)}
            got = self._factors = (list(campaign_ids), tau, row, np.ones(len(campaign_ids)))
            changed: Iterable[str] = self._camp_value  # every campaign with a value
        else:  # the same campaigns and prior: only those whose value changed since (no loop over all)
            changed = self._changed
        out, row = got[3], got[2]
        for cid in changed:
            v, i = self._camp_value.get(cid), row.get(cid)
            if v is not None and i is not None:
                out[i] = (max(v[1], 0.0) + tau) / (v[0] + tau)
        self._changed = set()
        return out.copy()

    def feed(self, e: Event) -> None:
        """Promoted clicks remember their (category, position, campaign, shop); orders and refunds on them are
        outcomes: the category's factor learns orders (and refunds only within each shop's bounded share of the
        keep rate), the campaign's own factor learns its GMV net of refunds."""
        if e.kind is EventKind.CLICK:
            r = self.catalogue.row.get(e.product_id)
            if e.campaign_id and e.position and r is not None:
                if len(self._click_cell) > 2_000_000:  # bounded memory: forget the oldest half
                    for k in list(self._click_cell)[: len(self._click_cell) // 2]:
                        del self._click_cell[k]
                cat, shop = int(self.catalogue.category[r]), self.catalogue.products[r].shop_id
                self._click_cell[e.id] = (cat, int(e.position) - 1, e.campaign_id, shop)
        elif e.kind is EventKind.ORDER and e.click_id in self._click_cell:
            cell = self._click_cell[e.click_id]
            self._order_cell[e.id] = cell
            self.calib.ordered(cell[0], cell[1], int(e.order_value_micros), cell[3])
            self._camp_value.setdefault(cell[2], [0.0, 0.0])[1] += int(e.order_value_micros)
            self._changed.add(cell[2])
        elif e.kind is EventKind.REFUND and e.order_id in self._order_cell:
            cell = self._order_cell[e.order_id]
            self.calib.refunded(cell[0], cell[1], int(e.order_value_micros), cell[3])
            self._camp_value.setdefault(cell[2], [0.0, 0.0])[1] -= int(e.order_value_micros)
            self._changed.add(cell[2])

    def _settled(self, day: int) -> tuple[int, dict[str, list[DayFigures]], Contracts]:
        """What the aims on ``day`` read from the store, once per day and settlement run: the first day not
        settled in full, each campaign's settled days of the longest window before ``day``, the contracts.
        In the background (module note): the facts the follower read last, no store call."""
        f = self._facts
        if self.background and f is not None:
            return f[1], f[2], f[3]
        return self.refresh(day)

    def refresh(self, day: int) -> tuple[int, dict[str, list[DayFigures]], Contracts]:
        """Read the facts of :meth:`_settled` for ``day`` (the follower's call in shared serving: no lock is
        needed, the facts are replaced whole)."""
        last = self.store.last_run()
        through = 0 if last is None else last.as_of_ms // DAY_MS  # the days before this one are settled
        f = self._facts
        if f is not None and f[0] == day and f[1] == through:
            return f[1], f[2], f[3]
        contracts = Contracts(self.store.guarantees(), self._default_contract)
        end = min(day, through)
        by: dict[str, list[DayFigures]] = {}
        if end > 0:
            lo, hi = day_str(max(end - contracts.span_days, 0)), day_str(end - 1)
            for (cid, _), fig in sorted(self.store.day_figures(lo, hi, products=False).items()):
                by.setdefault(cid, []).append(fig)
        self._facts = (day, through, by, contracts)
        return through, by, contracts

    def aim(self, campaign: Campaign, day: int) -> float:
        """× target for the campaign's bidder on ``day``: what the rest of its guarantee window must earn for
        the window's realised ROI to end at the target. The window is the one the campaign's contract judges
        (from the campaign's start for the platform default); what is past is the window's settled days in the
        store (charged spend, attributed GMV net of refunds, orders), and days not settled yet count as still
        to come; the rest may spend up to the daily budget on each day left. 1 when off, for one-day windows,
        and before the window has a settled day."""
        if self.config.window_aim is None:
            return 1.0
        through, by, contracts = self._settled(day)
        w = window_for(contracts.of(campaign.id), campaign, day)
        if w is None or w[1] <= 1:
            return 1.0
        first, n = w
        done = min(day, through) - first
        if done <= 0:
            return 1.0
        figs = [f for f in by.get(campaign.id, ()) if first <= day_index(f.day) < first + done]
        so_far = WindowSoFar(
            WindowTotals.of(figs), done, n - done, int(campaign.daily_budget_micros) * (n - done)
        )
        return window_aim(float(campaign.target_roi), so_far, self.config.window_aim)

    def factors(self) -> tuple[FloatArray, FloatArray]:
        """Per category (what bids use) and per position (the examination curve the calibrator found)."""
        self.calib.refresh()
        return self.calib.category_factors().copy(), self.calib.position_factors()
