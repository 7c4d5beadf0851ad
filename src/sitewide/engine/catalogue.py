"""The catalogue as serving sees it: products in row order, their arrays and text vectors, and the pool
(eligibility decisions and mask) and shop experience multipliers computed from the quality signals."""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sitewide.domain.eligibility import (
    CategoryStats,
    EligibilityDecision,
    ProductSignals,
    bare_eligible,
    category_stats_of_columns,
    evaluate_many,
)
from sitewide.domain.eligibility_rules import category_key
from sitewide.domain.money import Micros
from sitewide.domain.shop_score import ShopMetrics, ShopScore, compute_shop_score
from sitewide.domain.types import BoolArray, FloatArray, IntArray, NotFound, Product
from sitewide.engine.config import EngineConfig
from sitewide.ports import TextEncoder


class Catalogue:
    """Products sorted by id as loaded, then those added since (:meth:`upsert`) at the end; row ``i`` of every
    array is ``products[i]``."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self._signals: dict[str, ProductSignals] = {}
        self._shop_metrics: dict[str, ShopMetrics] = {}
        self.products: list[Product] = []
        self.row: dict[str, int] = {}
        self.ids: list[str] = []
        self.texts: list[str] = []
        self.price: IntArray = np.zeros(0, dtype=np.int64)
        self.median_price = 1.0
        self.category: IntArray = np.zeros(0, dtype=np.int64)
        self.n_categories = 0
        self.categories: list[str] = []  # ``category`` codes index this
        self.vecs: FloatArray = np.zeros((0, config.encoder_dim), dtype=np.float32)
        self.shop_scores: dict[str, ShopScore] = {}
        self.decisions: dict[str, EligibilityDecision] = {}
        self.eligible: BoolArray = np.zeros(0, dtype=bool)
        self.removed: BoolArray = np.zeros(0, dtype=bool)  # taken out of serving (:meth:`remove`); rows stay
        self.delivery: FloatArray = np.zeros(0)
        self._stats: CategoryStats | None = None  # what the pool was judged against

    def load(self, products: Sequence[Product], encoder: TextEncoder) -> None:
        """Take the catalogue (any order), encode its texts and recompute the pool."""
        prods = sorted(products, key=lambda p: p.id)
        self.products = prods
        self.row = {p.id: i for i, p in enumerate(prods)}
        self.ids = [p.id for p in prods]
        self.price = np.array([int(p.price_micros) for p in prods], dtype=np.int64)
        self.median_price = float(np.median(self.price)) if prods else 1.0
        cats = self.categories = sorted({p.category for p in prods})
        cat_code = {c: i for i, c in enumerate(cats)}
        self.category = np.array([cat_code[p.category] for p in prods], dtype=np.int64)
        self.n_categories = len(cats)
        self.texts = [f"{p.title} {p.brand} {p.category}" for p in prods]
        if prods:  # float32: the index's precision, half the memory of float64 at a million products
            self.vecs = np.ascontiguousarray(encoder.encode(self.texts), dtype=np.float32)
        else:
            self.vecs = np.zeros((0, self.config.encoder_dim), dtype=np.float32)
        self.removed = np.zeros(len(prods), dtype=bool)
        self.apply_quality()

    def remove(self, product_ids: Sequence[str]) -> IntArray:
        """Take products out of serving (never a candidate, never an ad); their rows stay, so no other row
        moves, and :meth:`upsert` of the same id brings one back. Returns the rows removed (unknown or
        already removed ids are skipped)."""
        rows = sorted(
            {r for r in (self.row.get(p) for p in product_ids) if r is not None and not self.removed[r]}
        )
        at = np.asarray(rows, dtype=np.int64)
        removed = self.removed.copy()  # a new array: whoever keyed a cache on the old one sees the change
        removed[at] = True
        self.removed = removed
        self.eligible[at] = False
        return at

    def upsert(self, products: Sequence[Product], encoder: TextEncoder) -> IntArray | None:
        """Change products in place and add new ones at the end (rows of the others do not move); encode their
        texts and recompute the pool. Returns the rows changed or added, or None (nothing changed) when a
        product brings a category the catalogue does not have: category codes are fixed, so that needs
        :meth:`load`."""
        if {p.category for p in products} - set(self.categories):
            return None
        latest = {p.id: p for p in products}  # the last version of an id given twice
        rows = []
        for p in latest.values():
            r = self.row.get(p.id)
            if r is None:
                r = self.row[p.id] = len(self.products)
                self.products.append(p)
                self.ids.append(p.id)
                self.texts.append("")
            self.products[r] = p
            self.texts[r] = f"{p.title} {p.brand} {p.category}"
            rows.append(r)
        n = len(self.products)
        grow = n - len(self.price)
        at = np.asarray(rows, dtype=np.int64)
        code = {c: i for i, c in enumerate(self.categories)}
        self.price = np.concatenate([self.price, np.zeros(grow, dtype=np.int64)])
        self.category = np.concatenate([self.category, np.zeros(grow, dtype=np.int64)])
        self.vecs = np.concatenate([self.vecs, np.zeros((grow, self.vecs.shape[1]), dtype=np.float32)])
        self.removed = np.concatenate([self.removed, np.zeros(grow, dtype=bool)])
        self.removed[at] = False
        self.price[at] = [int(p.price_micros) for p in latest.values()]
        self.category[at] = [code[p.category] for p in latest.values()]
        self.vecs[at] = encoder.encode([self.texts[r] for r in rows])
        self.median_price = float(np.median(self.price))
        self.apply_quality()
        return at

    # warm start -------------------------------------------------------------------------------------
    SNAPSHOT_VERSION = 2

    def save(self, path: Path) -> None:
        """Write the loaded catalogue to ``path`` for :meth:`restore`: products as columns, the arrays, the
        vectors and what the pool was judged from (signals, shop metrics, category statistics). Decisions are
        not written: :meth:`restore` judges a product again when its decision is asked for."""
        path.mkdir(parents=True, exist_ok=True)
        np.save(path / "vecs.npy", self.vecs)
        ps = self.products
        columns = tuple([getattr(p, f) for p in ps] for f in ("id", "shop_id", "title", "category", "brand"))
        state = {
            "columns": columns,
            "price": self.price,
            "category": self.category,
            "n_categories": self.n_categories,
            "median_price": self.median_price,
            "eligible": self.eligible,
            "delivery": self.delivery,
            "signals": self._signals,
            "shop_metrics": self._shop_metrics,
            "shop_scores": self.shop_scores,
            "stats": self._stats,
        }
        with open(path / "catalogue.pkl", "wb") as f:
            pickle.dump((self.SNAPSHOT_VERSION, state), f, protocol=pickle.HIGHEST_PROTOCOL)

    def restore(self, path: Path) -> None:
        """Take the catalogue :meth:`save` wrote (a snapshot this process or a trusted one made) instead of
        encoding the texts and judging the pool again: a million products load in seconds, not minutes."""
        with open(path / "catalogue.pkl", "rb") as f:
            version, state = pickle.load(f)  # noqa: S301 - our own snapshot file
        if version != self.SNAPSHOT_VERSION:
            raise ValueError(f"catalogue snapshot version {version}, expected {self.SNAPSHOT_VERSION}")
        ids, shops, titles, cats, brands = state["columns"]
        price = state["price"]
        self.products = [
            Product(i, s, t, c, Micros(int(v)), b)
            for i, s, t, c, v, b in zip(ids, shops, titles, cats, price.tolist(), brands, strict=True)
        ]
        self.ids = list(ids)
        self.row = {p: i for i, p in enumerate(ids)}
        self.texts = [f"{t} {b} {c}" for t, b, c in zip(titles, brands, cats, strict=True)]
        self.price, self.category = price, state["category"]
        self.categories = sorted(set(cats))
        self.n_categories, self.median_price = state["n_categories"], state["median_price"]
        self.eligible, self.delivery = state["eligible"], state["delivery"]
        self._signals, self._shop_metrics = state["signals"], state["shop_metrics"]
        self.shop_scores, self._stats = state["shop_scores"], state["stats"]
        self.decisions = {}  # judged again on demand (eligibility())
        self.vecs = np.load(path / "vecs.npy")
        self.removed = np.zeros(len(self.products), dtype=bool)

    # eligibility pool and shop experience score -----------------------------------------------------
    def set_quality(
        self, product_signals: Sequence[ProductSignals], shop_metrics: Sequence[ShopMetrics]
    ) -> list[EligibilityDecision]:
        """Take the products' pool signals and the shops' service metrics; recomputes the pool (eligible
        mask + reasons) and the shops' delivery multipliers. Products without signals are judged on what the
        catalogue knows (price, category), the rules' missing-data notes say so. Returns the decisions of the
        products whose membership changed (left the pool or came back), for the pool's history."""
        before = self.eligible.copy()
        self._signals.update({p.product_id: p for p in product_signals})
        self._shop_metrics.update({m.shop_id: m for m in shop_metrics})
        self.apply_quality()
        return [self.eligibility(self.ids[i]) for i in np.flatnonzero(before != self.eligible)]

    def apply_quality(self) -> None:
        """The pool and the delivery multipliers from the signals: products with signals are judged rule by rule
        (``evaluate_many``), the others — the bulk of a large catalogue, judged on price and category alone —
        by ``bare_eligible``'s vectorised equivalent; decisions (the reasons) are made when asked for."""
        cfg = self.config
        self.shop_scores = {
            sid: compute_shop_score(m, cfg.shop_score_config) for sid, m in self._shop_metrics.items()
        }
        n = len(self.products)
        shops = sorted({p.shop_id for p in self.products})
        shop_code = {s: i for i, s in enumerate(shops)}
        shop_of = np.fromiter((shop_code[p.shop_id] for p in self.products), dtype=np.int64, count=n)
        known = [self.shop_scores.get(s) for s in shops]
        score = np.array([k.score if k else np.nan for k in known], dtype=np.float64)[shop_of]
        mult = np.array([k.multiplier if k else 1.0 for k in known], dtype=np.float64)[shop_of]
        key_code: dict[str, int] = {}  # categories compare by key ("Mice " and "mice" are one)
        of_cat = [key_code.setdefault(category_key(c), len(key_code)) for c in self.categories]
        code = np.asarray(of_cat, dtype=np.int64)[self.category] if n else np.zeros(0, dtype=np.int64)
        price = self.price.copy()
        sales = np.full(n, -1, dtype=np.int64)
        sigs = [(self.row[pid], sig) for pid, sig in self._signals.items() if pid in self.row]
        for r, sig in sigs:  # a product's own signals replace what the catalogue row says
            code[r] = key_code.setdefault(category_key(sig.category), len(key_code))
            price[r] = -1 if sig.price_micros is None else sig.price_micros
            sales[r] = -1 if sig.sales_30d is None else sig.sales_30d
        keys = list(key_code)
        stats = self._stats = category_stats_of_columns(keys, code, price, sales)
        mask = bare_eligible(keys, code, price, score, stats, cfg.eligibility_policy)
        self.decisions = {}
        if sigs:
            by_shop = {sid: sc.score for sid, sc in self.shop_scores.items()}
            m, decisions = evaluate_many([g for _, g in sigs], by_shop, stats, cfg.eligibility_policy)
            mask[[r for r, _ in sigs]] = m
            self.decisions = {d.product_id: d for d in decisions}
        self.eligible = (mask if cfg.use_eligibility else np.ones(n, dtype=bool)) & ~self.removed[:n]
        self.delivery = mult if cfg.use_shop_score else np.ones(n)

    def eligibility(self, product_id: str) -> EligibilityDecision:
        d = self.decisions.get(product_id)
        if d is None:
            r = self.row.get(product_id)
            if r is None or self._stats is None:
                raise NotFound(f"product {product_id} not found")
            p = self.products[r]  # restored from a snapshot: judged again, as apply_quality judged it
            sig = self._signals.get(p.id) or ProductSignals(p.id, p.category, p.shop_id, int(p.price_micros))
            sc = self.shop_scores.get(p.shop_id)
            _, (d,) = evaluate_many(
                [sig], {p.shop_id: sc.score} if sc else {}, self._stats, self.config.eligibility_policy
            )
            self.decisions[product_id] = d
        return d

    def shop_score(self, shop_id: str) -> ShopScore | None:
        """The shop's experience score, or None when no service metrics were given for it."""
        return self.shop_scores.get(shop_id)
