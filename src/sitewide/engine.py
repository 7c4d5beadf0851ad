"""The engine: one request is retrieve → score → bid → auction → log; ``settle`` turns events into money.

The engine sees only ports (``Store``, ``TextEncoder``, ``VectorIndex``, ``Scorer``, ``Clock``) and pure domain
functions. It keeps in memory only what serving needs per request (catalogue arrays, the campaign of each
product, today's spend per campaign); everything that matters for money lives in the ``Store``.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np

from sitewide.domain.attribution import DAY_MS, DEFAULT_WINDOW_MS, AttributionPolicy
from sitewide.domain.auction import AuctionBatch, AuctionConfig, Reason, run_auction
from sitewide.domain.creative_bandit import CreativeRotation
from sitewide.domain.eligibility import (
    EligibilityDecision,
    EligibilityPolicy,
    ProductSignals,
    compute_category_stats,
    evaluate_many,
)
from sitewide.domain.guarantee import (
    GuaranteeContract,
    GuaranteeEvaluation,
    day_index,
    day_str,
    window_key,
)
from sitewide.domain.money import Micros
from sitewide.domain.reserve import OpenWindow, ReserveMove, WindowTotals, plan_reserve
from sitewide.domain.settlement import (
    CampaignSettlement,
    DayFigures,
    SettlementPolicy,
    SettlementReport,
    SettlementRun,
    book_differences,
    compute_days,
    dirty_days,
    evaluate_window,
    load_range,
    window_for,
    zero_figures,
)
from sitewide.domain.shop_score import ShopMetrics, ShopScore, ShopScoreConfig, compute_shop_score
from sitewide.domain.terms import check_event_references
from sitewide.domain.types import (
    Campaign,
    CampaignStatus,
    Conflict,
    Event,
    EventKind,
    NotFound,
    Product,
    RequestKind,
    ServeRequest,
    ServeResult,
    Shop,
    SlotResult,
    Transaction,
    ValidationError,
)
from sitewide.domain.value_calibration import ValueCalibrator
from sitewide.experimentation import ExperimentRouter
from sitewide.index.bm25 import BM25Index
from sitewide.pacing import Pacer, PacingConfig
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
    # hybrid retrieval for search: up to this many BM25 matches of the query join the candidate row in place of
    # the weakest text-vector matches. Off by default: on the simulator's queries (title prefixes, which the
    # char-n-gram vectors already match well) 20 BM25 matches raised the best achievable top-10 true CTR of a
    # search row by only 2.6 %, and the shipped ranker is trained on vector-only rows
    lexical_k: int = 0
    slots: int = 10
    gmv_weight: float = 0.05  # organic value of an impression = gmv_weight × expected GMV (platform's take)
    # α = 0.05: on the simulated frontier (bench/frontier.py) it keeps ~70–95 % of the ad revenue of α ≥ 1 for
    # 5–10 % less NDCG and no loss of expected GMV; α = 1 cost 19 % of expected GMV and 26 % of NDCG.
    auction: AuctionConfig = field(default_factory=lambda: AuctionConfig(alpha=0.05))
    attribution_window_ms: int = DEFAULT_WINDOW_MS
    encoder_dim: int = 256
    pacing: PacingConfig = field(default_factory=PacingConfig)
    settlement: SettlementPolicy | None = None  # None: the default policy with ``attribution_window_ms``
    # pCTR/pCVR: "learned" = the multi-task ranker checkpoint at ``scorer_path`` (default: the shipped
    # sitewide/data/models/ranker.pt; falls back to the priors when the default file is absent), "priors" =
    # the hand-set PriorScorer. A ``scorer=`` object given to the Engine overrides both.
    scorer: str = "learned"
    scorer_path: str | None = None
    # rows of (candidates, similarity, pCTR, pCVR) kept per retrieval key (a search query, or a feed user's
    # history vector): the scorer sees no user features, so a row depends on nothing else and a repeated key
    # is served from memory (about 1.6 kB a row); 0 turns the cache off
    candidate_cache_rows: int = 32_768
    # bid on calibrated expected value: pCTR × pCVR × price × a factor learned online per category from the
    # orders on served ads (sitewide.domain.value_calibration), shrunk toward 1 until ~value_prior_orders
    # orders are in; off = the raw estimate (which ignores examination by position and order quantity)
    calibrate_value: bool = True
    value_prior_orders: float = 20.0
    use_eligibility: bool = True  # ineligible products may still show organically, never as ads
    use_shop_score: bool = True  # the shop's delivery multiplier scales its products' auction scores
    eligibility_policy: EligibilityPolicy = field(default_factory=EligibilityPolicy)
    shop_score_config: ShopScoreConfig = field(default_factory=ShopScoreConfig)


class CandidateCache:
    """A fixed slab of candidate rows addressed by key; when full it starts afresh (keys are cheap to refill).
    Stored in float32, the precision of the index's similarities and the learned scorer's outputs."""

    def __init__(self, rows: int) -> None:
        self.rows = max(0, int(rows))
        self._slot: dict[tuple[object, ...], int] = {}
        self._by_owner: dict[tuple[str, str], list[tuple[object, ...]]] = {}
        self._arrays: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
        self._used = 0

    @property
    def enabled(self) -> bool:
        return self.rows > 0

    def fits(self, n: int) -> bool:
        """Whether ``n`` more rows fit without starting afresh."""
        return self.enabled and self._used + n <= self.rows

    def clear(self) -> None:
        self._slot.clear()
        self._by_owner.clear()
        self._used = 0

    def lookup(self, keys: Sequence[tuple[object, ...]]) -> list[int]:
        get = self._slot.get
        return [get(k, -1) for k in keys]

    def forget(self, owner: tuple[str, str]) -> None:
        for k in self._by_owner.pop(owner, ()):
            self._slot.pop(k, None)

    def store(
        self,
        keys: Sequence[tuple[object, ...]],
        cand: np.ndarray,
        sim: np.ndarray,
        pctr: np.ndarray,
        pcvr: np.ndarray,
    ) -> None:
        n, width = cand.shape
        if self._arrays is None or self._arrays[0].shape[1] != width:
            self.clear()
            self._arrays = (
                np.full((self.rows, width), -1, dtype=np.int32),
                np.zeros((self.rows, width), dtype=np.float32),
                np.zeros((self.rows, width), dtype=np.float32),
                np.zeros((self.rows, width), dtype=np.float32),
            )
        a = self._arrays
        lo = self._used
        a[0][lo : lo + n], a[1][lo : lo + n] = cand, sim
        a[2][lo : lo + n], a[3][lo : lo + n] = pctr, pcvr
        for j, k in enumerate(keys):
            self._slot[k] = lo + j
            if k[1] == "u":
                self._by_owner.setdefault(("u", str(k[2])), []).append(k)
        self._used += n

    def gather(self, slots: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        assert self._arrays is not None
        idx = np.asarray(slots, dtype=np.int64)
        c, s, p, v = self._arrays
        return (
            c[idx].astype(np.int64),
            s[idx].astype(np.float64),
            p[idx].astype(np.float64),
            v[idx].astype(np.float64),
        )


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
        creatives: CreativeRotation | None = None,
    ) -> None:
        self.store = store
        self.creatives = creatives or CreativeRotation()  # approved creatives per product, Thompson sampling
        self._creative_rng = np.random.default_rng(zlib.crc32(b"creatives"))
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
            self._lexical: BM25Index | None = None
            if prods:
                texts = [f"{p.title} {p.brand} {p.category}" for p in prods]
                self._vecs = self.encoder.encode(texts)
                self.index.build(np.arange(len(prods), dtype=np.int64), self._vecs)
                if self.config.lexical_k > 0:
                    self._lexical = BM25Index()
                    self._lexical.build(np.arange(len(prods), dtype=np.int64), texts)
            else:
                self._vecs = np.zeros((0, self.config.encoder_dim))
            self.scorer: Scorer = self._scorer or self._default_scorer(prods)
            self._user_vec: dict[str, np.ndarray] = {}
            self._cache = CandidateCache(self.config.candidate_cache_rows)
            self._calib = ValueCalibrator(
                max(len(cats), 1), max(self.config.slots, 1), prior_orders=self.config.value_prior_orders
            )
            self._click_cell: dict[str, tuple[int, int, str]] = {}  # click → (category, position, campaign)
            self._order_cell: dict[str, tuple[int, int, str]] = {}
            self._predicted: dict[str, float] = {}
            # per campaign: category-calibrated value sold, GMV realised on it (the campaign layer's evidence)
            self._camp_value: dict[str, list[float]] = {}
            self._apply_quality()
            self._reload_campaigns()

    def _default_scorer(self, prods: Sequence[Product]) -> Scorer:
        kind = self.config.scorer
        if kind not in ("learned", "priors"):
            raise ValidationError(f"unknown scorer {kind!r}; expected 'learned' or 'priors'")
        if kind == "learned" and prods:
            from sitewide.models.scorer import load_scorer, packaged_ranker_path  # lazy: torch

            path = self.config.scorer_path
            if path is not None or packaged_ranker_path().is_file():
                return load_scorer(path, products=prods)
        return PriorScorer(self._price, self._category)

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
        self._mult = np.array([1.0 / float(c.target_roi) for c in camps], dtype=np.float64)
        self._active = np.array([c.status is CampaignStatus.ACTIVE for c in camps], dtype=bool)
        # only a changed campaign's bidder restarts; every campaign keeps today's spend (no rescan)
        if getattr(self, "_pacer", None) is None:
            self._pacer = Pacer(camps, self.config.pacing, self.config.auction.reserve_cpc_micros)
            self._click_campaign: dict[str, str] = {}  # today's click id → campaign id
        else:
            self._pacer.reconcile(camps)
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
        self.reload_experiments()

    def reload_experiments(self) -> None:
        """Re-read the merchants' experiments (arms, caps, winners) that serving follows."""
        with self._lock:
            self._experiments = ExperimentRouter.load(
                self.store,
                self.campaign_ids(),
                self._ids,
                self.clock.now_ms(),
                getattr(self, "_experiments", None),
            )

    def product_campaigns(self) -> np.ndarray:
        """``[P]`` index into :meth:`campaign_ids` of the campaign that bids for each catalogue product (the
        active one with the highest bid multiplier), ``-1`` for none."""
        return self._product_campaign.copy()

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
            self.store.update_campaign(campaign, self.clock.now_ms())
            self._reload_campaigns()  # restarts only this campaign's bidder

    def _advance(self, ts_ms: int) -> None:
        """Move the pacer to ``ts_ms``'s tick. Only the first time (a restarted engine) is today's spend read
        from the stored clicks; afterwards the pacer keeps it from the events fed in."""
        spent = None
        if ts_ms // DAY_MS != self._pacer.day:
            self._click_campaign = {}
        if self._pacer.day < 0:
            spent = np.zeros(len(self._campaigns), dtype=np.int64)
            start, end = day_bounds(day_of(ts_ms))
            for e in self.store.events_between(start, end, [EventKind.CLICK.value]):
                ci = self._camp_row.get(e.campaign_id or "")
                if ci is not None:
                    spent[ci] += int(e.price_micros)
                    self._click_campaign[e.id] = self._campaigns[ci].id
        self._pacer.advance(ts_ms, spent)

    @staticmethod
    def _search_rows(batch: RequestBatch) -> list[int]:
        """The requests retrieved by their query text: search requests with a query."""
        return [i for i, (k, t) in enumerate(zip(batch.kinds, batch.queries, strict=True)) if k == 0 and t]

    def _query_vectors(self, batch: RequestBatch, search: list[int]) -> np.ndarray:
        """Unit query vectors: the query text's for the ``search`` rows, the user's history vector for the rest."""
        r = len(batch.request_ids)
        q = np.zeros((r, self._vecs.shape[1]))
        if search:
            q[search] = self.encoder.encode([batch.queries[i] for i in search])
        by_text = set(search)
        for i in range(r):
            if i in by_text:
                continue
            v = self._user_vec.get(batch.user_ids[i])
            if v is None:  # cold user on the feed: a deterministic pseudo-random catalogue item as a seed
                seed = zlib.crc32(batch.user_ids[i].encode()) % max(len(self._ids), 1)
                v = self._vecs[seed]
            q[i] = v
        norm = np.linalg.norm(q, axis=1, keepdims=True)
        return q / np.where(norm == 0, 1.0, norm)

    def retrieve(self, batch: RequestBatch) -> tuple[np.ndarray, np.ndarray]:
        """The candidates the scorer sees: ``(product rows [R, K], similarity [R, K])``, sorted by similarity,
        ``-1``-padded. Search requests use the query text; feed requests the user's click-history vector."""
        with self._lock:
            search = self._search_rows(batch)
            q = self._query_vectors(batch, search)
            cand, sim = self.index.search(q, self.config.retrieve_k)
            lk = min(self.config.lexical_k, cand.shape[1])
            if lk > 0 and search and self._lexical is not None:
                lex, _ = self._lexical.search([batch.queries[i] for i in search], lk)
                for j, i in enumerate(search):
                    cand[i], sim[i] = self._merge_lexical(cand[i], lex[j], q[i])
            return cand, sim

    def _merge_lexical(
        self, row: np.ndarray, lexical: np.ndarray, q: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """One search row with the query's BM25 matches in place of its weakest vector matches, re-sorted by
        cosine similarity (the similarity the scorer sees stays the text-vector cosine for every candidate)."""
        have = set(row[row >= 0].tolist())
        add = [int(p) for p in lexical.tolist() if p >= 0 and p not in have]
        k = len(row)
        kept = row[row >= 0][: k - len(add)]
        merged = np.concatenate([kept, np.asarray(add, dtype=np.int64)])
        s = self._vecs[merged] @ q
        order = np.argsort(-s, kind="stable")
        out_c = np.full(k, -1, dtype=np.int64)
        out_s = np.zeros(k)
        out_c[: len(merged)] = merged[order]
        out_s[: len(merged)] = s[order]
        return out_c, out_s

    def remember_click(self, user_id: str, product_id: str) -> None:
        """Fold a clicked product into the user's history vector (what feed retrieval starts from)."""
        with self._lock:
            r = self._row[product_id]
            prev = self._user_vec.get(user_id)
            self._user_vec[user_id] = self._vecs[r] if prev is None else 0.7 * prev + 0.3 * self._vecs[r]
            self._cache.forget(("u", user_id))

    def _row_key(self, kind: int, user_id: str, query: str) -> tuple[int, str, str]:
        """What a request's candidate row depends on: the query text for a search with a query, else the
        user's history vector (cold users: their deterministic seed product)."""
        if kind == 0 and query:
            return (0, "q", query)
        if user_id in self._user_vec:
            return (kind, "u", user_id)
        seed = zlib.crc32(user_id.encode()) % max(len(self._ids), 1)
        return (kind, "c", str(seed))

    def candidates(self, batch: RequestBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(candidates, similarity, pCTR, pCVR)``, each ``[R, K]``: :meth:`retrieve` and the scorer, run
        once per distinct retrieval key not already cached (see ``EngineConfig.candidate_cache_rows``)."""
        kinds = np.asarray(batch.kinds, dtype=np.int64)
        keys = [
            self._row_key(k, u, q)
            for k, u, q in zip(kinds.tolist(), batch.user_ids, batch.queries, strict=True)
        ]
        cache = self._cache
        slots = cache.lookup(keys)
        first: dict[tuple[int, str, str], int] = {}
        for i, s in enumerate(slots):
            if s < 0:
                first.setdefault(keys[i], i)
        if not first:
            return cache.gather(slots)
        if cache.enabled and not cache.fits(len(first)):  # start afresh: recompute the whole batch's keys
            cache.clear()
            first = {}
            for i, k in enumerate(keys):
                first.setdefault(k, i)
        rows = list(first.values())
        sub = RequestBatch(
            request_ids=[batch.request_ids[i] for i in rows],
            user_ids=[batch.user_ids[i] for i in rows],
            kinds=kinds[rows],
            queries=[batch.queries[i] for i in rows],
            ts_ms=batch.ts_ms,
            slots=batch.slots,
        )
        cand, sim = self.retrieve(sub)
        pctr, pcvr = self.scorer.score(
            ScoreInput(product=cand, request_kind=kinds[rows], user=np.full(len(rows), -1), similarity=sim)
        )
        if not cache.fits(len(rows)):  # cache off, or one batch holds more keys than it: no caching
            pos = {k: j for j, k in enumerate(first)}
            where = np.array([pos[k] for k in keys], dtype=np.int64)
            return cand[where], sim[where], pctr[where], pcvr[where]
        cache.store(list(first), cand, sim, pctr, pcvr)
        return cache.gather(cache.lookup(keys))

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
            self._advance(batch.ts_ms)
            cand, sim, pctr, pcvr = self.candidates(batch)
            safe = np.maximum(cand, 0)
            raw = pctr * pcvr * self._price[safe]  # expected GMV per impression, micros (uncalibrated)
            camp = np.where(cand >= 0, self._product_campaign[safe], -1)
            xr = self._experiments
            if xr:  # experiments: each user's auction holds only their arm's campaign (budget split)
                camp = xr.route(cand, camp, batch.user_ids)
            has = camp >= 0
            n_camp = len(self._campaigns)
            cs = np.where(has, camp, n_camp)  # sentinel row n_camp: no campaign
            if self.config.calibrate_value:
                self._calib.refresh()
                value_cat = raw * self._calib.category_factors()[self._category[safe]]
                value = value_cat * np.append(self._campaign_factors(), 1.0)[cs]
            else:
                value_cat = value = raw
            mult = np.append(self._pacer.multipliers, 0.0)  # the bidders' multipliers for this tick
            bid = np.where(has, value * mult[cs], 0.0)
            budget_ok = np.append(self._pacer.budget_ok(), True)[cs]
            if xr:  # an experiment arm enters only while its spend cap has room for this request
                bid_cpc = bid / np.maximum(pctr, 1e-9)
                budget_ok &= xr.capped(cand, camp, batch.user_ids, bid_cpc, batch.slots, batch.ts_ms)
            self._pacer.offered(camp[has], value[has])
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
            won = res.promoted
            if xr:
                xr.served(prod, camp_shown, batch.user_ids, res.price_cpc_micros, batch.ts_ms)
            self._note_served(won, prod, camp_shown, res.slot, raw, value_cat, value)
            self._pacer.served(
                camp_shown[won],
                res.price_cpc_micros[won],
                np.take_along_axis(pctr, col, axis=1)[won],
                np.take_along_axis(value, col, axis=1)[won],
            )
            out = ServedBatch(
                product_idx=prod,
                promoted=res.promoted,
                campaign_idx=camp_shown,
                price_cpc_micros=np.where(res.promoted, res.price_cpc_micros, 0).astype(np.int64),
                pctr=np.where(shown, np.take_along_axis(pctr, col, axis=1), 0.0),
                pcvr=np.where(shown, np.take_along_axis(pcvr, col, axis=1), 0.0),
                extras={
                    "candidates": cand,
                    "campaign": camp,
                    "reason": res.reason,
                    "shortfall": res.shortfall,
                    "variant": xr.variants(prod, batch.user_ids) if xr else None,
                    "bid": ab.bid,  # [R, K] per-impression bids and pCTR as the auction saw them (× delivery)
                    "pctr": ab.pctr,
                },
            )
            creative = self._choose_creatives(batch, prod, res.promoted, out.extras["variant"])
            if xr:  # an arm naming one of the product's approved creatives shows it there
                forced, pinned = xr.arm_creatives(prod, res.promoted, batch.user_ids)
                creative = np.where(pinned, forced, creative)
            out.extras["creative"] = creative
            counts = np.bincount(camp_shown[camp_shown >= 0], minlength=len(self._campaigns))
            if counts.any():
                self.store.add_served(
                    day_of(batch.ts_ms), {self._campaigns[i].id: int(n) for i, n in enumerate(counts) if n}
                )
            return out

    def _choose_creatives(
        self, batch: RequestBatch, prod: np.ndarray, promoted: np.ndarray, variant: object = None
    ) -> np.ndarray:
        """After the auction: the creative of each served promoted slot (``[R, S]`` ids, None elsewhere),
        chosen per product and placement by the rotation's Thompson sampling among approved creatives. A slot
        whose product is in a running creative experiment (``variant`` set) shows the experiment's arm: the
        bandit steps aside there, so that it does not mix its own choice into the test."""
        free = promoted & (prod >= 0)
        if isinstance(variant, list):
            free &= np.array([[v is None for v in row] for row in variant], dtype=bool).reshape(prod.shape)
        out = np.full(prod.shape, None, dtype=object)
        ri, si = np.nonzero(free)
        if len(ri):
            out[ri, si] = self.creatives.choose(
                [batch.request_ids[i] for i in ri.tolist()],
                [self._ids[p] for p in prod[ri, si].tolist()],
                ["search" if int(batch.kinds[i]) == 0 else "feed" for i in ri.tolist()],
                self._creative_rng,
            )
        return out

    def _note_served(
        self,
        won: np.ndarray,
        prod: np.ndarray,
        camp_shown: np.ndarray,
        slot: np.ndarray,
        raw: np.ndarray,
        value_cat: np.ndarray,
        value: np.ndarray,
    ) -> None:
        """Feed the value calibrator the promoted impressions served; sum the value each campaign was sold."""
        if not won.any():
            return
        col = np.maximum(slot, 0)
        _, pos = np.nonzero(won)
        self._calib.served(self._category[prod[won]], pos, np.take_along_axis(raw, col, axis=1)[won])
        n = len(self._campaigns)
        cw = camp_shown[won]
        sold = np.bincount(cw, weights=np.take_along_axis(value, col, axis=1)[won], minlength=n)
        sold_cat = np.bincount(cw, weights=np.take_along_axis(value_cat, col, axis=1)[won], minlength=n)
        for i in np.flatnonzero(sold):
            cid = self._campaigns[int(i)].id
            self._predicted[cid] = self._predicted.get(cid, 0.0) + float(sold[i])
            self._camp_value.setdefault(cid, [0.0, 0.0])[0] += float(sold_cat[i])

    def _campaign_factors(self) -> np.ndarray:
        """``[C]`` each campaign's own realised ÷ category-calibrated value, shrunk toward 1 with the
        calibrator's prior (what per-category calibration cannot see: the shop, the products' quality)."""
        tau = self._calib.tau()
        out = np.ones(len(self._campaigns))
        for i, c in enumerate(self._campaigns):
            v = self._camp_value.get(c.id)
            if v is not None:
                out[i] = (max(v[1], 0.0) + tau) / (v[0] + tau)
        return out

    def value_report(self) -> dict[str, float]:
        """Per campaign: the expected GMV (micros, as valued when served: calibrated when
        ``calibrate_value``) of the promoted impressions served since the engine started."""
        with self._lock:
            return dict(self._predicted)

    def value_factors(self) -> tuple[np.ndarray, np.ndarray]:
        """The calibrator's factors: per category (what bids use) and per position (the examination curve it
        found)."""
        with self._lock:
            self._calib.refresh()
            return self._calib.category_factors().copy(), self._calib.position_factors()

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
        variant = sb.extras.get("variant")
        chosen = sb.extras.get("creative")
        chosen = chosen if isinstance(chosen, np.ndarray) else np.full(sb.product_idx.shape, None, dtype=object)
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
                    variant=variant[0][s] if isinstance(variant, list) else None,
                    creative_id=chosen[0, s],
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
        if not e.id or len(e.id) > 128:
            raise ValidationError("event id must be 1..128 characters")
        if not isinstance(e.kind, EventKind):
            raise ValidationError(f"event {e.id}: unknown kind {e.kind!r}")
        if e.ts_ms <= 0 or e.ts_ms >= 1 << 50:
            raise ValidationError(f"event {e.id}: ts_ms must be a positive epoch-ms timestamp")
        if max(int(e.price_micros), int(e.order_value_micros)) > 10**15:
            raise ValidationError(f"event {e.id}: amount above 10^15 micros")
        if e.kind is EventKind.ORDER and not e.click_id and not (e.user_id and e.product_id):
            raise ValidationError(f"event {e.id}: an order needs click_id or user_id and product_id")
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

    def _check_references(self, events: Sequence[Event]) -> None:
        """The rules that need the store (see :func:`sitewide.domain.terms.check_event_references`)."""
        cids = sorted({e.campaign_id for e in events if e.campaign_id})
        named = sorted(
            (
                {e.click_id for e in events if e.kind is EventKind.ORDER and e.click_id}
                | {e.order_id for e in events if e.kind is EventKind.REFUND and e.order_id}
            )
            - {e.id for e in events}
        )
        check_event_references(
            events, self.store.campaign_terms(cids) if cids else {}, self.store.get_events(named) if named else {}
        )

    def record_events(self, events: Sequence[Event]) -> EventReceipt:
        """Store a batch (≤ 1,000) idempotently; repeated ids with the same body are ignored. A batch with an
        event that breaks a rule (:meth:`_validate`, :func:`~sitewide.domain.terms.check_event_references`)
        raises ValidationError naming the event and the rule, and nothing of it is stored."""
        if len(events) > MAX_EVENTS_PER_CALL:
            raise ValidationError(f"at most {MAX_EVENTS_PER_CALL} events per call, got {len(events)}")
        for e in events:
            self._validate(e)
        self._check_references(events)
        with self._lock:
            receipt = self.store.append_events(events)
            fresh = set(receipt.inserted_ids)
            for e in events:
                if e.id not in fresh:
                    continue
                fresh.discard(e.id)
                self._feed_pacer(e)
                self._experiments.clicked(e)
                self._feed_calibrator(e)
                if e.kind is EventKind.CLICK:
                    self.remember_click(e.user_id, e.product_id)
                self.creatives.feedback(e.kind.value, e.id, e.request_id, e.product_id, e.click_id)
            return receipt

    def _feed_calibrator(self, e: Event) -> None:
        """Promoted clicks remember their (category, position); orders and refunds on them are outcomes."""
        if e.kind is EventKind.CLICK:
            r = self._row.get(e.product_id)
            if e.campaign_id and e.position and r is not None:
                if len(self._click_cell) > 2_000_000:  # bounded memory: forget the oldest half
                    for k in list(self._click_cell)[: len(self._click_cell) // 2]:
                        del self._click_cell[k]
                self._click_cell[e.id] = (int(self._category[r]), int(e.position) - 1, e.campaign_id)
        elif e.kind is EventKind.ORDER and e.click_id in self._click_cell:
            cell = self._click_cell[e.click_id]
            self._order_cell[e.id] = cell
            self._calib.ordered(cell[0], cell[1], int(e.order_value_micros))
            self._camp_value.setdefault(cell[2], [0.0, 0.0])[1] += int(e.order_value_micros)
        elif e.kind is EventKind.REFUND and e.order_id in self._order_cell:
            cell = self._order_cell[e.order_id]
            self._calib.refunded(cell[0], cell[1], int(e.order_value_micros))
            self._camp_value.setdefault(cell[2], [0.0, 0.0])[1] -= int(e.order_value_micros)

    def _feed_pacer(self, e: Event) -> None:
        """Today's clicks (spend) and orders on those clicks (GMV) go to the campaign's bidder."""
        if e.kind is EventKind.CLICK and e.campaign_id:
            if self._pacer.record_click(e.campaign_id, int(e.price_micros), e.ts_ms):
                self._click_campaign[e.id] = e.campaign_id
        elif e.kind is EventKind.ORDER and e.click_id in self._click_campaign:
            self._pacer.record_order(self._click_campaign[e.click_id], int(e.order_value_micros), e.ts_ms)

    # settlement ------------------------------------------------------------------------------------
    def _compute(
        self, start_ms: int, end_ms: int, period: str
    ) -> tuple[
        SettlementReport, SettlementRun, Transaction | None, list[DayFigures], list[GuaranteeEvaluation], bool
    ]:
        """Plan one incremental run (see :mod:`sitewide.domain.settlement`): the report, the run record, the
        transaction of differences, the changed figures and judgements, and whether anything is to commit."""
        policy = self.config.settlement
        if not isinstance(policy, SettlementPolicy):
            policy = SettlementPolicy(AttributionPolicy(window_ms=self.config.attribution_window_ms))
        store = self.store
        last = store.last_run()
        prev_as_of = last.as_of_ms if last else 0
        prev_wm = last.event_watermark if last else 0
        wm = store.event_watermark()
        as_of = max(prev_as_of, end_ms)
        stamps = store.event_stamps_after(prev_wm, wm)
        ref = sorted({o for _, k, o in stamps if k == EventKind.REFUND.value and o})
        order_ts = {i: e.ts_ms for i, e in store.get_events(ref).items()} if ref else {}
        touched = [(order_ts.get(o or "", -1) if k == EventKind.REFUND.value else ts) for ts, k, o in stamps]
        days = dirty_days(
            prev_as_of, as_of, (t for t in touched if t >= 0), (start_ms, end_ms), policy.reach_ms
        )
        camps = {c.id: c for c in store.list_campaigns()}
        terms = store.campaign_terms()
        contracts = store.guarantees()

        def contract(cid: str) -> GuaranteeContract:
            return contracts.get(cid) or policy.default_contract

        new_days: dict[tuple[str, str], DayFigures] = {}
        for lo, hi in load_range(days, policy.reach_ms):
            evs = store.events_between(lo, min(hi, as_of))
            have = {e.id for e in evs}
            named_ids = sorted({e.click_id for e in evs if e.kind is EventKind.ORDER and e.click_id} - have)
            named = store.get_events(named_ids) if named_ids else {}
            refunds = store.refunds_for([e.id for e in evs if e.kind is EventKind.ORDER])
            for (cid, d), f in compute_days(
                days, evs, camps, policy, named, refunds, as_of, terms
            ).items():
                new_days[(cid, day_str(d))] = f
        old_days: dict[tuple[str, str], DayFigures] = {}
        if days:
            got = store.day_figures(day_str(days.first), day_str(days.last))
            old_days = {k: f for k, f in got.items() if day_index(k[1]) in days}
        for k, f in old_days.items():  # a day that lost all its activity goes to zero
            new_days.setdefault(k, zero_figures(f))

        # guarantee windows: those holding a recomputed day, and those that mature in this run
        lag = max([c.observation_lag_ms for c in [policy.default_contract, *contracts.values()]])
        span = max([c.window_days for c in [policy.default_contract, *contracts.values()]])
        lo_day = max(
            0,
            min(
                days.first if days else 1 << 40,
                (prev_as_of - lag) // DAY_MS - span - 1,
                (end_ms - 1) // DAY_MS - span,
            ),
        )
        hi_day = (as_of - 1) // DAY_MS
        known = store.day_figures(day_str(lo_day - span), day_str(hi_day))
        booked = dict(known)  # the figures the previous run booked (the reserve's "before")
        known.update(new_days)
        windows: set[tuple[str, tuple[int, int]]] = set()
        for cid, dstr in known:
            c = camps.get(cid)
            if c is None:
                continue
            d = day_index(dstr)
            w = window_for(contract(cid), c, d)
            if w is None:
                continue
            mat = contract(cid).matures_at_ms(w)
            if mat <= as_of and ((cid, dstr) in new_days or mat > prev_as_of):
                windows.add((cid, w))
        first_days = [w[0] for _, w in windows]
        old_evals = (
            store.guarantee_evaluations(day_str(min(first_days)), day_str(max(first_days)))
            if first_days
            else {}
        )
        need = [(cid, w) for cid, w in windows if w[0] < lo_day - span]
        for cid, w in need:  # windows reaching back beyond what was read (long, old windows)
            known.update(store.day_figures(day_str(w[0]), day_str(w[0] + w[1] - 1), cid))
        evals: list[GuaranteeEvaluation] = []
        for cid, w in sorted(windows):
            figs = [known[(cid, day_str(d))] for d in range(w[0], w[0] + w[1]) if (cid, day_str(d)) in known]
            ev = evaluate_window(contract(cid), camps[cid], w, figs)
            if ev.spend_micros == 0 and ev.due_micros == 0 and (cid, ev.window) not in old_evals:
                continue
            evals.append(ev)

        reserve = (
            self._reserve(camps, contract, booked, known, evals, prev_as_of, as_of) if policy.reserve else []
        )
        seq = (last.seq if last else 0) + 1
        now = self.clock.now_ms()
        txn, changed, changed_evals = book_differences(
            f"settlement:{seq}", period, now, new_days, old_days, evals, old_evals, reserve
        )
        run = SettlementRun(seq, period, start_ms, end_ms, as_of, wm, now)
        anything = bool(txn or changed or changed_evals) or as_of != prev_as_of or wm != prev_wm

        # the report: the period's days (whole UTC days overlapping it) and the windows ending in them
        p_lo, p_hi = day_str(start_ms // DAY_MS), day_str((end_ms - 1) // DAY_MS)
        cur_evals = dict(old_evals)
        cur_evals.update({(e.campaign_id, e.window): e for e in evals})
        figs_p = store.day_figures(p_lo, p_hi)
        figs_p.update({k: f for k, f in new_days.items() if p_lo <= k[1] <= p_hi})
        for k, g in store.guarantee_evaluations(day_str(max(0, day_index(p_lo) - span)), p_hi).items():
            cur_evals.setdefault(k, g)
        comp: dict[str, int] = {}
        p_evals = []
        for g in cur_evals.values():
            if p_lo <= day_str(day_index(g.first_day) + g.days - 1) <= p_hi:
                comp[g.campaign_id] = comp.get(g.campaign_id, 0) + g.due_micros
                p_evals.append(g)
        rows: dict[str, list[DayFigures]] = {}
        for (cid, _), f in sorted(figs_p.items()):
            rows.setdefault(cid, []).append(f)
        for cid in comp:
            rows.setdefault(cid, [])
        campaigns: list[CampaignSettlement] = []
        for cid in sorted(rows):
            c = camps.get(cid)
            fs = rows[cid]
            campaigns.append(
                CampaignSettlement(
                    campaign_id=cid,
                    merchant_id=c.merchant_id if c else (fs[0].merchant_id if fs else ""),
                    target_roi=c.target_roi if c else Decimal(0),
                    clicks=sum(f.clicks for f in fs),
                    billable_clicks=sum(f.billable_clicks for f in fs),
                    orders=sum(f.orders for f in fs),
                    raw_spend_micros=sum(f.raw_spend_micros for f in fs),
                    spend_micros=sum(f.spend_micros for f in fs),
                    gmv_micros=sum(f.gmv_micros for f in fs),
                    compensation_micros=comp.get(cid, 0),
                    invalid_clicks=sum(f.invalid_clicks for f in fs),
                )
            )
        report = SettlementReport(
            period=period,
            start_ms=start_ms,
            end_ms=end_ms,
            campaigns=campaigns,
            transactions=[txn] if txn else [],
            run_seq=seq,
            as_of_ms=as_of,
            days=[f for _, f in sorted(figs_p.items())],
            guarantees=sorted(p_evals, key=lambda g: (g.campaign_id, g.window)),
            reserve=reserve,
        )
        return report, run, txn, changed, changed_evals, anything

    @staticmethod
    def _reserve(
        camps: dict[str, Campaign],
        contract: Callable[[str], GuaranteeContract],
        booked: dict[tuple[str, str], DayFigures],
        known: dict[tuple[str, str], DayFigures],
        evals: Sequence[GuaranteeEvaluation],
        prev_as_of: int,
        as_of: int,
    ) -> list[ReserveMove]:
        """Reserve bookings for the windows open at the previous run (see :mod:`sitewide.domain.reserve`)."""
        due = {(g.campaign_id, g.window): g.due_micros for g in evals}
        open_: set[tuple[str, tuple[int, int]]] = set()
        for cid, dstr in known:
            c = camps.get(cid)
            w = window_for(contract(cid), c, day_index(dstr)) if c is not None else None
            if w is not None and contract(cid).matures_at_ms(w) > prev_as_of and w[0] * DAY_MS < as_of:
                open_.add((cid, w))

        def totals(figs: dict[tuple[str, str], DayFigures], cid: str, w: tuple[int, int]) -> WindowTotals:
            fs = [figs[k] for d in range(w[0], w[0] + w[1]) if (k := (cid, day_str(d))) in figs]
            return WindowTotals(
                sum(f.spend_micros for f in fs), sum(f.gmv_micros for f in fs), sum(f.orders for f in fs)
            )

        wins = []
        for cid, w in open_:
            k, c = contract(cid), camps[cid]
            key = window_key(w)
            wins.append(
                OpenWindow(
                    campaign_id=cid,
                    merchant_id=c.merchant_id,
                    window=key,
                    contract=k,
                    target=k.target_roi if k.target_roi is not None else c.target_roi,
                    window_days=w[1],
                    before=totals(booked, cid, w),
                    elapsed_before=(prev_as_of - w[0] * DAY_MS) / DAY_MS,
                    now=totals(known, cid, w),
                    elapsed_now=(as_of - w[0] * DAY_MS) / DAY_MS,
                    judged_now=k.matures_at_ms(w) <= as_of,
                    due_micros=due.get((cid, key), 0),
                )
            )
        return plan_reserve(wins)

    def settle(
        self, start_ms: int, end_ms: int, period: str | None = None, *, preview: bool = False
    ) -> SettlementReport:
        """Settle up to ``end_ms``: book, as one atomic transaction, the differences between what the events
        known now say is owed (charges per campaign-day, compensation per mature guarantee window) and what
        the ledger holds. Re-running books nothing (``already_settled``); late events re-open their days.
        Runs are serialised by their sequence number: a concurrent run that loses recomputes and retries.

        Only a period that has ended (``end_ms ≤ clock.now_ms()``) can be settled; guarantee windows are
        judged only once their observation lag has passed too. ``preview=True`` computes the same report for
        any period, ended or not, and books nothing (``provisional`` in the report)."""
        if end_ms <= start_ms:
            raise ValidationError("settlement period must have end > start")
        if start_ms < 0 or end_ms >= 1 << 50:
            raise ValidationError("settlement period must lie in epoch milliseconds ≥ 0")
        label = period or (
            day_of(start_ms)
            if end_ms - start_ms == DAY_MS and day_bounds(day_of(start_ms))[0] == start_ms
            else f"{start_ms}-{end_ms}"
        )
        if preview:
            report = self._compute(start_ms, end_ms, label)[0]
            return replace(report, transactions=[], provisional=True)
        now = self.clock.now_ms()
        if end_ms > now:
            raise ValidationError(
                f"period {label} has not ended (it ends at {end_ms} ms, now is {now} ms): settle it once it "
                "has ended, or preview it (nothing is booked)"
            )
        for _ in range(20):
            report, run, txn, changed, evals, anything = self._compute(start_ms, end_ms, label)
            if not anything:  # everything up to as_of is booked already: nothing to write
                return replace(report, transactions=[], already_settled=True)
            if self.store.commit_settlement(run, txn, changed, evals):
                return report
        raise Conflict("settlement: too many concurrent runs, try again")

    def settle_day(self, day: str, *, preview: bool = False) -> SettlementReport:
        start, end = day_bounds(day)
        return self.settle(start, end, day, preview=preview)

    def set_guarantee(self, campaign_id: str, contract: GuaranteeContract) -> GuaranteeContract:
        """Attach a new version of the ROI-guarantee contract to a campaign; windows judged from now on use
        it. Returns the stored contract with its version."""
        if self.store.get_campaign(campaign_id) is None:
            raise NotFound(f"campaign {campaign_id} not found")
        return self.store.put_guarantee(replace(contract, campaign_id=campaign_id))

    def guarantee(self, campaign_id: str) -> GuaranteeContract:
        """The contract in force for a campaign (its own latest version, else the platform default)."""
        if self.store.get_campaign(campaign_id) is None:
            raise NotFound(f"campaign {campaign_id} not found")
        policy = self.config.settlement
        default = (
            policy.default_contract
            if isinstance(policy, SettlementPolicy)
            else SettlementPolicy().default_contract
        )
        return self.store.guarantees().get(campaign_id) or replace(default, campaign_id=campaign_id)

    # reports ---------------------------------------------------------------------------------------
    def campaign_report(self, campaign_id: str) -> dict[str, object]:
        """Per settled day: impressions served, clicks, orders, spend, GMV (net), ROI and the compensation
        of the guarantee windows ending that day — all as last settled."""
        camp = self.store.get_campaign(campaign_id)
        if camp is None:
            raise NotFound(f"campaign {campaign_id} not found")
        served = self.store.served(campaign_id)
        figs = {d: f for (_, d), f in self.store.day_figures("0000-01-01", "9999-12-31", campaign_id).items()}
        comp_by_day: dict[str, int] = {}
        for g in self.store.guarantee_evaluations("0000-01-01", "9999-12-31", campaign_id).values():
            end = day_str(day_index(g.first_day) + g.days - 1)
            comp_by_day[end] = comp_by_day.get(end, 0) + g.due_micros
        rows = []
        for d in sorted(set(served) | set(figs) | set(comp_by_day)):
            f = figs.get(d)
            spend = f.spend_micros if f else 0
            gmv = f.gmv_micros if f else 0
            rows.append(
                {
                    "day": d,
                    "impressions": served.get(d, 0),
                    "clicks": f.clicks if f else 0,
                    "invalid_clicks": f.invalid_clicks if f else 0,
                    "orders": f.orders if f else 0,
                    "spend_micros": spend,
                    "gmv_micros": gmv,
                    "roi": (gmv / spend) if spend else None,
                    "compensation_micros": comp_by_day.get(d, 0),
                }
            )
        keys = (
            "impressions",
            "clicks",
            "invalid_clicks",
            "orders",
            "spend_micros",
            "gmv_micros",
            "compensation_micros",
        )
        tot = {k: sum(int(r[k] or 0) for r in rows) for k in keys}  # type: ignore[call-overload]
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

    def statement(self, campaign_id: str, period: str | None = None) -> dict[str, object]:
        """The numbers settlement used for one campaign: per-day figures (clicks, invalid clicks by rule,
        billable clicks, spend vs budget, orders, gross GMV, refunds), each guarantee window's judgement with
        the contract it used, and the ledger legs booked for the campaign. ``period``: one day, or all."""
        camp = self.store.get_campaign(campaign_id)
        if camp is None:
            raise NotFound(f"campaign {campaign_id} not found")
        lo, hi = (period, period) if period else ("0000-01-01", "9999-12-31")
        if period:
            day_index(period)  # ValidationError on a malformed day
        figs = self.store.day_figures(lo, hi, campaign_id)
        evals = self.store.guarantee_evaluations("0000-01-01", hi, campaign_id).values()
        evals_in = [
            g
            for g in evals
            if period is None or day_index(g.first_day) <= day_index(period) < day_index(g.first_day) + g.days
        ]
        windows = {g.window for g in evals_in}
        legs = [
            {
                "txn_id": e.txn_id,
                "period": ln.period,
                "account": e.account,
                "amount_micros": int(e.amount_micros),
                "day": e.day,
                "window": e.window,
                "memo": e.memo,
            }
            for ln in self.store.ledger_entries(campaign_id=campaign_id)
            for e in (ln.entry,)
            if period is None or (e.window in windows if e.window else e.day == period)
        ]
        return {
            "campaign_id": campaign_id,
            "merchant_id": camp.merchant_id,
            "period": period,
            "contract": self.guarantee(campaign_id).to_dict(),
            "days": [
                {
                    "day": f.day,
                    "budget_micros": f.budget_micros,
                    "clicks": f.clicks,
                    "invalid_clicks": f.invalid_clicks,
                    "invalid_by_rule": dict(f.invalid_by_rule),
                    "billable_clicks": f.billable_clicks,
                    "raw_spend_micros": f.raw_spend_micros,
                    "spend_micros": f.spend_micros,
                    "orders": f.orders,
                    "gross_gmv_micros": f.gross_gmv_micros,
                    "refunded_micros": f.refunded_micros,
                    "gmv_micros": f.gmv_micros,
                    "target_roi": str(f.target_roi),
                    "terms_versions": list(f.terms_versions),
                }
                for _, f in sorted(figs.items())
            ],
            "terms": [
                {
                    "version": t.version,
                    "effective_ms": t.effective_ms,
                    "target_roi": str(t.target_roi),
                    "daily_budget_micros": t.daily_budget_micros,
                    "status": t.status.value,
                    "product_ids": list(t.product_ids),
                }
                for t in self.store.campaign_terms([campaign_id]).get(campaign_id, [])
            ],
            "guarantee_windows": [
                {
                    "window": g.window,
                    "first_day": g.first_day,
                    "days": g.days,
                    "contract_version": g.contract_version,
                    "contract": g.contract,
                    "target_roi": str(g.target_roi),
                    "spend_micros": g.spend_micros,
                    "gmv_micros": g.gmv_micros,
                    "orders": g.orders,
                    "roi": g.roi,
                    "triggered": g.triggered,
                    "compensation_micros": g.due_micros,
                    "reason": g.reason,
                }
                for g in sorted(evals_in, key=lambda g: g.first_day)
            ],
            "ledger": legs,
        }


__all__ = ["Engine", "EngineConfig", "SystemClock", "day_bounds", "day_of"]
