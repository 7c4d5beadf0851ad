"""The engine: one request is retrieve → score → bid → auction → log; ``settle`` turns events into money.

The engine sees only ports (``Store``, ``TextEncoder``, ``VectorIndex``, ``Scorer``, ``Clock``) and pure domain
functions. It keeps in memory only what serving needs per request (catalogue arrays, the campaign of each
product, today's spend per campaign); everything that matters for money lives in the ``Store``.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from sitewide.domain.attribution import DAY_MS, DEFAULT_WINDOW_MS, attribute_orders
from sitewide.domain.auction import AuctionBatch, AuctionConfig, Reason, run_auction
from sitewide.domain.eligibility import (
    EligibilityDecision,
    EligibilityPolicy,
    ProductSignals,
    compute_category_stats,
    evaluate_many,
)
from sitewide.domain.money import Micros
from sitewide.domain.settlement import SettlementReport, settle_period
from sitewide.domain.shop_score import ShopMetrics, ShopScore, ShopScoreConfig, compute_shop_score
from sitewide.domain.types import (
    Campaign,
    CampaignStatus,
    Event,
    EventKind,
    NotFound,
    Product,
    RequestKind,
    ServeRequest,
    ServeResult,
    Shop,
    SlotResult,
    ValidationError,
)
from sitewide.placeholders import CharNgramEncoder, ExactCosineIndex, PriorScorer
from sitewide.ports import (
    Clock,
    EventReceipt,
    RequestBatch,
    ScoreInput,
    Scorer,
    ServedBatch,
    Store,
    TextEncoder,
    VectorIndex,
)

MAX_EVENTS_PER_CALL = 1_000


class SystemClock:
    def now_ms(self) -> int:
        return int(time.time() * 1000)


def day_of(ts_ms: int) -> str:
    """The UTC calendar day of an epoch-ms timestamp, ``YYYY-MM-DD``."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d")


def day_bounds(day: str) -> tuple[int, int]:
    start = int(datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp() * 1000)
    return start, start + DAY_MS


@dataclass(frozen=True)
class EngineConfig:
    retrieve_k: int = 100
    slots: int = 10
    gmv_weight: float = 0.05  # organic value of an impression = gmv_weight × expected GMV (platform's take)
    auction: AuctionConfig = field(default_factory=AuctionConfig)
    attribution_window_ms: int = DEFAULT_WINDOW_MS
    encoder_dim: int = 256
    use_eligibility: bool = True  # ineligible products may still show organically, never as ads
    use_shop_score: bool = True  # the shop's delivery multiplier scales its products' auction scores
    eligibility_policy: EligibilityPolicy = field(default_factory=EligibilityPolicy)
    shop_score_config: ShopScoreConfig = field(default_factory=ShopScoreConfig)


