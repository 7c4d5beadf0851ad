"""Chinese search queries: the engine merges BM25 matches among the catalogue's CJK titles into the row, with
``lexical_k`` = 0, and orders the row by the fusion of cosine and BM25; an English catalogue indexes nothing
lexically and its rows are as before."""

from __future__ import annotations

import numpy as np
import pytest

from sitewide.domain.types import Micros, Product, Shop
from sitewide.engine import EngineConfig
from sitewide.engine.retrieval import CJK_BM25_WEIGHT, CJK_LEXICAL_SHARE
from sitewide.ports import RequestBatch
from sitewide.storage.memory import MemoryStore
from sitewide.wiring import seeded_engine

# long unspaced titles built from a few shared words, so that a short query's vector is close to many of them
_WORDS = ["新款", "女装", "夏季", "连衣裙", "宽松", "显瘦", "纯棉", "短袖", "上衣", "韩版", "学生", "百搭"]


def _catalogue(n: int = 60) -> list[Product]:
    rng = np.random.default_rng(0)
    titles = ["".join(rng.choice(_WORDS, 8)) for _ in range(n)]
    titles[17] = "小金桔盆栽" + titles[17]  # the one title a query names
    return [Product(f"z{i:03d}", "s1", t, "服饰", Micros(50_000_000)) for i, t in enumerate(titles)]


def _rows(products: list[Product], queries: list[str], k: int = 8) -> tuple[list[str], np.ndarray]:
    e = seeded_engine(
        MemoryStore(), [Shop("s1", "m1", "店")], products, config=EngineConfig(scorer="priors", retrieve_k=k)
    )
    n = len(queries)
    cand, _ = e.retrieve(RequestBatch([f"r{i}" for i in range(n)], ["u"] * n, np.zeros(n), queries, 0, 4))
    return e.catalogue_ids(), cand


def test_a_chinese_query_gets_bm25_matches_among_cjk_titles() -> None:
    products = _catalogue()
    ids, cand = _rows(products, ["金桔 连衣裙"])
    assert "z017" in {ids[i] for i in cand[0].tolist() if i >= 0}
    e = seeded_engine(MemoryStore(), [Shop("s1", "m1", "店")], products, config=EngineConfig(scorer="priors"))
    assert e.retrieval.lexical_rows == len(products)
    assert 0 < CJK_LEXICAL_SHARE < 1


def test_a_chinese_row_is_ordered_by_the_fusion_of_cosine_and_bm25_and_english_rows_by_cosine() -> None:
    products = _catalogue()
    products[5] = Product("z005", "s1", "金色桔红连衣裙", "服饰", Micros(50_000_000))  # 金 and 桔, not 金桔
    products.append(Product("e001", "s1", "red usb cable", "服饰", Micros(50_000_000)))
    e = seeded_engine(
        MemoryStore(),
        [Shop("s1", "m1", "店")],
        products,
        config=EngineConfig(scorer="priors", retrieve_k=8, lexical_k=2),
    )
    ids = e.catalogue_ids()
    b = RequestBatch(["a", "b"], ["u", "u"], np.zeros(2), ["金桔", "usb cable"], 0, 4)
    fused, fused_sim = e.retrieve(b)
    e.retrieval.cjk_bm25_weight = 0.0
    cosine, cosine_sim = e.retrieve(b)
    assert ids[cosine[0, 0]] == "z005"  # the shorter title sharing the two characters is closer by cosine
    assert ids[fused[0, 0]] == "z017"  # the title with the word 金桔 is BM25's best: first under the fusion
    assert 0 < CJK_BM25_WEIGHT < 1
    at = {int(c): s for c, s in zip(cosine[0], cosine_sim[0], strict=True)}
    # BM25's best match scores (1 - w) · cosine + w · 1
    assert fused_sim[0, 0] == pytest.approx((1 - CJK_BM25_WEIGHT) * at[fused[0, 0]] + CJK_BM25_WEIGHT)
    np.testing.assert_array_equal(fused[1], cosine[1])  # an English query's row: cosine, fusion or not
    np.testing.assert_allclose(fused_sim[1], cosine_sim[1])


def test_an_english_catalogue_indexes_nothing_lexically_and_its_rows_do_not_change(
    shops: list[Shop], products: list[Product]
) -> None:
    e = seeded_engine(MemoryStore(), shops, products, config=EngineConfig(scorer="priors", retrieve_k=4))
    assert e.retrieval.lexical_rows == 0
    qs = ["红色 usb", products[0].title.split()[0]]
    b = RequestBatch(["a", "b"], ["u", "u"], np.zeros(2), qs, 0, 4)
    cand, _ = e.retrieve(b)
    q = e.retrieval.query_vectors(b, [0, 1])
    want, _ = e.retrieval.index.search(q, 4)
    assert {frozenset(r[r >= 0].tolist()) for r in cand} == {frozenset(r[r >= 0].tolist()) for r in want}
