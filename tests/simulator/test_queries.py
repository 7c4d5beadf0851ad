"""Intent queries: shaped like real query sets (WANDS, Multi-CPR), and not just the title's first words."""

from __future__ import annotations

import numpy as np
import pytest

from sitewide.simulator import SimConfig, build_world
from sitewide.simulator.queries import MULTICPR_STATS, WANDS_STATS, QueryGenerator, query_stats


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    return build_world(SimConfig(users=200, merchants=10, seed=3, query_style="intent"))


def test_generated_queries_match_the_real_query_sets_statistics(world) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    targets = rng.integers(0, len(world.products), 3_000)
    q = world.search_queries(targets, np.zeros(3_000, dtype=np.int64), rng)
    st = query_stats(q)
    assert st["words_mean"] == pytest.approx(WANDS_STATS["words_mean"], abs=0.5)
    assert st["words_median"] == WANDS_STATS["words_median"]
    assert st["digit_share"] < 0.25
    assert 0.05 < st["zh_share"] < 0.25
    assert st["chars_median"] == pytest.approx(MULTICPR_STATS["chars_median"], abs=2)
    # not the title's first three words, and different requests for one product get different queries
    titles = [world.products.query[t] for t in targets.tolist()]
    assert np.mean([a == b for a, b in zip(q, titles, strict=True)]) < 0.2
    again = world.search_queries(targets[:200], np.zeros(200, dtype=np.int64), rng)
    assert np.mean([a != b for a, b in zip(q[:200], again, strict=True)]) > 0.5


def test_feed_requests_have_no_query_and_title_style_is_unchanged(world) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(1)
    q = world.search_queries(np.array([0, 1]), np.array([1, 0]), rng)
    assert q[0] == "" and q[1]
    title = build_world(SimConfig(users=200, merchants=10, seed=3))
    state = np.random.default_rng(5)
    got = title.search_queries(np.array([4, 5]), np.array([0, 0]), state)
    assert got == [title.products.query[4], title.products.query[5]]
    assert state.random() == np.random.default_rng(5).random()  # title queries draw nothing


def test_typos_synonyms_and_chinese_appear() -> None:
    from sitewide.simulator.queries import QueryModel

    gen = QueryGenerator(["logitech wireless mouse m315 black"], ["logitech"], np.zeros(1))
    rng = np.random.default_rng(2)
    qs = gen.generate(np.zeros(2_000, dtype=np.int64), rng)
    assert any("mice" in q for q in qs)  # synonym / plural
    assert any("鼠标" in q for q in qs)  # Chinese head noun
    words = {w for q in qs for w in q.split()}
    assert (
        words
        - {"logitech", "wireless", "mouse", "mice", "mouses", "m315", "black"}
        - {w for w in words if any(ord(c) > 0x3000 for c in w)}
    )  # misspellings
    plain = QueryGenerator(
        ["logitech wireless mouse m315 black"],
        ["logitech"],
        np.zeros(1),
        QueryModel(typo_share=0, synonym_share=0, plural_share=0, zh_share=0, price_share=0, use_share=0),
    )
    assert all("mouse" in q for q in plain.generate(np.zeros(200, dtype=np.int64), rng))
