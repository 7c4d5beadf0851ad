"""The serving encoder's CJK handling: characters and character bigrams of a Chinese run, English unchanged."""

from __future__ import annotations

import numpy as np

from sitewide.models.char_ngram import CharNgramEncoder, char_ngrams, text_grams, word_grams


def test_cjk_runs_give_characters_and_bigrams_and_latin_pieces_keep_their_grams() -> None:
    assert sorted(word_grams("小金桔")) == sorted(["小", "金", "桔", "小金", "金桔"])
    g = word_grams("启辰r50大灯")
    assert {"启", "辰", "启辰", "大", "灯", "大灯"} <= set(g)
    assert {" r", "r5", "50", "0 ", " r5", "r50", "50 "} <= set(g)
    assert "辰r" not in g and "启辰r" not in g  # no grams across a script boundary


def test_english_text_grams_are_the_padded_2_3_grams_as_before() -> None:
    for t in ("SanDisk Cruzer 16GB usb  flash drive", "x", "", "kids' desk, 10-year-old"):
        assert sorted(text_grams(t)) == sorted(char_ngrams(t, (2, 3)))


def test_short_chinese_queries_find_their_long_titles() -> None:
    """300 unspaced 36-character titles, each queried by two of its fragments run together (as Taobao queries
    are): characters and bigrams find every title in the top 10 (whole-run 2/3-grams found 67 %)."""
    rng = np.random.default_rng(0)
    pool = [chr(c) for c in range(0x4E00, 0x4E00 + 400)]
    titles = ["".join(rng.choice(pool, 36)) for _ in range(300)]
    starts = zip(rng.integers(0, 20, 300), rng.integers(22, 34, 300), strict=True)
    queries = [t[i : i + 3] + t[j : j + 2] for t, (i, j) in zip(titles, starts, strict=True)]
    enc = CharNgramEncoder(256, cache_size=0)
    top = np.argsort(-(enc.encode(queries) @ enc.encode(titles).T), axis=1)[:, :10]
    assert np.mean([i in row for i, row in enumerate(top)]) >= 0.97
