"""A realistic large catalogue for serving benchmarks: products recombined from the packaged real catalogue.

The packaged catalogue (2,000 Walmart/Amazon products, ``sitewide/data/catalogue.csv``) is too small to
measure serving at marketplace scale, and copying it with noise gives near-duplicates (an exact top-100 then
holds a handful of distinct products). Here every product is composed afresh from the real catalogue's parts:

- its category is drawn with the real category frequencies;
- its title is a real title of that category (the template) whose words are each, with probability
  ``swap_share``, replaced by a word from another real title of the same category (drawn with the words'
  frequencies), with the brand from the category's real brands in front and, as in real titles, usually a
  model number (letters + digits) after the second word. Model numbers come from a pool of 65,536
  per seed: real model numbers repeat across variants and listings, and a pool keeps the vocabulary bounded;
- its price is the template's real price × a log-normal factor (σ = ``price_sigma``), rounded to cents, so
  the category's price distribution is kept and prices do not repeat.

Shops are one per brand (as the packaged catalogue's). Deterministic for ``(n, seed)``. Vectorised over
products (numpy token-id matrices; Python only joins each title's words): a million products take a few
seconds on one core.
"""

from __future__ import annotations

import gc
import re
import string
from collections import Counter
from collections.abc import Sequence
from itertools import starmap
from typing import cast

import numpy as np

from sitewide.domain.money import Micros
from sitewide.domain.types import Product, Shop

_ALNUM = np.array(list(string.ascii_lowercase + string.digits))
_MAX_WORDS = 24  # of a template title
_MODEL_POOL = 65_536  # model numbers per seed


def _slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return s[:40] or "unbranded"


