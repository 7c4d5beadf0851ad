from __future__ import annotations

import numpy as np
import pytest

from sitewide.domain.types import ValidationError
from sitewide.simulator.behaviour import ndcg, respond
from sitewide.simulator.config import SimConfig
from sitewide.simulator.world import FEED, SEARCH, build_world


def test_same_seed_builds_the_same_world_and_different_seeds_differ(tiny: SimConfig) -> None:
    a, b, c = build_world(tiny), build_world(tiny), build_world(tiny.with_(seed=tiny.seed + 1))
    assert np.array_equal(a.users.affinity, b.users.affinity)
    assert a.a_search == b.a_search and a.b_cvr == b.b_cvr
    assert [p.shop_id for p in a.product_list] == [p.shop_id for p in b.product_list]
    assert not np.array_equal(a.users.affinity, c.users.affinity)


def test_true_probabilities_broadcast_over_users_by_products(tiny: SimConfig) -> None:
    w = build_world(tiny)
    users, prods = np.arange(7), np.arange(11)
    ctr = w.true_pctr(users[:, None], prods[None, :])
    cvr = w.true_pcvr(users[:, None], prods[None, :])
    assert ctr.shape == cvr.shape == (7, 11)
    assert ((ctr > 0) & (ctr < 1)).all() and ((cvr > 0) & (cvr < 1)).all()
    # elementwise call agrees with the matrix
    assert np.allclose(w.true_pctr(users[:, None].repeat(11, 1).ravel(), np.tile(prods, 7)), ctr.ravel())


def test_search_intent_raises_click_probability_for_matching_category(tiny: SimConfig) -> None:
    w = build_world(tiny)
    p = np.arange(len(w.products))
    cat = w.products.category
    u = np.zeros(len(p), dtype=np.int64)
    with_intent = w.true_pctr(u, p, SEARCH, cat)
    other = w.true_pctr(u, p, SEARCH, (cat + 1) % len(w.products.category_names))
    assert (with_intent > other).all()


def test_examination_decays_with_position_so_top_slots_get_more_clicks(tiny: SimConfig) -> None:
    w = build_world(tiny.with_(bot_share=0.0))
    rng = np.random.default_rng(0)
    r = 20_000
    users = rng.integers(0, len(w.users), r)
    prods = np.full((r, tiny.slots), 0, dtype=np.int64)  # the same product everywhere: only position differs
    kind = np.full(r, FEED, dtype=np.int64)
    by_pos = respond(w, users, kind, np.full(r, -1), prods, rng).pctr.sum(axis=0) * w.exam
    clicks = respond(w, users, kind, np.full(r, -1), prods, rng).click.sum(axis=0)
    assert np.all(np.diff(by_pos) < 0)
    assert clicks[:3].sum() > clicks[-3:].sum()


def test_bots_click_but_never_buy(tiny: SimConfig) -> None:
    w = build_world(tiny.with_(bot_share=0.5, target_cvr=0.5))
    rng = np.random.default_rng(1)
    bots = np.flatnonzero(w.users.is_bot)
    users = np.repeat(bots, 50)
    prods = rng.integers(0, len(w.products), (len(users), tiny.slots))
    res = respond(w, users, np.full(len(users), FEED), np.full(len(users), -1), prods, rng)
    assert res.click.sum() > 0
    assert res.buy.sum() == 0


def test_empty_slots_are_never_clicked(tiny: SimConfig) -> None:
    w = build_world(tiny.with_(bot_share=1.0))
    rng = np.random.default_rng(2)
    prods = np.full((500, tiny.slots), -1, dtype=np.int64)
    res = respond(
        w,
        np.zeros(500, dtype=np.int64),
        np.zeros(500, dtype=np.int64),
        np.zeros(500, dtype=np.int64),
        prods,
        rng,
    )
    assert not res.click.any()


def test_ndcg_is_one_for_the_ideal_slate_and_lower_for_a_reversed_one(tiny: SimConfig) -> None:
    w = build_world(tiny)
    users = np.arange(4)
    kind = np.full(4, FEED)
    gains = w.true_pctr(users[:, None], np.arange(len(w.products))[None, :])
    best = np.argsort(-gains, axis=1)[:, : tiny.slots]
    assert np.allclose(ndcg(w, users, kind, np.full(4, -1), best), 1.0)
    assert (ndcg(w, users, kind, np.full(4, -1), best[:, ::-1]) < 1.0).all()


def test_taobao_price_source_keeps_product_order_in_cny(tiny: SimConfig) -> None:
    usd = build_world(tiny).products.price_micros
    cny = build_world(tiny.with_(price_source="taobao")).products.price_micros
    order = np.argsort(usd, kind="stable")
    assert (np.diff(cny[order]) >= 0).all()
    assert cny.dtype == np.int64


def test_bad_config_raises_a_typed_error() -> None:
    with pytest.raises(ValidationError):
        SimConfig(users=0)
    with pytest.raises(ValidationError):
        SimConfig(bot_share=1.5)
    with pytest.raises(ValidationError):
        SimConfig(event_batch=5_000)
