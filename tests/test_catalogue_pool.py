"""The catalogue's vectorised pool (``bare_eligible`` for products without signals, the rules for the rest)
gives the same mask and the same category statistics as judging every product rule by rule."""

from __future__ import annotations

import numpy as np

from sitewide.domain.eligibility import (
    EligibilityPolicy,
    ProductSignals,
    compute_category_stats,
    evaluate_many,
)
from sitewide.domain.money import Micros
from sitewide.domain.shop_score import ShopMetrics
from sitewide.domain.types import Product
from sitewide.engine.catalogue import Catalogue
from sitewide.engine.config import EngineConfig
from sitewide.models.char_ngram import CharNgramEncoder


def _catalogue(rng: np.random.Generator, n: int) -> list[Product]:
    cats = ["mice", "Mice ", "cables", "toys", "banned thing", ""]
    out = []
    for i in range(n):
        c = cats[int(rng.integers(0, len(cats)))]
        base = {"mice": 20_000_000, "Mice ": 20_000_000, "cables": 5_000_000}.get(c, 1_000_000)
        price = int(base * rng.choice([0.5, 1.0, 2.9, 3.0, 3.01, 10.0])) if rng.random() > 0.02 else 0
        out.append(Product(f"p{i:04d}", f"s{i % 7}", f"item {i}", c, Micros(price), ""))
    return out


def test_the_vectorised_pool_equals_the_rules_product_by_product() -> None:
    rng = np.random.default_rng(3)
    products = _catalogue(rng, 600)
    policy = EligibilityPolicy(banned_categories=frozenset({"Banned Thing"}), max_price_ratio=2.95)
    cfg = EngineConfig(eligibility_policy=policy)
    cat = Catalogue(cfg)
    cat.load(products, CharNgramEncoder(32))
    signals = [
        ProductSignals(
            p.id,
            p.category,
            p.shop_id,
            int(p.price_micros),
            sales_30d=int(rng.integers(0, 50)),
            stock=int(rng.integers(-1, 3)),
        )
        for p in products[::5]
    ]
    metrics = [
        ShopMetrics(
            f"s{i}",
            on_time_share=0.2 * i,
            delivery_days=2.0 + 2 * i,
            dispute_rate=0.01 * i,
            avg_rating=4.8 - 0.5 * i,
            return_rate=0.06 * i,
        )
        for i in range(6)
    ]
    for sigs, shops in (([], []), (signals, metrics)):
        cat.set_quality(sigs, shops)
        given = {s.product_id: s for s in signals} if sigs else {}
        every = [
            given.get(p.id) or ProductSignals(p.id, p.category, p.shop_id, int(p.price_micros))
            for p in products
        ]
        stats = compute_category_stats(every)
        scores = {sid: sc.score for sid, sc in cat.shop_scores.items()}
        mask, decisions = evaluate_many(every, scores, stats, policy)
        assert cat._stats == stats
        assert np.array_equal(cat.eligible, mask) and 0 < mask.sum() < len(mask)
        assert all(cat.eligibility(d.product_id) == d for d in decisions)
