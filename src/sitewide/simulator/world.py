"""The world: entities plus the hidden utility model, calibrated to the real datasets' rates.

Hidden utility (ground truth, never shown to the engine):

    logit pCTR(u, j | request) = a_kind + 1.0·affinity[u, cat j] + quality_j − β_u·z_price_j + 1.5·[cat j = intent]
    logit pCVR(u, j)           = b + 0.5·affinity[u, cat j] + 0.5·quality_j + 0.3·shop_quality − 0.5·β_u·z_price_j

``a_search``, ``a_feed`` and ``b`` are solved at build time so that reference policies hit the targets:
search = products of the query's category in random order (Ali-CCP CTR 4.05 %); feed = uniformly random
products (Open Bandit's random policy, CTR 0.38 %); CVR among clicks = Ali-CCP's 0.53 %.
A user examines position k with probability 1 / log2(k + 2) ** power; a click needs examination.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from sitewide.domain.types import Campaign, FloatArray, IntArray, Product, Shop
from sitewide.simulator.catalogue import load_catalogue
from sitewide.simulator.config import BASE_EPOCH_MS, SimConfig
from sitewide.simulator.entities import (
    Merchants,
    Products,
    Users,
    make_campaigns,
    make_merchants,
    make_products,
    make_users,
)

W_AFFINITY = 1.0
W_INTENT = 1.5
W_CVR_AFFINITY = 0.5
W_CVR_QUALITY = 0.5
W_SHOP = 0.3
CVR_PRICE = 0.5
SEARCH, FEED = 0, 1

# independent random streams, so that changing one part (say, the engine) leaves the others untouched
STREAM_WORLD, STREAM_STORY, STREAM_CALIBRATION, STREAM_QUERIES = 1, 2, 3, 4


@cache
def calibration_targets() -> dict[str, Any]:
    """Statistics measured from the real datasets (``sitewide/data/sim_calibration.json``)."""
    text = resources.files("sitewide").joinpath("data/sim_calibration.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _sigmoid(x: FloatArray) -> FloatArray:
    out: FloatArray = 1.0 / (1.0 + np.exp(-x))
    return out


def examination(slots: int, power: float = 1.0) -> FloatArray:
    """P(examine position k), k = 0..slots−1: ``1 / log2(k + 2) ** power`` (position 0 is always seen)."""
    out: FloatArray = 1.0 / np.log2(np.arange(slots) + 2.0) ** power
    return out


def _solve_intercept(base: FloatArray, weight: FloatArray, target: float) -> float:
    """The ``a`` with Σ weight·sigmoid(a + base) / Σ weight = target (bisection; the mean is monotone in a)."""
    lo, hi = -30.0, 30.0
    wsum = float(weight.sum())
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if float((weight * _sigmoid(mid + base)).sum()) / wsum < target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


@dataclass
class World:
    config: SimConfig
    users: Users
    merchants: Merchants
    products: Products
    campaigns: list[Campaign]
    a_search: float = 0.0
    a_feed: float = 0.0
    b_cvr: float = 0.0

    def __post_init__(self) -> None:
        self.exam = examination(self.config.slots, self.config.examination_power)
        cat = self.products.category
        self.cat_order = np.argsort(cat, kind="stable").astype(np.int64)
        counts = np.bincount(cat, minlength=len(self.products.category_names))
        self.cat_start = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        self.cat_count = counts.astype(np.int64)
        self.shop_quality_of_product = self.merchants.quality[self.products.merchant]
        rr = self.merchants.metrics["return_rate"].to_numpy()
        self.refund_prob_of_product = np.clip(
            self.config.refund_rate * rr[self.products.merchant] / max(float(rr.mean()), 1e-9), 0.0, 1.0
        )
        self.campaign_index = {c.id: i for i, c in enumerate(self.campaigns)}
        # schedule: day each campaign starts, and day it stops (days = never within the run)
        rng = np.random.default_rng([self.config.seed, STREAM_WORLD, 11])
        n, days = len(self.campaigns), self.config.days
        late = rng.random(n) < self.config.late_start_share
        self.campaign_start_day = np.where(late & (days > 1), rng.integers(1, max(days, 2), size=n), 0)
        stop = rng.random(n) < self.config.early_stop_share
        stop_day = self.campaign_start_day + 1 + rng.integers(0, max(days, 1), size=n)
        self.campaign_stop_day = np.where(stop & (stop_day < days), stop_day, days)

    # ---- domain objects for the engine -------------------------------------------------------------------
    @property
    def shops(self) -> list[Shop]:
        return self.merchants.shops

    def campaigns_starting(self, day: int) -> list[Campaign]:
        """Campaigns whose first day is ``day`` (day 0: the ones an engine factory should load)."""
        return [c for c, d in zip(self.campaigns, self.campaign_start_day.tolist(), strict=True) if d == day]

    def campaigns_stopping(self, day: int) -> list[Campaign]:
        """Campaigns paused at the start of ``day``."""
        return [c for c, d in zip(self.campaigns, self.campaign_stop_day.tolist(), strict=True) if d == day]

    @property
    def product_list(self) -> list[Product]:
        return self.products.items

    @property
    def base_ms(self) -> int:
        return BASE_EPOCH_MS

    def shop_metrics(self) -> list[Any]:
        """The shops' service metrics as :class:`sitewide.domain.shop_score.ShopMetrics` (for the engine's shop
        experience score)."""
        from sitewide.domain.shop_score import ShopMetrics

        m = self.merchants.metrics
        return [
            ShopMetrics(
                shop_id=str(r.shop_id),
                on_time_share=float(r.on_time_share),
                delivery_days=float(r.delivery_days),
                response_hours=float(r.response_hours),
                dispute_rate=float(r.dispute_rate),
                avg_rating=float(r.avg_rating),
                review_count=int(r.review_count),
                return_rate=float(r.return_rate),
            )
            for r in m.itertuples(index=False)
        ]

    def product_signals(self) -> list[Any]:
        """Per product :class:`sitewide.domain.eligibility.ProductSignals`: the real price and category, a
        rating that reflects the hidden product quality (3.6 + 0.6·quality, clipped to 1–5), a seeded review
        count, the shop's return rate and the daily stock."""
        from sitewide.domain.eligibility import ProductSignals

        p = self.products
        rng = np.random.default_rng([self.config.seed, STREAM_WORLD, 7])
        reviews = rng.negative_binomial(1, 0.05, size=len(p))
        rating = np.clip(3.6 + 0.6 * p.quality, 1.0, 5.0)
        rr = self.merchants.metrics["return_rate"].to_numpy()[p.merchant]
        return [
            ProductSignals(
                product_id=item.id,
                category=item.category,
                shop_id=item.shop_id,
                price_micros=int(item.price_micros),
                rating=float(rating[i]),
                review_count=int(reviews[i]),
                return_rate=float(rr[i]),
                stock=int(p.stock[i]),
            )
            for i, item in enumerate(p.items)
        ]

    # ---- ground truth ------------------------------------------------------------------------------------
    def ctr_logit_base(
        self, users: IntArray, products: IntArray, intent: IntArray | None = None
    ) -> FloatArray:
        """Everything but the surface intercept; broadcasts like numpy (``users[:, None]``, ``products[None]``)."""
        u, p = self.users, self.products
        cat = p.category[products]
        x = (
            W_AFFINITY * u.affinity[users, cat]
            + p.quality[products]
            - u.price_sensitivity[users] * p.z_price[products]
        )
        if intent is not None:
            x = x + W_INTENT * (cat == intent)
        out: FloatArray = x.astype(np.float64, copy=False)
        return out

    def true_pctr(
        self, users: IntArray, products: IntArray, kind: int | IntArray = FEED, intent: IntArray | None = None
    ) -> FloatArray:
        """True P(click | examined) for users × products (numpy broadcasting: pass ``users[:, None]`` and
        ``products[None, :]`` for a matrix). ``kind`` 0 = search (then ``intent`` = query category), 1 = feed."""
        a = np.where(np.asarray(kind) == SEARCH, self.a_search, self.a_feed)
        return _sigmoid(a + self.ctr_logit_base(users, products, intent))

    def true_pcvr(self, users: IntArray, products: IntArray) -> FloatArray:
        """True P(order | click) for users × products (broadcasting as in :meth:`true_pctr`)."""
        return _sigmoid(self.b_cvr + self.cvr_logit_base(users, products))

    def cvr_logit_base(self, users: IntArray, products: IntArray) -> FloatArray:
        u, p = self.users, self.products
        cat = p.category[products]
        x = (
            W_CVR_AFFINITY * u.affinity[users, cat]
            + W_CVR_QUALITY * p.quality[products]
            + W_SHOP * self.shop_quality_of_product[products]
            - CVR_PRICE * u.price_sensitivity[users] * p.z_price[products]
        )
        out: FloatArray = x.astype(np.float64, copy=False)
        return out

    # ---- sampling helpers --------------------------------------------------------------------------------
    def search_queries(self, targets: IntArray, kind: IntArray, rng: np.random.Generator) -> list[str]:
        """The query text of each request: ``""`` for feed (kind 1); for search, per ``config.query_style``,
        the target product's fixed title query or a fresh intent query (draws from ``rng`` only then)."""
        search = np.asarray(kind) == SEARCH
        t = np.asarray(targets, dtype=np.int64)
        if self.config.query_style == "title":
            q = self.products.query
            return [q[j] if s else "" for j, s in zip(t.tolist(), search.tolist(), strict=True)]
        gen = self.query_generator
        out = [""] * len(t)
        rows = np.flatnonzero(search)
        for i, text in zip(rows.tolist(), gen.generate(t[rows], rng), strict=True):
            out[i] = text
        return out

    @property
    def query_generator(self) -> Any:
        """The intent query generator over this world's catalogue (built once)."""
        gen = self.__dict__.get("_query_generator")
        if gen is None:
            from sitewide.simulator.queries import QueryGenerator

            p = self.products
            gen = QueryGenerator([i.title for i in p.items], [i.brand or "" for i in p.items], p.z_price)
            self.__dict__["_query_generator"] = gen
        return gen

    def sample_intent(self, users: IntArray, rng: np.random.Generator) -> tuple[IntArray, IntArray]:
        """Per user: a category from the user's interests and a product of it (whose text becomes the query)."""
        r = rng.random(len(users), dtype=np.float32)
        cat = (self.users.interest_cum[users] < r[:, None]).sum(axis=1).astype(np.int64)
        cat = np.minimum(cat, len(self.cat_count) - 1)
        empty = self.cat_count[cat] == 0
        if empty.any():  # a category with no product in this (sub)catalogue: fall back to a random product
            cat[empty] = self.products.category[rng.integers(0, len(self.products), int(empty.sum()))]
        off = (rng.random(len(users)) * self.cat_count[cat]).astype(np.int64)
        prod = self.cat_order[self.cat_start[cat] + off]
        return cat, prod

    def reference_lists(
        self, users: IntArray, kind: IntArray, intent: IntArray, rng: np.random.Generator
    ) -> IntArray:
        """The calibration policies' slates: search = random products of the intent category, feed = random."""
        n, s = len(users), self.config.slots
        rand = rng.integers(0, len(self.products), size=(n, s))
        off = (rng.random((n, s)) * self.cat_count[np.maximum(intent, 0)][:, None]).astype(np.int64)
        in_cat = self.cat_order[
            np.minimum(self.cat_start[np.maximum(intent, 0)][:, None] + off, len(self.products) - 1)
        ]
        out: IntArray = np.where((kind == SEARCH)[:, None], in_cat, rand)
        return out

    def calibrate(self, rng: np.random.Generator, n: int = 20_000) -> None:
        """Solve the intercepts on a sample of human requests under the reference policies."""
        humans = np.flatnonzero(~self.users.is_bot)
        if len(humans) == 0:
            humans = np.arange(len(self.users))
        w = self.users.activity[humans]
        users = humans[rng.choice(len(humans), size=n, p=w / w.sum())]
        intent, _ = self.sample_intent(users, rng)
        ex = np.broadcast_to(self.exam, (n, self.config.slots))
        per_imp = ex.size / float(
            ex.sum()
        )  # CTR per impression = mean(exam · pCTR): rescale the weighted mean
        search = np.zeros(n, dtype=np.int64)
        lists = self.reference_lists(users, search, intent, rng)
        base_s = self.ctr_logit_base(users[:, None], lists, intent[:, None])
        self.a_search = _solve_intercept(base_s, ex, self.config.target_ctr_search * per_imp)
        feed = np.ones(n, dtype=np.int64)
        lists_f = self.reference_lists(users, feed, intent, rng)
        base_f = self.ctr_logit_base(users[:, None], lists_f, None)
        self.a_feed = _solve_intercept(base_f, ex, self.config.target_ctr_feed * per_imp)
        # CVR among clicks: weight each shown pair by its click probability, over the search/feed mix
        share = self.config.search_share
        click_s = ex * _sigmoid(self.a_search + base_s) * share
        click_f = ex * _sigmoid(self.a_feed + base_f) * (1.0 - share)
        u2 = np.concatenate([np.repeat(users, self.config.slots)] * 2)
        p2 = np.concatenate([lists.ravel(), lists_f.ravel()])
        cvr_base = self.cvr_logit_base(u2, p2)
        self.b_cvr = _solve_intercept(
            cvr_base, np.concatenate([click_s.ravel(), click_f.ravel()]), self.config.target_cvr
        )


