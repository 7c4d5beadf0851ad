"""Entities of the market: users, merchants, products, campaigns — state plus how each is sampled.

Arrays are row-aligned (row i of every array is entity i); ids are strings for the engine's domain objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt
import pandas as pd

from sitewide.domain.money import Micros
from sitewide.domain.types import BoolArray, Campaign, FloatArray, IntArray, Product, Shop, ValidationError

F32Array = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Users:
    """U users. ``affinity[u, c]`` = log-lift of the user's interest in category c over the population's."""

    ids: list[str]
    interest_cum: F32Array  # [U, C] cumulative interest (rows end at 1): sampling search intents
    affinity: F32Array  # [U, C] clip(log(θ_uc / pop_c)), the hidden utility's relevance term
    price_sensitivity: FloatArray  # [U] ≥ 0, weight on the standardised log price
    activity: FloatArray  # [U] expected requests per day
    is_bot: BoolArray  # [U]

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class Merchants:
    """M merchants (one shop each) and the service metrics that feed a shop experience score."""

    shops: list[Shop]
    quality: FloatArray  # [M] standardised service quality (hidden; raises conversion, lowers refunds)
    metrics: pd.DataFrame  # delivery_days, response_rate, review_score, return_rate (one row per shop)

    def __len__(self) -> int:
        return len(self.shops)


@dataclass(frozen=True)
class Products:
    """P products from the real catalogue, assigned to merchants."""

    items: list[Product]
    category: IntArray  # [P] index into ``category_names``
    category_names: list[str]
    merchant: IntArray  # [P]
    price_micros: IntArray  # [P]
    z_price: FloatArray  # [P] standardised log price
    quality: FloatArray  # [P] hidden product appeal
    margin: FloatArray  # [P] merchant's gross margin share of price
    stock: IntArray  # [P] units available per day (restocked each day)
    query: list[str]  # [P] a search query a user would type for this product (from its title)

    def __len__(self) -> int:
        return len(self.items)


def make_users(
    n: int,
    category_pop: FloatArray,
    rng: np.random.Generator,
    *,
    sessions_per_day: float,
    activity_shape: float,
    bot_share: float,
    concentration: float = 4.0,
) -> Users:
    """Interests ~ Dirichlet(concentration · population mix): the population's category mix is the catalogue's,
    each user concentrated on a few categories. Activity ~ Gamma(shape, mean) (heavy-tailed, as CDNOW's
    purchases per customer are); price sensitivity ~ LogNormal (assumption)."""
    if n < 1:
        raise ValidationError("need at least one user")
    alpha = np.maximum(category_pop * concentration, 1e-3)
    theta = rng.dirichlet(alpha, size=n)
    cum = np.cumsum(theta, axis=1).astype(np.float32)
    cum[:, -1] = 1.0
    affinity = np.clip(np.log(theta / category_pop[None, :] + 1e-9), -4.0, 3.0).astype(np.float32)
    sensitivity = rng.lognormal(mean=np.log(0.4), sigma=0.5, size=n)
    activity = rng.gamma(activity_shape, sessions_per_day / activity_shape, size=n)
    is_bot = rng.random(n) < bot_share
    return Users(
        ids=[f"u{i:06d}" for i in range(n)],
        interest_cum=cum,
        affinity=affinity,
        price_sensitivity=sensitivity,
        activity=activity,
        is_bot=is_bot,
    )


def make_merchants(n: int, rng: np.random.Generator) -> Merchants:
    """Service metrics with the fields of :class:`sitewide.domain.shop_score.ShopMetrics` (assumptions, typical
    marketplace ranges): delivery days LogNormal(median 3), on-time share Beta(18, 2), first-reply hours
    LogNormal(median 4), dispute rate Beta(1, 150), rating 3–5, return rate Beta(2, 30) (mean ≈ 6 %).
    A hidden quality score combines them; it raises conversion (the world's pCVR) and lowers refunds."""
    delivery = rng.lognormal(np.log(3.0), 0.35, size=n)
    on_time = rng.beta(18.0, 2.0, size=n)
    response_h = rng.lognormal(np.log(4.0), 0.8, size=n)
    disputes = rng.beta(1.0, 150.0, size=n)
    rating = 3.0 + 2.0 * rng.beta(5.0, 2.0, size=n)
    reviews = rng.negative_binomial(2, 0.01, size=n).astype(np.int64)
    returns = rng.beta(2.0, 30.0, size=n)
    raw = (
        -np.log(delivery)
        + 2.0 * on_time
        - 0.3 * np.log(response_h)
        - 30.0 * disputes
        + (rating - 4.0)
        - 8.0 * returns
    )
    quality = (raw - raw.mean()) / (raw.std() + 1e-9) if n > 1 else np.zeros(n)
    shops = [Shop(id=f"s{i:04d}", merchant_id=f"m{i:04d}", name=f"Shop {i:04d}") for i in range(n)]
    metrics = pd.DataFrame(
        {
            "shop_id": [s.id for s in shops],
            "on_time_share": on_time,
            "delivery_days": delivery,
            "response_hours": response_h,
            "dispute_rate": disputes,
            "avg_rating": rating,
            "review_count": reviews,
            "return_rate": returns,
        }
    )
    return Merchants(shops=shops, quality=quality, metrics=metrics)


def _query_from_title(title: str, words: int = 3) -> str:
    toks = [t for t in title.split() if any(ch.isalpha() for ch in t)]
    return " ".join(toks[:words]) if toks else title[:30]


def make_products(
    catalogue: pd.DataFrame,
    merchants: Merchants,
    rng: np.random.Generator,
    *,
    prices_micros: IntArray | None = None,
) -> Products:
    """Products keep the catalogue's real title, category, brand and price; brands go to merchants whole
    (a brand's products share a shop), with Zipf-like shop sizes. ``prices_micros`` overrides the prices."""
    m = len(merchants)
    cats, cat_idx = np.unique(catalogue["category"].to_numpy(dtype=str), return_inverse=True)
    brands = catalogue["brand"].fillna("").to_numpy(dtype=str)
    ub, b_idx = np.unique(brands, return_inverse=True)
    weights = 1.0 / np.arange(1, m + 1) ** 0.8
    brand_shop = rng.choice(m, size=len(ub), p=weights / weights.sum())
    merchant = brand_shop[b_idx]
    unbranded = brands == ""
    merchant[unbranded] = rng.integers(0, m, size=int(unbranded.sum()))
    # every shop sells something when there are enough products: give empty shops one product each
    counts = np.bincount(merchant, minlength=m)
    empty = np.flatnonzero(counts == 0)
    if len(empty) and len(catalogue) >= m:
        donors = rng.permutation(np.flatnonzero(counts[merchant] > 1))[: len(empty)]
        merchant[donors] = empty[: len(donors)]
    price = (
        catalogue["price_micros"].to_numpy(dtype=np.int64)
        if prices_micros is None
        else np.asarray(prices_micros)
    )
    logp = np.log(price.astype(np.float64))
    z = (logp - logp.mean()) / (logp.std() + 1e-9)
    shops = merchants.shops
    items = [
        Product(
            id=str(pid),
            shop_id=shops[int(mi)].id,
            title=str(t),
            category=str(c),
            price_micros=Micros(int(p)),
            brand=str(b),
        )
        for pid, mi, t, c, p, b in zip(
            catalogue["product_id"],
            merchant,
            catalogue["title"],
            catalogue["category"],
            price,
            brands,
            strict=True,
        )
    ]
    n = len(items)
    return Products(
        items=items,
        category=cat_idx.astype(np.int64),
        category_names=[str(c) for c in cats],
        merchant=merchant.astype(np.int64),
        price_micros=price.astype(np.int64),
        z_price=z,
        quality=rng.normal(0.0, 0.5, size=n),
        margin=rng.beta(4.0, 8.0, size=n),
        stock=np.maximum(1, rng.lognormal(np.log(50.0), 1.0, size=n)).astype(np.int64),
        query=[_query_from_title(str(t)) for t in catalogue["title"]],
    )


def make_campaigns(
    products: Products,
    merchants: Merchants,
    rng: np.random.Generator,
    *,
    share: float,
    target_rois: tuple[float, ...],
    budget_per_product: int,
    created_ms: int,
) -> list[Campaign]:
    """A ``share`` of shops (those with products) run one campaign over all their products, with a target ROI
    drawn from ``target_rois`` and a daily budget proportional to the number of products (integer micros)."""
    sizes = np.bincount(products.merchant, minlength=len(merchants))
    sellers = np.flatnonzero(sizes > 0)
    k = int(round(share * len(sellers)))
    chosen = np.sort(rng.choice(sellers, size=k, replace=False)) if k else np.zeros(0, dtype=np.int64)
    out = []
    for i, m in enumerate(chosen):
        pids = tuple(products.items[j].id for j in np.flatnonzero(products.merchant == m))
        roi = target_rois[i % len(target_rois)]
        shop = merchants.shops[int(m)]
        out.append(
            Campaign(
                id=f"c{int(m):04d}",
                merchant_id=shop.merchant_id,
                name=f"{shop.name} sitewide",
                product_ids=pids,
                target_roi=Decimal(str(roi)),
                daily_budget_micros=Micros(int(budget_per_product) * len(pids)),
                created_ms=created_ms,
            )
        )
    return out
