"""A realistic large catalogue for serving benchmarks: products recombined from the packaged real catalogue.

The packaged catalogue (2,000 Walmart/Amazon products, ``sitewide/data/catalogue.csv``) is too small to
measure serving at marketplace scale, and copying it with noise gives near-duplicates (an exact top-100 then
holds a handful of distinct products). Here every product is composed afresh from the real catalogue's parts:

- its category is drawn with the real category frequencies;
- its title is a real title of that category (the template) whose words are each, with probability
  ``swap_share``, replaced by a word from another real title of the same category, with the brand from the
  category's real brands and, as in real titles, usually a model number (letters + digits, random);
- its price is the template's real price × a log-normal factor (σ = ``price_sigma``), rounded to cents, so
  the category's price distribution is kept and prices do not repeat.

Shops are one per brand (as the packaged catalogue's). Deterministic for ``(n, seed)``. A million products
take about 10 s on one core.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

import numpy as np

from sitewide.domain.money import Micros
from sitewide.domain.types import Product, Shop

_ALNUM = np.array(list(string.ascii_lowercase + string.digits))
_DIGITS = np.array(list(string.digits))


def _slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return s[:40] or "unbranded"


def big_catalogue(
    real: Sequence[Product],
    n: int,
    seed: int = 0,
    *,
    swap_share: float = 0.35,
    model_share: float = 0.8,
    price_sigma: float = 0.25,
) -> tuple[list[Shop], list[Product]]:
    """``n`` products recombined from ``real`` (see the module docstring); ids ``g{seed}-{i:07d}``."""
    rng = np.random.default_rng(seed)
    by_cat: dict[str, list[Product]] = {}
    for p in real:
        by_cat.setdefault(p.category, []).append(p)
    cats = sorted(by_cat)
    freq = np.array([len(by_cat[c]) for c in cats], dtype=np.float64)
    cat_of = rng.choice(len(cats), size=n, p=freq / freq.sum())
    words = {c: [w for p in by_cat[c] for w in p.title.lower().split()] for c in cats}
    brands = {c: [p.brand or "" for p in by_cat[c]] for c in cats}
    # per product: the template, which of its words are swapped, model-number shape and price factor
    tmpl_u = rng.random(n)
    price_f = np.exp(rng.normal(0.0, price_sigma, size=n))
    has_model = rng.random(n) < model_share
    model_letters = rng.choice(_ALNUM[:26], size=(n, 3))
    model_digits = rng.choice(_DIGITS, size=(n, 4))
    model_len = rng.integers(1, 4, size=n)
    brand_u = rng.random(n)
    swap_u = rng.random((n, 24))
    pick_u = rng.random((n, 24))
    products: list[Product] = []
    shops: dict[str, Shop] = {}
    for i in range(n):
        c = cats[int(cat_of[i])]
        pool = by_cat[c]
        t = pool[int(tmpl_u[i] * len(pool))]
        vocab = words[c]
        toks = t.title.lower().split()[:24]
        title_words = [
            vocab[int(pick_u[i, j] * len(vocab))] if swap_u[i, j] < swap_share else w
            for j, w in enumerate(toks)
        ]
        bl = brands[c]
        brand = bl[int(brand_u[i] * len(bl))]
        if has_model[i]:
            k = int(model_len[i])
            title_words.insert(
                min(2, len(title_words)),
                "".join(model_letters[i, :k]) + "".join(model_digits[i, : 5 - k]),
            )
        if brand and brand not in title_words[:2]:
            title_words.insert(0, brand)
        slug = _slug(brand)
        shop = shops.get(slug)
        if shop is None:
            shop = shops[slug] = Shop(id=f"s-{slug}", merchant_id=f"m-{slug}", name=brand or slug)
        price = max(10_000, int(round(int(t.price_micros) * float(price_f[i]) / 10_000)) * 10_000)
        products.append(
            Product(
                id=f"g{seed}-{i:07d}",
                shop_id=shop.id,
                title=" ".join(title_words),
                category=c,
                price_micros=Micros(price),
                brand=brand,
            )
        )
    return list(shops.values()), products


def distinct_share(titles: Sequence[str]) -> float:
    """Share of distinct titles (1.0 = no title repeats)."""
    return len(Counter(titles)) / max(len(titles), 1)