def taobao_prices_micros(n: int, rank: FloatArray) -> IntArray:
    """CNY prices drawn from the Taobao sample's distribution by quantile mapping: an item at catalogue price
    rank r ∈ [0, 1] gets the Taobao sample's r-quantile (linear interpolation), so the order is kept."""
    prices = np.asarray(calibration_targets()["taobao_display_ad"]["prices_cny_sorted"], dtype=np.float64)
    q = np.quantile(prices, rank)
    out: IntArray = np.maximum(np.round(q * 100.0).astype(np.int64) * 10_000, 10_000)
    return out


def build_world(config: SimConfig) -> World:
    """Entities from the packaged catalogue and seeded draws; intercepts calibrated. Deterministic per seed."""
    rng = np.random.default_rng([config.seed, STREAM_WORLD])
    cat = load_catalogue()
    if config.products is not None and config.products < len(cat):
        keep = np.sort(rng.choice(len(cat), size=config.products, replace=False))
        cat = cat.iloc[keep].reset_index(drop=True)
    merchants = make_merchants(config.merchants, rng)
    prices = None
    if config.price_source == "taobao":
        price = cat["price_micros"].to_numpy(dtype=np.float64)
        rank = (np.argsort(np.argsort(price, kind="stable"), kind="stable") + 0.5) / len(price)
        prices = taobao_prices_micros(len(price), rank)
    products = make_products(cat, merchants, rng, prices_micros=prices)
    pop = np.bincount(products.category, minlength=len(products.category_names)).astype(np.float64)
    pop = pop / pop.sum()
    users = make_users(
        config.users,
        pop,
        rng,
        sessions_per_day=config.sessions_per_user_day,
        activity_shape=config.activity_shape,
        bot_share=config.bot_share,
    )
    campaigns = make_campaigns(
        products,
        merchants,
        rng,
        share=config.campaign_share,
        target_rois=config.target_rois,
        budget_per_product=config.daily_budget_per_product,
        created_ms=BASE_EPOCH_MS,
    )
    world = World(config=config, users=users, merchants=merchants, products=products, campaigns=campaigns)
    world.calibrate(np.random.default_rng([config.seed, STREAM_CALIBRATION]))
    return world
