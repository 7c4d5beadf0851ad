"""Chinese search queries: the engine merges BM25 matches among the catalogue's CJK titles into the row, with
``lexical_k`` = 0, and orders the row by the fusion of cosine and BM25; an English catalogue indexes nothing
lexically, its rows hold the vector index's candidates, ordered by cosine fused with the query's word matches."""

from __future__ import annotations

import numpy as np
import pytest

from sitewide.domain.types import Micros, Product, Shop
from sitewide.engine import EngineConfig
from sitewide.engine.retrieval import CJK_BM25_WEIGHT, CJK_LEXICAL_SHARE, WORD_MATCH_WEIGHT, word_share
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


def test_a_chinese_row_is_ordered_by_the_fusion_of_cosine_and_bm25() -> None:
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
    e.retrieval.word_weight = 0.0
    cosine, cosine_sim = e.retrieve(b)
    assert ids[cosine[0, 0]] == "z005"  # the shorter title sharing the two characters is closer by cosine
    assert ids[fused[0, 0]] == "z017"  # the title with the word 金桔 is BM25's best: first under the fusion
    assert 0 < CJK_BM25_WEIGHT < 1
    at = {int(c): s for c, s in zip(cosine[0], cosine_sim[0], strict=True)}
    # BM25's best match scores (1 - w) · cosine + w · 1
    assert fused_sim[0, 0] == pytest.approx((1 - CJK_BM25_WEIGHT) * at[fused[0, 0]] + CJK_BM25_WEIGHT)
    assert set(fused[1].tolist()) == set(cosine[1].tolist())  # an English query's row: the same candidates


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


def test_word_share_counts_the_query_words_each_text_holds_over_the_best() -> None:
    texts = ["Red USB-C Cables for phones", "usb hub", "blue lamp"]
    assert word_share("red usb cable", texts) == [1.0, pytest.approx(1 / 3), 0.0]  # "cable" in "cables"
    assert word_share("garden hose", texts) == [0.0, 0.0, 0.0]
    assert word_share("!!", texts) == [0.0, 0.0, 0.0]


def test_an_english_row_keeps_its_candidates_ordered_by_cosine_fused_with_the_query_words(
    shops: list[Shop],
) -> None:
    titles = ["lamp shade large", "large lamps", "desk organiser", "desk lamp", "desks and lampposts"]
    titles += ["office desk", "reading light for desk", "deskjet printer", "lampe de bureau"]
    products = [Product(f"p{i}", shops[0].id, t, "home", Micros(9_000_000)) for i, t in enumerate(titles)]
    e = seeded_engine(MemoryStore(), shops, products, config=EngineConfig(scorer="priors", retrieve_k=9))
    title = {r: titles[int(p[1:])] for r, p in enumerate(e.catalogue_ids())}
    b = RequestBatch(["a"], ["u"], np.zeros(1), ["desk lamps"], 0, 4)
    e.retrieval.word_weight = 0.0
    cosine, cosine_sim = e.retrieve(b)
    e.retrieval.word_weight = WORD_MATCH_WEIGHT
    fused, fused_sim = e.retrieve(b)
    assert set(fused[0].tolist()) == set(cosine[0].tolist())
    assert 0 < WORD_MATCH_WEIGHT < 1
    cos_order = [title[c] for c in cosine[0].tolist()]
    order = [title[c] for c in fused[0].tolist()]
    # "lampe de bureau" is closer by cosine than "office desk", but holds neither word: it falls below it
    assert cos_order.index("lampe de bureau") < cos_order.index("office desk")
    assert order.index("office desk") < order.index("lampe de bureau")
    at = dict(zip(cosine[0].tolist(), cosine_sim[0].tolist(), strict=True))
    share = dict(zip(at, word_share("desk lamps", [e.retrieval.catalogue.texts[c] for c in at]), strict=True))
    fuse = {c: (1 - WORD_MATCH_WEIGHT) * at[c] + WORD_MATCH_WEIGHT * share[c] for c in at}
    assert fused[0].tolist() == sorted(fuse, key=lambda c: -fuse[c])
    np.testing.assert_allclose(fused_sim[0], [fuse[c] for c in fused[0].tolist()], rtol=1e-6)


def test_the_lexical_index_holds_exactly_the_cjk_titles_among_ascii_and_other_scripts() -> None:
    """With ``lexical_k`` = 0 BM25 indexes the titles with CJK characters only: not the ASCII ones, nor those in
    another non-ASCII script (ASCII texts skip the regex)."""
    products = _catalogue(20) + [
        Product("a001", "s1", "red usb cable", "cables", Micros(50_000_000)),
        Product("a002", "s1", "café crème mug", "kitchen", Micros(50_000_000)),
        Product("a003", "s1", "кружка синяя", "kitchen", Micros(50_000_000)),
        Product("a004", "s1", "mug 马克杯", "kitchen", Micros(50_000_000)),
    ]
    e = seeded_engine(MemoryStore(), [Shop("s1", "m1", "店")], products, config=EngineConfig(scorer="priors"))
    assert e.retrieval.lexical_rows == 21  # the 20 Chinese titles and the mixed one
    ids = e.catalogue_ids()
    got = e.retrieval.lexical.search(["马克杯"], 10)[0][0]
    assert ids[int(got[0])] == "a004"