class Engine:
    """Serving and settlement over one catalogue. Build with :meth:`build` (registers objects in the store)
    or :meth:`from_store` (uses what the store already holds)."""

    def __init__(
        self,
        store: Store,
        config: EngineConfig | None = None,
        encoder: TextEncoder | None = None,
        index: VectorIndex | None = None,
        scorer: Scorer | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.store = store
        self.config = config or EngineConfig()
        self.encoder = encoder or CharNgramEncoder(self.config.encoder_dim)
        self.index = index or ExactCosineIndex()
        self._scorer = scorer
        self.clock = clock or SystemClock()
        self._lock = threading.RLock()
        self._signals: dict[str, ProductSignals] = {}
        self._shop_metrics: dict[str, ShopMetrics] = {}
        self.reload()

    # construction ----------------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        store: Store,
        shops: Sequence[Shop],
        products: Sequence[Product],
        campaigns: Sequence[Campaign] = (),
        config: EngineConfig | None = None,
        **ports: object,
    ) -> Engine:
        store.upsert_shops(shops)
        store.upsert_products(products)
        for c in campaigns:
            if store.get_campaign(c.id) is None:
                store.create_campaign(c)
        return cls(store, config, **ports)  # type: ignore[arg-type]

    def reload(self) -> None:
        """(Re)load the catalogue and campaigns from the store and rebuild the index."""
        with self._lock:
            prods = sorted(self.store.list_products(), key=lambda p: p.id)
            self._products = prods
            self._row = {p.id: i for i, p in enumerate(prods)}
            self._ids = [p.id for p in prods]
            self._price = np.array([int(p.price_micros) for p in prods], dtype=np.int64)
            self._median_price = float(np.median(self._price)) if prods else 1.0
            cats = sorted({p.category for p in prods})
            cat_code = {c: i for i, c in enumerate(cats)}
            self._category = np.array([cat_code[p.category] for p in prods], dtype=np.int64)
            if prods:
                self._vecs = self.encoder.encode([f"{p.title} {p.brand} {p.category}" for p in prods])
                self.index.build(np.arange(len(prods), dtype=np.int64), self._vecs)
            else:
                self._vecs = np.zeros((0, self.config.encoder_dim))
            self.scorer: Scorer = self._scorer or PriorScorer(self._price, self._category)
            self._user_vec: dict[str, np.ndarray] = {}
            self._apply_quality()
            self._reload_campaigns()

    # eligibility pool and shop experience score -----------------------------------------------------
    def set_quality(
        self, product_signals: Sequence[ProductSignals], shop_metrics: Sequence[ShopMetrics]
    ) -> None:
        """Give the engine the products' pool signals and the shops' service metrics; recomputes the pool
        (eligible mask + reasons) and the shops' delivery multipliers. Products without signals are judged
        on what the catalogue knows (price, category), the rules' missing-data notes say so."""
        with self._lock:
            self._signals.update({p.product_id: p for p in product_signals})
            self._shop_metrics.update({m.shop_id: m for m in shop_metrics})
            self._apply_quality()

    def _apply_quality(self) -> None:
        cfg = self.config
        self._shop_scores: dict[str, ShopScore] = {
            sid: compute_shop_score(m, cfg.shop_score_config) for sid, m in self._shop_metrics.items()
        }
        sigs = [
            self._signals.get(p.id)
            or ProductSignals(p.id, p.category, p.shop_id, price_micros=int(p.price_micros))
            for p in self._products
        ]
        stats = compute_category_stats(sigs)
        mask, decisions = evaluate_many(
            sigs, {sid: sc.score for sid, sc in self._shop_scores.items()}, stats, cfg.eligibility_policy
        )
        self._decisions: dict[str, EligibilityDecision] = {d.product_id: d for d in decisions}
        self._eligible = mask if cfg.use_eligibility else np.ones(len(self._products), dtype=bool)
        mult = np.array(
            [
                self._shop_scores[p.shop_id].multiplier if p.shop_id in self._shop_scores else 1.0
                for p in self._products
            ]
        )
        self._delivery = mult if cfg.use_shop_score else np.ones(len(self._products))

    def eligibility(self, product_id: str) -> EligibilityDecision:
        d = self._decisions.get(product_id)
        if d is None:
            raise NotFound(f"product {product_id} not found")
        return d

    def shop_score(self, shop_id: str) -> ShopScore | None:
        """The shop's experience score, or None when no service metrics were given for it."""
        return self._shop_scores.get(shop_id)

    def _reload_campaigns(self) -> None:
        camps = self.store.list_campaigns()
        self._campaigns = camps
        self._camp_row = {c.id: i for i, c in enumerate(camps)}
        n = len(camps)
        self._mult = np.array([1.0 / float(c.target_roi) for c in camps], dtype=np.float64)
        self._budget = np.array([int(c.daily_budget_micros) for c in camps], dtype=np.int64)
        self._active = np.array([c.status is CampaignStatus.ACTIVE for c in camps], dtype=bool)
        self._spent = np.zeros(n, dtype=np.int64)
        self._spent_day = ""
        # each product's campaign: the active one with the highest multiplier (a product may be in several)
        best = np.full(len(self._products), -1, dtype=np.int64)
        for ci, c in enumerate(camps):
            if not self._active[ci]:
                continue
            for pid in c.product_ids:
                r = self._row.get(pid)
                if r is not None and (best[r] < 0 or self._mult[ci] > self._mult[best[r]]):
                    best[r] = ci
        self._product_campaign = best

    # the MarketEngine protocol ---------------------------------------------------------------------
    def catalogue_ids(self) -> Sequence[str]:
        return self._ids

    def campaign_ids(self) -> Sequence[str]:
        return [c.id for c in self._campaigns]

    def add_campaign(self, campaign: Campaign) -> None:
        """Validate against the catalogue, store, and start serving it."""
        unknown = [p for p in campaign.product_ids if p not in self._row]
        if unknown:
            raise ValidationError(f"unknown product ids: {', '.join(unknown[:5])}")
        with self._lock:
            self.store.create_campaign(campaign)
            self._reload_campaigns()

    def update_campaign(self, campaign: Campaign) -> None:
        """Change a campaign (pause/resume, target, budget, products); serving follows at once."""
        unknown = [p for p in campaign.product_ids if p not in self._row]
        if unknown:
            raise ValidationError(f"unknown product ids: {', '.join(unknown[:5])}")
        with self._lock:
            if self.store.get_campaign(campaign.id) is None:
                raise NotFound(f"campaign {campaign.id} not found")
            self.store.update_campaign(campaign)
            self._reload_campaigns()  # today's spend is re-read from the stored clicks on the next request

    def _roll_day(self, ts_ms: int) -> None:
        day = day_of(ts_ms)
        if day != self._spent_day:
            self._spent_day = day
            self._spent[:] = 0
            start, end = day_bounds(day)
            for e in self.store.events_between(start, end, [EventKind.CLICK.value]):
                ci = self._camp_row.get(e.campaign_id or "")
                if ci is not None:
                    self._spent[ci] += int(e.price_micros)

    def _query_vectors(self, batch: RequestBatch) -> np.ndarray:
        r = len(batch.request_ids)
        q = np.zeros((r, self._vecs.shape[1]))
        search = [i for i in range(r) if batch.kinds[i] == 0 and batch.queries[i]]
        if search:
            q[search] = self.encoder.encode([batch.queries[i] for i in search])
        for i in range(r):
            if i in search:
                continue
            v = self._user_vec.get(batch.user_ids[i])
            if v is None:  # cold user on the feed: a deterministic pseudo-random catalogue item as a seed
                seed = zlib.crc32(batch.user_ids[i].encode()) % max(len(self._ids), 1)
                v = self._vecs[seed]
            q[i] = v
        norm = np.linalg.norm(q, axis=1, keepdims=True)
        return q / np.where(norm == 0, 1.0, norm)

    def serve_batch(self, batch: RequestBatch) -> ServedBatch:
        r = len(batch.request_ids)
        if r == 0 or not self._ids:
            z = np.zeros((r, batch.slots))
            return ServedBatch(
                np.full((r, batch.slots), -1, np.int64),
                z.astype(bool),
                np.full((r, batch.slots), -1, np.int64),
                z.astype(np.int64),
                z,
                z,
            )
        with self._lock:
            self._roll_day(batch.ts_ms)
            q = self._query_vectors(batch)
            cand, sim = self.index.search(q, self.config.retrieve_k)
            kinds = np.asarray(batch.kinds, dtype=np.int64)
            pctr, pcvr = self.scorer.score(
                ScoreInput(product=cand, request_kind=kinds, user=np.full(r, -1), similarity=sim)
            )
            safe = np.maximum(cand, 0)
            value = pctr * pcvr * self._price[safe]  # expected GMV per impression, micros
            camp = np.where(cand >= 0, self._product_campaign[safe], -1)
            has = camp >= 0
            n_camp = len(self._campaigns)
            cs = np.where(has, camp, n_camp)  # sentinel row n_camp: no campaign
            mult = np.append(self._mult, 0.0)
            bid = np.where(has, value * mult[cs], 0.0)
            budget_ok = np.append(self._spent < self._budget, True)[cs]
            # Shop experience: scaling pCTR, bid and relevance by the same multiplier m scales both scores by m
            # while the bid per click (bid / pCTR) and so every per-click price stay in the merchant's terms.
            m = np.where(cand >= 0, self._delivery[safe], 1.0)
            # Organic value: expected conversions at a damped order value sqrt(price × catalogue median), so
            # that organic ranking follows relevance and conversion more than price (ads pay for price).
            organic = pctr * pcvr * np.sqrt(self._price[safe] * self._median_price)
            ab = AuctionBatch(
                product=cand,
                relevance=self.config.gmv_weight * organic * m,
                pctr=np.clip(np.where(cand >= 0, pctr * m, 1e-9), 1e-9, 1.0),
                bid=bid * m,
                campaign=camp,
                eligible=np.where(cand >= 0, self._eligible[safe], False),
                budget_ok=budget_ok,
            )
            res = run_auction(ab, batch.slots, self.config.auction)
            shown = res.slot >= 0
            col = np.maximum(res.slot, 0)
            prod = np.where(shown, np.take_along_axis(cand, col, axis=1), -1)
            camp_shown = np.where(res.promoted, np.take_along_axis(camp, col, axis=1), -1)
            out = ServedBatch(
                product_idx=prod,
                promoted=res.promoted,
                campaign_idx=camp_shown,
                price_cpc_micros=np.where(res.promoted, res.price_cpc_micros, 0).astype(np.int64),
                pctr=np.where(shown, np.take_along_axis(pctr, col, axis=1), 0.0),
                pcvr=np.where(shown, np.take_along_axis(pcvr, col, axis=1), 0.0),
                extras={"candidates": cand, "reason": res.reason, "shortfall": res.shortfall},
            )
            counts = np.bincount(camp_shown[camp_shown >= 0], minlength=len(self._campaigns))
            if counts.any():
                self.store.add_served(
                    day_of(batch.ts_ms), {self._campaigns[i].id: int(n) for i, n in enumerate(counts) if n}
                )
            return out

    def serve(self, request: ServeRequest) -> ServeResult:
        """One request (the API's ``POST /serve``); a batch of one under the hood."""
        batch = RequestBatch(
            request_ids=[request.request_id],
            user_ids=[request.user_id],
            kinds=np.array([0 if request.kind is RequestKind.SEARCH else 1]),
            queries=[request.query],
            ts_ms=request.ts_ms or self.clock.now_ms(),
            slots=request.slots,
        )
        sb = self.serve_batch(batch)
        slots: list[SlotResult] = []
        for s in range(request.slots):
            pi = int(sb.product_idx[0, s])
            if pi < 0:
                continue
            ci = int(sb.campaign_idx[0, s])
            slots.append(
                SlotResult(
                    position=len(slots) + 1,
                    product_id=self._ids[pi],
                    promoted=bool(sb.promoted[0, s]),
                    campaign_id=self._campaigns[ci].id if ci >= 0 else None,
                    price_micros=Micros(int(sb.price_cpc_micros[0, s])),
                    pctr=float(sb.pctr[0, s]),
                    pcvr=float(sb.pcvr[0, s]),
                    score=0.0,
                )
            )
        losers: list[tuple[str, str]] = []
        cand = sb.extras["candidates"]
        reason = sb.extras["reason"]
        assert isinstance(cand, np.ndarray) and isinstance(reason, np.ndarray)
        for j in range(cand.shape[1]):
            code = int(reason[0, j])
            if cand[0, j] >= 0 and code not in (Reason.SHOWN, Reason.PADDING):
                losers.append((self._ids[int(cand[0, j])], Reason(code).name.lower()))
        return ServeResult(request.request_id, tuple(slots), tuple(losers))

    # events ----------------------------------------------------------------------------------------
    def _validate(self, e: Event) -> None:
        if e.ts_ms <= 0:
            raise ValidationError(f"event {e.id}: ts_ms must be a positive epoch-ms timestamp")
        if (
            e.kind in (EventKind.IMPRESSION, EventKind.CLICK, EventKind.ORDER)
            and e.product_id not in self._row
        ):
            raise ValidationError(f"event {e.id}: unknown product {e.product_id!r}")
        if e.campaign_id is not None and e.campaign_id not in self._camp_row:
            raise ValidationError(f"event {e.id}: unknown campaign {e.campaign_id!r}")
        if e.price_micros < 0 or e.order_value_micros < 0:
            raise ValidationError(f"event {e.id}: amounts must be ≥ 0")
        if e.kind is EventKind.REFUND and not e.order_id:
            raise ValidationError(f"event {e.id}: a refund needs order_id")

    def record_events(self, events: Sequence[Event]) -> EventReceipt:
        """Store a batch (≤ 1,000) idempotently; repeated ids with the same body are ignored."""
        if len(events) > MAX_EVENTS_PER_CALL:
            raise ValidationError(f"at most {MAX_EVENTS_PER_CALL} events per call, got {len(events)}")
        for e in events:
            self._validate(e)
        with self._lock:
            receipt = self.store.append_events(events)
            fresh = set(receipt.inserted_ids)
            for e in events:
                if e.id not in fresh or e.kind is not EventKind.CLICK:
                    continue
                fresh.discard(e.id)
                if e.campaign_id and day_of(e.ts_ms) == self._spent_day:
                    self._spent[self._camp_row[e.campaign_id]] += int(e.price_micros)
                r = self._row[e.product_id]
                prev = self._user_vec.get(e.user_id)
                self._user_vec[e.user_id] = (
                    self._vecs[r] if prev is None else 0.7 * prev + 0.3 * self._vecs[r]
                )
            return receipt

    # settlement ------------------------------------------------------------------------------------
    def _compute(self, start_ms: int, end_ms: int, period: str) -> SettlementReport:
        w = self.config.attribution_window_ms
        clicks = self.store.events_between(start_ms - w, end_ms, [EventKind.CLICK.value])
        orders = self.store.events_between(start_ms, end_ms, [EventKind.ORDER.value])
        refunds = self.store.events_between(start_ms, end_ms, [EventKind.REFUND.value])
        # refunds of orders from earlier periods are attributed through their order
        order_ids = {o.id for o in orders}
        older = [r.order_id for r in refunds if r.order_id and r.order_id not in order_ids]
        older_orders = list(self.store.get_events(older).values()) if older else []
        attributions = attribute_orders(clicks, orders + older_orders, w)
        camps = {c.id: c for c in self.store.list_campaigns()}
        return settle_period(
            period, start_ms, end_ms, self.clock.now_ms(), camps, clicks, attributions, refunds
        )

    def settle(self, start_ms: int, end_ms: int, period: str | None = None) -> SettlementReport:
        """Settle ``[start_ms, end_ms)`` once: charges and compensation are booked in one atomic write.

        Settling the same period again books nothing and returns the same figures with ``already_settled``.
        """
        if end_ms <= start_ms:
            raise ValidationError("settlement period must have end > start")
        label = period or (
            day_of(start_ms)
            if end_ms - start_ms == DAY_MS and day_bounds(day_of(start_ms))[0] == start_ms
            else f"{start_ms}-{end_ms}"
        )
        report = self._compute(start_ms, end_ms, label)
        booked = self.store.append_transactions(report.transactions)
        if not booked:
            return SettlementReport(
                report.period, start_ms, end_ms, report.campaigns, report.transactions, True
            )
        return report

    def settle_day(self, day: str) -> SettlementReport:
        start, end = day_bounds(day)
        return self.settle(start, end, day)

    # reports ---------------------------------------------------------------------------------------
    def campaign_report(self, campaign_id: str) -> dict[str, object]:
        camp = self.store.get_campaign(campaign_id)
        if camp is None:
            raise NotFound(f"campaign {campaign_id} not found")
        served = self.store.served(campaign_id)
        comp_by_day: dict[str, int] = {}
        for t in self.store.list_transactions(kind="compensation"):
            for e in t.entries:
                if e.amount_micros > 0 and e.memo.startswith(f"campaign {campaign_id}:"):
                    comp_by_day[t.period] = comp_by_day.get(t.period, 0) + int(e.amount_micros)
        days = sorted(set(served) | set(comp_by_day))
        rows = []
        for d in days:
            start, end = day_bounds(d)
            rep = self._compute(start, end, d)
            cs = next((c for c in rep.campaigns if c.campaign_id == campaign_id), None)
            spend = cs.spend_micros if cs else 0
            gmv = cs.gmv_micros if cs else 0
            rows.append(
                {
                    "day": d,
                    "impressions": served.get(d, 0),
                    "clicks": cs.clicks if cs else 0,
                    "orders": cs.orders if cs else 0,
                    "spend_micros": spend,
                    "gmv_micros": gmv,
                    "roi": (gmv / spend) if spend else None,
                    "compensation_micros": comp_by_day.get(d, 0),
                }
            )
        tot = {
            k: sum(int(r[k] or 0) for r in rows)  # type: ignore[call-overload]
            for k in ("impressions", "clicks", "orders", "spend_micros", "gmv_micros", "compensation_micros")
        }
        return {
            "campaign_id": campaign_id,
            "target_roi": str(camp.target_roi),
            "daily_budget_micros": int(camp.daily_budget_micros),
            "days": rows,
            "total": {
                **tot,
                "roi": (tot["gmv_micros"] / tot["spend_micros"]) if tot["spend_micros"] else None,
            },
        }


__all__ = ["Engine", "EngineConfig", "SystemClock", "day_bounds", "day_of"]