def _model_numbers(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` model numbers: 1–3 letters then 4–2 digits (5 characters)."""
    letters = rng.integers(0, 26, size=(n, 3))
    digits = rng.integers(26, 36, size=(n, 4))
    k = rng.integers(1, 4, size=n)
    chars = _ALNUM[np.concatenate([letters, digits], axis=1)]
    return ["".join(c[:j]) + "".join(c[3 : 3 + 5 - j]) for c, j in zip(chars.tolist(), k.tolist(), strict=True)]


def big_catalogue(
    real: Sequence[Product],
    n: int,
    seed: int = 0,
    *,
    swap_share: float = 0.35,
    model_share: float = 0.8,
    price_sigma: float = 0.25,
) -> tuple[list[Shop], list[Product]]:
    """``n`` products recombined from ``real`` (see the module docstring); ids ``g{seed}-{i:07d}``. The cyclic
    garbage collector is off meanwhile (a million new products made it walk the heap again and again: 4.3–6.4
    CPU-s with it, 2.6 without)."""
    was = gc.isenabled()
    gc.disable()
    try:
        return _big_catalogue(real, n, seed, swap_share, model_share, price_sigma)
    finally:
        if was:
            gc.enable()


def _big_catalogue(
    real: Sequence[Product], n: int, seed: int, swap_share: float, model_share: float, price_sigma: float
) -> tuple[list[Shop], list[Product]]:
    rng = np.random.default_rng(seed)
    reals = sorted(real, key=lambda p: (p.category, p.id))  # grouped by category
    cats = sorted({p.category for p in reals})
    cat_code = {c: i for i, c in enumerate(cats)}
    rcat = np.array([cat_code[p.category] for p in reals], dtype=np.int64)
    size = np.bincount(rcat, minlength=len(cats))
    start = np.concatenate([[0], np.cumsum(size)[:-1]])
    # the vocabulary: every real title word, the brands (one token each) and the model-number pool
    vocab: list[str] = []
    code: dict[str, int] = {}

    def tok(w: str) -> int:
        t = code.get(w)
        if t is None:
            t = code[w] = len(vocab)
            vocab.append(w)
        return t

    tmpl = np.full((len(reals), _MAX_WORDS), -1, dtype=np.int32)  # int32 tokens: half the bytes per product
    for i, p in enumerate(reals):
        ws = p.title.lower().split()[:_MAX_WORDS]
        tmpl[i, : len(ws)] = [tok(w) for w in ws]
    tmpl_len = (tmpl >= 0).sum(axis=1)
    # each category's words with repetition (drawn with their frequencies), in category order
    cat_words = np.concatenate([tmpl[start[c] : start[c] + size[c]].ravel() for c in range(len(cats))])
    cat_words_of = np.concatenate([np.full(size[c] * _MAX_WORDS, c) for c in range(len(cats))])
    cat_words_of = cat_words_of[cat_words >= 0]
    cat_words = cat_words[cat_words >= 0]
    wsize = np.bincount(cat_words_of, minlength=len(cats))
    wstart = np.concatenate([[0], np.cumsum(wsize)[:-1]])
    brand_tok = np.array([tok(p.brand) if p.brand else -1 for p in reals], dtype=np.int32)
    models = np.array([tok(m) for m in _model_numbers(rng, _MODEL_POOL)], dtype=np.int32)

    # per product: category, template, swapped words, brand, model number, price
    cat_of = rng.choice(len(cats), size=n, p=size / size.sum())
    t_of = start[cat_of] + (rng.random(n) * size[cat_of]).astype(np.int64)
    words = tmpl[t_of]  # [n, 24]
    u = rng.random((n, _MAX_WORDS), dtype=np.float32)  # < swap_share: swapped; u / swap_share picks the word
    r, j = np.nonzero((u < swap_share) & (words >= 0))
    c = cat_of[r]
    pick = np.minimum((u[r, j] * (1.0 / swap_share) * wsize[c]).astype(np.int64), wsize[c] - 1)
    words[r, j] = cat_words[wstart[c] + pick]
    b_of = start[cat_of] + (rng.random(n) * size[cat_of]).astype(np.int64)  # the brand of a real peer
    brand = brand_tok[b_of]
    model = np.where(rng.random(n) < model_share, models[rng.integers(0, _MODEL_POOL, size=n)], np.int32(-1))
    price_f = np.exp(rng.normal(0.0, price_sigma, size=n))
    # layout: [brand] w0 w1 [model] w2 …  (the brand is left out when one of the first two words is it),
    # then an end-of-title mark; the titles are one join of the token strings, split at the marks
    at2 = np.minimum(2, tmpl_len[t_of])
    brand_in = (brand >= 0) & ~((words[:, :2] == brand[:, None]).any(axis=1))
    out = np.empty((n, _MAX_WORDS + 3), dtype=np.int32)  # every cell is written below
    out[:, 0] = np.where(brand_in, brand, np.int32(-1))
    out[:, 2 : _MAX_WORDS + 2] = words  # w0 w1 … one place right of where the model goes first (at2 = 0) …
    first = at2 >= 1  # … and w0 (and w1) one place left where the model goes after them
    out[first, 1] = words[first, 0]
    second = at2 == 2
    out[second, 2] = words[second, 1]
    out[np.arange(n), 1 + at2] = model
    out[:, -1] = len(vocab)  # the end mark
    strings = np.array([*vocab, "\n"], dtype=object)
    titles = " ".join(strings[out[out >= 0]].tolist()).split(" \n")
    titles = [titles[0], *(t[1:] for t in titles[1:-1])]  # each title after the first starts with a space

    real_price = np.array([int(p.price_micros) for p in reals], dtype=np.int64)
    price = np.maximum(10_000, np.round(real_price[t_of] * price_f / 10_000).astype(np.int64) * 10_000)
    brand_name = [p.brand or "" for p in reals]
    shops: dict[str, Shop] = {}
    shop_of_real: list[str] = []
    for b in brand_name:
        slug = _slug(b)
        if slug not in shops:
            shops[slug] = Shop(id=f"s-{slug}", merchant_id=f"m-{slug}", name=b or slug)
        shop_of_real.append(shops[slug].id)
    real_of = b_of.tolist()
    products = list(  # C loops (map, starmap) over columns: a Python loop costs ~1 µs a product
        starmap(
            Product,
            zip(
                [f"g{seed}-{i:07d}" for i in range(n)],
                map(shop_of_real.__getitem__, real_of),
                titles,
                map(cats.__getitem__, cat_of.tolist()),
                cast(list[Micros], price.tolist()),
                map(brand_name.__getitem__, real_of),
                strict=True,
            ),
        )
    )
    used = {p.shop_id for p in products}
    return [s for s in shops.values() if s.id in used], products


def distinct_share(titles: Sequence[str]) -> float:
    """Share of distinct titles (1.0 = no title repeats)."""
    return len(Counter(titles)) / max(len(titles), 1)
