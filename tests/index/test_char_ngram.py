"""The serving encoder's catalogue path (words × units through ``embedding_bag``) gives exactly the vectors of
hashing each text's grams one by one, and the vectorised pool gives exactly the rule-by-rule mask."""

from __future__ import annotations

import numpy as np

from sitewide.catalogue import packaged_catalogue
from sitewide.models.char_ngram import BATCH_MIN, CharNgramEncoder
from sitewide.simulator.big_catalogue import big_catalogue


def _random_texts(rng: np.random.Generator, n: int) -> list[str]:
    alphabet = list("abcxyzAQ0189-.é中文标题 \t")
    return ["".join(rng.choice(alphabet, size=int(rng.integers(0, 40)))) for _ in range(n)]


def test_the_batch_path_equals_per_text_hashing_bit_for_bit() -> None:
    rng = np.random.default_rng(0)
    _, products = big_catalogue(packaged_catalogue()[1], 500, seed=2)
    texts = [f"{p.title} {p.brand} {p.category}" for p in products] + _random_texts(rng, 500)
    texts += ["", " ", "a", "Hello  World", "x y", "中文 标题"]
    enc = CharNgramEncoder()
    batch = enc.encode(texts)
    assert len(texts) >= BATCH_MIN and batch.dtype == np.float32
    one = np.stack([CharNgramEncoder()._one(t) for t in texts])
    assert np.array_equal(batch, one)
    assert not batch[texts.index("")].any() and np.isclose(np.linalg.norm(batch[0]), 1.0)


def test_encode_words_takes_any_vocabulary_order() -> None:
    texts = ["red usb cable", "usb red", "cable", "", "red red red"] * 20
    vocab = sorted({w for t in texts for w in t.split()}, reverse=True)
    code = {w: i for i, w in enumerate(vocab)}
    ids = np.array([code[w] for t in texts for w in t.split()], dtype=np.int64)
    lengths = np.array([len(t.split()) for t in texts], dtype=np.int64)
    enc = CharNgramEncoder()
    assert np.array_equal(enc.encode_words(vocab, ids, lengths), enc.encode(texts))
