"""Campaign forecasts by replay: recent requests through the engine's own auction with a draft's bids.

:meth:`Forecaster.forecast` takes a :class:`~sitewide.domain.forecast.CampaignDraft` (products, target ROI,
daily budget) and

1. takes up to ``MAX_REPLAY`` requests of the last day of logged traffic (:class:`TrafficSample`, fed by
   serving), or, with nothing logged yet, synthetic requests (searches for the titles of catalogue products and
   feeds of new users, ``SYNTHETIC_DAILY_REQUESTS`` a day: an assumption);
2. retrieves and scores them as serving does (candidates, pCTR, pCVR: cached rows), keeps the requests where a
   draft product is a candidate, and values every candidate as serving does (category-calibrated expected GMV
   per impression; the other campaigns bid with their current multipliers and campaign factors);
3. runs the auction once per bid multiplier of ``GRID`` with the draft's products bidding ``value × m`` (its
   counterfactual bid landscape), and sums the draft's expected spend (GSP price × pCTR), GMV and orders over
   its won slots, scaled to the day's traffic;
4. reads the operating point at the target ROI and budget, and calibrates the level and the 80 % band with the
   engine's history (:meth:`calibrate`, pure math in ``sitewide.domain.forecast``): the shop's where it has some,
   else the category's.

**Calibration in production** (:meth:`Forecaster.settled`, called by ``Engine.settle`` after every booked run):
when a day ``D`` has been settled, every active campaign's own draft (its products, target ROI, budget) is
forecast for the next day from the traffic just served (what the campaign page would have shown at the start of
``D + 1``) and kept as a :class:`DayForecast`; every kept forecast of a settled day is paired with the GMV that
settled for it (0 when the campaign booked nothing that day), and the level factors and ``σ`` are refitted on the
most recent ``MAX_PAIRS`` pairs. With fewer than ``MIN_PAIRS`` pairs the stated prior stays: factor 1, ``σ`` =
``DEFAULT_SIGMA`` (0.5), basis "prior". A day is forecast only while no request of a later day has been served (a
late settlement run records nothing for a day already past), and at most
``EngineConfig.forecast_calibration_campaigns`` campaigns a day (a seeded sample; 0 = off: simulations that do not
look at forecasts need not pay a replay per campaign and day).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import numpy as np

from sitewide.domain.auction import AuctionBatch, run_auction
from sitewide.domain.forecast import (
    CampaignDraft,
    CampaignForecast,
    CurvePoint,
    ForecastCalibration,
    ForecastPair,
    fit_calibration,
    operating_point,
)
from sitewide.domain.time import DAY_MS, day_bounds, day_index, day_of
from sitewide.domain.types import FloatArray, IntArray, ValidationError
from sitewide.engine.campaigns import CampaignBook
from sitewide.engine.catalogue import Catalogue
from sitewide.engine.config import EngineConfig
from sitewide.engine.holdout import Holdout, TrafficSample
from sitewide.engine.retrieval import Retrieval
from sitewide.engine.value import ValueBook
from sitewide.ports import RequestBatch, Store

GRID = np.geomspace(0.03, 6.0, 7)  # bid multipliers on expected value per impression
MAX_REPLAY = 2_000  # requests of the last day replayed (a seeded uniform sample)
MAX_ROWS = 300  # of which at most this many with a draft product go through the auction per bid level
SYNTHETIC_DAILY_REQUESTS = 10_000.0  # assumption: a day's requests when nothing has been logged yet
SYNTHETIC_SEARCH_SHARE = 0.6
MIN_PAIRS = 20  # settled campaign-days before the level and σ are fitted (fewer: the stated prior)
MAX_PAIRS = 2_000  # the most recent settled campaign-days the fit uses


@dataclass(frozen=True, slots=True)
class DayForecast:
    """A campaign's own draft forecast for ``day``, made before the day began (uncalibrated: what a calibration
    pair needs)."""

    campaign_id: str
    day: str
    shop_id: str
    category: str
    point: CurvePoint  # the operating point (expected spend, GMV, orders)


@dataclass
class _Replay:
    cand: IntArray  # [R, K]
    pctr: FloatArray
    pcvr: FloatArray
    requests: int
    daily_requests: float
    traffic: str
    slots: int


@dataclass
class Forecaster:
    config: EngineConfig
    catalogue: Catalogue
    retrieval: Retrieval
    campaigns: CampaignBook
    values: ValueBook
    traffic: TrafficSample
    holdout: Holdout
    calibration: ForecastCalibration = field(default_factory=ForecastCalibration)
    _replay: _Replay | None = field(default=None, init=False)
    _replay_key: tuple[int, int, int] | None = field(default=None, init=False)
    _settling: threading.Lock = field(default_factory=threading.Lock, init=False)
    day_forecasts: dict[tuple[str, str], DayForecast] = field(default_factory=dict, init=False)
    observed: dict[tuple[str, str], int] = field(default_factory=dict, init=False)
    observed_orders: dict[tuple[str, str], int] = field(default_factory=dict, init=False)

    # ---- calibration ---------------------------------------------------------------------------------
    def calibrate(self, pairs: Sequence[ForecastPair], level: float = 0.8) -> ForecastCalibration:
        """Refit the level factors and the band on past campaign-days (see ``fit_calibration``)."""
        self.calibration = fit_calibration(pairs, level=level)
        return self.calibration

    def settled(self, store: Store, end_ms: int, guard: Callable[[], AbstractContextManager[object]]) -> None:
        """After a settlement run up to ``end_ms``: pair the kept forecasts of settled days with the GMV settled
        for them as it stands now (late orders and refunds included), refit, then forecast the day starting at
        ``end_ms`` for every active campaign (see the module docstring). ``guard()`` is held around each
        campaign's replay only (the engine's lock: events and edits wait for one replay, not for all of them or
        the fit); runs of this method are serialised."""
        with self._settling:
            self._settled(store, end_ms, guard)

    def _settled(
        self, store: Store, end_ms: int, guard: Callable[[], AbstractContextManager[object]]
    ) -> None:
        last = day_of(end_ms - 1)
        due = [k for k, f in self.day_forecasts.items() if f.day <= last]
        if due:
            figs = store.day_figures(min(d for _, d in due), last, products=False)
            for k in due:
                f = figs.get(k)
                self.observed[k] = f.gmv_micros if f is not None else 0
                self.observed_orders[k] = f.orders if f is not None else 0
        pairs = [
            ForecastPair(
                f.shop_id,
                f.category,
                f.point.gmv,
                f.point.orders,
                float(self.observed[k]),
                self.observed_orders.get(k),
                day_index(f.day),
            )
            for k, f in sorted(self.day_forecasts.items(), key=lambda kv: (kv[1].day, kv[0]))
            if k in self.observed and f.point.gmv > 0 and f.point.orders > 0
        ][-MAX_PAIRS:]
        level = self.calibration.level
        self.calibration = (
            fit_calibration(pairs, level=level)
            if len(pairs) >= MIN_PAIRS
            else ForecastCalibration(level=level)
        )
        nxt = day_of(end_ms)
        served = self.traffic.batches()[-1:]
        on = self.config.forecast_calibration_campaigns > 0
        if on and (not served or served[0].ts_ms < day_bounds(nxt)[1]):  # not yet past: forecast it
            self._record(nxt, guard)
        excess = len(self.day_forecasts) - 2 * MAX_PAIRS
        for k in sorted(self.day_forecasts, key=lambda k: (k[1], k[0]))[: max(excess, 0)]:
            del self.day_forecasts[k]
            self.observed.pop(k, None)
            self.observed_orders.pop(k, None)

    def _record(self, day: str, guard: Callable[[], AbstractContextManager[object]]) -> None:
        """Forecast ``day`` for every active campaign (its own draft) and keep the uncalibrated point."""
        book, cat = self.campaigns, self.catalogue
        with guard():
            camps = [c for c, on in zip(book.campaigns, book.active.tolist(), strict=True) if on]
        camps = [c for c in camps if (c.id, day) not in self.day_forecasts]
        most = self.config.forecast_calibration_campaigns
        if len(camps) > most:
            pick = np.random.default_rng(day_index(day)).choice(len(camps), most, replace=False)
            camps = [camps[i] for i in sorted(pick.tolist())]
        for c in camps:
            with guard():
                pids = tuple(p for p in c.product_ids if p in cat.row)
                if not pids:
                    continue
                draft = CampaignDraft(pids, float(c.target_roi), int(c.daily_budget_micros), campaign_id=c.id)
                points, _ = self.curve(draft)
                shop, category = self.shop_and_category(draft)
            at = operating_point(points, draft.target_roi, float(draft.daily_budget_micros))
            self.day_forecasts[(c.id, day)] = DayForecast(c.id, day, shop or "", category or "", at)

    @staticmethod
    def pair(forecast: CampaignForecast, shop_id: str, category: str, observed_gmv: int) -> ForecastPair:
        raw = forecast.raw
        return ForecastPair(shop_id, category, raw.gmv, raw.orders, float(observed_gmv))

    def shop_and_category(self, draft: CampaignDraft) -> tuple[str | None, str | None]:
        """The draft's shop (given, or its products' most common) and most common category."""
        cat = self.catalogue
        prods = [cat.products[cat.row[p]] for p in draft.product_ids if p in cat.row]
        if not prods:
            return draft.shop_id, None
        shop = draft.shop_id or Counter(p.shop_id for p in prods).most_common(1)[0][0]
        return shop, Counter(p.category for p in prods).most_common(1)[0][0]

    # ---- the replay ----------------------------------------------------------------------------------
    def _requests(self) -> tuple[list[RequestBatch], int, float, str]:
        batches = self.traffic.batches()
        if batches:
            last = batches[-1].ts_ms
            recent = [b for b in batches if b.ts_ms > last - DAY_MS]
            total = sum(len(b.request_ids) for b in recent)
            keep = min(1.0, MAX_REPLAY / max(total, 1))
            rng = np.random.default_rng(total)
            out = []
            for b in recent:
                idx = np.flatnonzero(rng.random(len(b.request_ids)) < keep)
                if len(idx):
                    out.append(_subset(b, idx))
            n = sum(len(b.request_ids) for b in out)
            return out, n, self.traffic.daily_requests(), "logged"
        return [self._synthetic()], MAX_REPLAY // 2, SYNTHETIC_DAILY_REQUESTS, "synthetic"

    def _synthetic(self) -> RequestBatch:
        cat = self.catalogue
        n = MAX_REPLAY // 2
        rng = np.random.default_rng(len(cat.ids))
        search = rng.random(n) < SYNTHETIC_SEARCH_SHARE
        pick = rng.integers(0, max(len(cat.ids), 1), size=n)
        queries = [
            " ".join(cat.products[int(j)].title.split()[:3]) if s else ""
            for j, s in zip(pick.tolist(), search.tolist(), strict=True)
        ]
        return RequestBatch(
            request_ids=[f"forecast-{i}" for i in range(n)],
            user_ids=[f"forecast-user-{i}" for i in range(n)],
            kinds=np.where(search, 0, 1).astype(np.int64),
            queries=queries,
            ts_ms=0,
            slots=self.config.slots,
        )

    def _base(self) -> _Replay:
        last = self.traffic.batches()[-1:] if self.traffic.requests else []
        key = (self.traffic.requests, last[0].ts_ms if last else -1, len(self.catalogue.ids))
        if self._replay is not None and key == self._replay_key:
            return self._replay
        batches, n, daily, kind = self._requests()
        rows = [self.retrieval.candidates(b) for b in batches]
        k = max((r[0].shape[1] for r in rows), default=0)
        cand = np.concatenate([_pad(r[0], k, -1) for r in rows]) if rows else np.zeros((0, 0), np.int64)
        pctr = np.concatenate([_pad(r[2], k, 0.0) for r in rows]) if rows else np.zeros((0, 0))
        pcvr = np.concatenate([_pad(r[3], k, 0.0) for r in rows]) if rows else np.zeros((0, 0))
        slots = batches[0].slots if batches else self.config.slots
        self._replay = _Replay(cand.astype(np.int64), pctr, pcvr, n, daily, kind, slots)
        self._replay_key = key
        return self._replay

    def curve(self, draft: CampaignDraft) -> tuple[list[CurvePoint], _Replay]:
        """The draft's day at each bid multiplier of ``GRID`` (uncalibrated expectations)."""
        cat, book = self.catalogue, self.campaigns
        unknown = [p for p in draft.product_ids if p not in cat.row]
        if unknown:
            raise ValidationError(f"unknown product ids: {', '.join(unknown[:5])}")
        rep = self._base()
        mine = np.zeros(len(cat.ids) + 1, dtype=bool)
        mine[[cat.row[p] for p in draft.product_ids]] = True
        hit = np.flatnonzero(mine[rep.cand].any(axis=1)) if rep.cand.size else np.zeros(0, np.int64)
        if not len(hit) or rep.requests == 0:
            return [CurvePoint(float(m), 0.0, 0.0, 0.0) for m in GRID], rep
        row_scale = 1.0
        if len(hit) > MAX_ROWS:
            row_scale = len(hit) / MAX_ROWS
            hit = np.sort(np.random.default_rng(len(hit)).choice(hit, MAX_ROWS, replace=False))
        cand, pctr, pcvr = rep.cand[hit], rep.pctr[hit], rep.pcvr[hit]
        valid = cand >= 0
        safe = np.maximum(cand, 0)
        price = cat.price[safe].astype(np.float64)
        raw = pctr * pcvr * price
        self.values.calib.refresh()
        value_cat = raw * self.values.calib.category_factors()[cat.category[safe]]
        n_camp = len(book.ids)
        camp = np.where(valid, book.product_campaign[safe], -1)
        if draft.campaign_id is not None and draft.campaign_id in book.row:
            camp = np.where(camp == book.row[draft.campaign_id], -1, camp)  # the draft replaces it
        own = valid & mine[safe]
        camp = np.where(own, n_camp, camp)
        factors = np.append(self.values.campaign_factors(book.ids), [1.0, 0.0])
        mult = np.append(book.pacer.multipliers, [0.0, 0.0])
        cs = np.where(camp >= 0, camp, n_camp + 1)
        other_bid = np.where(camp >= 0, value_cat * factors[cs] * mult[cs], 0.0)
        m_del = np.where(valid, cat.delivery[safe], 1.0)
        organic = pctr * pcvr * np.sqrt(price * cat.median_price)
        eligible = np.where(valid, cat.eligible[safe], False)
        # only the columns that can matter: the draft's, the best fixed scores and the most relevant
        rel = self.config.gmv_weight * organic * m_del
        fixed = rel + self.config.auction.alpha * other_bid * m_del
        keep = np.zeros(cand.shape, dtype=bool)
        rix = np.arange(len(cand))[:, None]
        width = min(cand.shape[1], 3 * rep.slots)
        keep[rix, np.argsort(-fixed, axis=1)[:, :width]] = True
        keep[rix, np.argsort(-rel, axis=1)[:, : rep.slots]] = True
        keep |= own
        keep &= valid
        cols = np.argsort(~keep, axis=1, kind="stable")[:, : max(int(keep.sum(axis=1).max()), 1)]
        kept = np.take_along_axis(keep, cols, axis=1)

        def cut(a: np.ndarray) -> np.ndarray:
            return np.take_along_axis(a, cols, axis=1)

        cand, pctr, price, value_cat, camp = (
            np.where(kept, cut(cand), -1),
            cut(pctr),
            cut(price),
            cut(value_cat),
            np.where(kept, cut(camp), -1),
        )
        own, other_bid, m_del, rel = kept & cut(own), cut(other_bid), cut(m_del), cut(rel)
        valid = cand >= 0
        eligible = valid & cut(eligible)
        scale = rep.daily_requests / rep.requests * row_scale
        share = self.holdout.share_of(draft.campaign_id) if draft.campaign_id else self.holdout.default_share
        scale *= 1.0 - share  # held-out wins serve no ad
        points = []
        for m in GRID:
            bid = np.where(own, value_cat * m, other_bid)
            ab = AuctionBatch(
                product=cand,
                relevance=np.where(valid, rel, 0.0),
                pctr=np.clip(np.where(valid, pctr * m_del, 1e-9), 1e-9, 1.0),
                bid=bid * m_del,
                campaign=camp,
                eligible=eligible,
                budget_ok=np.ones(cand.shape, dtype=bool),
            )
            res = run_auction(ab, rep.slots, self.config.auction)
            col = np.maximum(res.slot, 0)
            won = res.promoted & (np.take_along_axis(camp, col, axis=1) == n_camp)
            at = np.take_along_axis
            spend = float((res.price_cpc_micros * at(pctr, col, axis=1))[won].sum())
            gmv = float(at(value_cat, col, axis=1)[won].sum())
            orders = float((at(value_cat, col, axis=1) / np.maximum(at(price, col, axis=1), 1.0))[won].sum())
            points.append(CurvePoint(float(m), spend * scale, gmv * scale, orders * scale))
        return points, rep

    def calibrated(self, p: CurvePoint, shop_id: str | None, category: str | None) -> CurvePoint:
        """``p`` at the calibrated level (size curve, the shop's factor else its category's …, the size bin's
        level), with its band (the size bin's σ; see ``ForecastCalibration.calibrated``)."""
        return self.calibration.calibrated(p, shop_id, category)

    def forecast(self, draft: CampaignDraft) -> CampaignForecast:
        points, rep = self.curve(draft)
        shop, category = self.shop_and_category(draft)
        cal = self.calibration
        k, basis = cal.factor(shop, category)
        at = operating_point(points, draft.target_roi, float(draft.daily_budget_micros))
        return CampaignForecast(
            draft=draft,
            shop_id=shop,
            category=category,
            basis=basis,
            factor=k,
            sigma=cal.sigma_for(cal.size_of(at.gmv, at.orders, shop, category)),
            level=cal.level,
            daily_requests=rep.daily_requests,
            replayed_requests=rep.requests,
            traffic=rep.traffic,
            expected=self.calibrated(at, shop, category),
            raw=at,
            curve=tuple(self.calibrated(p, shop, category) for p in points),
        )


def _subset(b: RequestBatch, idx: np.ndarray) -> RequestBatch:
    ix = idx.tolist()
    return RequestBatch(
        request_ids=[b.request_ids[i] for i in ix],
        user_ids=[b.user_ids[i] for i in ix],
        kinds=np.asarray(b.kinds)[idx],
        queries=[b.queries[i] for i in ix],
        ts_ms=b.ts_ms,
        slots=b.slots,
    )


def _pad(a: np.ndarray, k: int, fill: float) -> np.ndarray:
    if a.shape[1] == k:
        return a
    out = np.full((a.shape[0], k), fill, dtype=a.dtype)
    out[:, : a.shape[1]] = a
    return out
