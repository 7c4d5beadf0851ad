from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sitewide.domain.money import Micros
from sitewide.domain.time import day_bounds
from sitewide.domain.types import Campaign, Event, EventKind, Product, Shop, ValidationError
from sitewide.engine import Engine
from sitewide.ports import RequestBatch
from sitewide.storage.memory import MemoryStore
from sitewide.wiring import seeded_engine

T0 = day_bounds("2026-01-05")[0] + 1_000


@pytest.fixture()
def engine(shops: list[Shop], products: list[Product], campaigns: list[Campaign]) -> Engine:
    return seeded_engine(MemoryStore(), shops, products, campaigns)


def batch(queries: list[str], slots: int = 6) -> RequestBatch:
    n = len(queries)
    return RequestBatch(
        [f"r{i}" for i in range(n)], [f"u{i}" for i in range(n)], np.zeros(n, np.int64), queries, T0, slots
    )


def test_serve_batch_fills_slots_without_duplicates(engine: Engine) -> None:
    out = engine.serve_batch(batch(["usb flash drive", "wireless mouse", "ink cartridge"]))
    assert out.product_idx.shape == (3, 6)
    for row in out.product_idx:
        shown = row[row >= 0]
        assert len(shown) == len(set(shown.tolist())) == 6
    assert (out.price_cpc_micros[~out.promoted] == 0).all()
    assert (out.price_cpc_micros[out.promoted] > 0).all()


def test_search_retrieves_matching_titles_first(engine: Engine) -> None:
    out = engine.serve_batch(batch(["usb flash drive"], slots=3))
    titles = [engine.store.get_product(engine.catalogue_ids()[i]).title for i in out.product_idx[0]]  # type: ignore[union-attr]
    assert any("usb" in t for t in titles[:2])


def test_exhausted_budget_stops_promotion(engine: Engine) -> None:
    before = engine.serve_batch(batch(["usb flash drive"] * 5))
    assert before.promoted.any()
    c1 = engine.store.get_campaign("c1")
    c2 = engine.store.get_campaign("c2")
    assert c1 is not None and c2 is not None
    spend = [
        Event(
            f"k{c.id}",
            EventKind.CLICK,
            T0 + 5,
            user_id="u",
            product_id=c.product_ids[0],
            campaign_id=c.id,
            price_micros=c.daily_budget_micros,
        )
        for c in (c1, c2)
    ]
    engine.record_events(spend)
    after = engine.serve_batch(batch(["usb flash drive"] * 5))
    assert not after.promoted.any()


def test_repeated_click_is_charged_once(engine: Engine) -> None:
    e = Event(
        "k1",
        EventKind.CLICK,
        T0,
        user_id="u",
        product_id="p00",
        campaign_id="c1",
        price_micros=Micros(70_000),
    )
    engine.record_events([e])
    engine.record_events([e, replace(e)])
    rep = engine.settle_day("2026-01-05")
    (row,) = rep.campaigns
    assert row.clicks == 1 and row.spend_micros == 70_000


def test_events_for_unknown_products_are_refused_and_nothing_is_stored(engine: Engine) -> None:
    good = Event("k1", EventKind.CLICK, T0, user_id="u", product_id="p00")
    bad = Event("k2", EventKind.CLICK, T0, user_id="u", product_id="nope")
    with pytest.raises(ValidationError):
        engine.record_events([good, bad])
    assert engine.store.events_between(0, 10**14) == []


def test_ineligible_products_are_never_promoted_and_say_why(engine: Engine) -> None:
    from sitewide.domain.eligibility import ProductSignals

    out_of_stock = [
        ProductSignals(p.id, p.category, p.shop_id, price_micros=int(p.price_micros), stock=0)
        for p in engine.store.list_products()
    ]
    engine.set_quality(out_of_stock, [])
    out = engine.serve_batch(batch(["usb flash drive", "wireless mouse"]))
    assert not out.promoted.any()
    d = engine.eligibility("p00")
    assert not d.eligible and any(r.rule == "stock" for r in d.failures)


def test_poor_shop_gets_less_exposure(shops: list[Shop], products: list[Product]) -> None:
    from sitewide.domain.shop_score import ShopMetrics

    queries = ["usb flash drive", "mouse", "ink", "router", "case", "screen", "surge protector"] * 3

    def s1_share(engine: Engine) -> float:
        out = engine.serve_batch(batch(queries, slots=3))
        shop = np.array(
            [
                engine.store.get_product(engine.catalogue_ids()[i]).shop_id == "s1"
                for i in out.product_idx.ravel()
            ]
        )  # type: ignore[union-attr]
        return float(shop.mean())

    neutral = seeded_engine(MemoryStore(), shops, products)
    poor = seeded_engine(MemoryStore(), shops, products)
    poor.set_quality(
        [],
        [
            ShopMetrics(
                "s1", on_time_share=0.5, dispute_rate=0.2, avg_rating=2.0, review_count=500, order_count=1000
            )
        ],
    )
    assert poor.shop_score("s1") is not None and poor.shop_score("s1").multiplier < 1.0  # type: ignore[union-attr]
    assert s1_share(poor) < s1_share(neutral)


def test_engine_serves_the_shipped_learned_ranker_by_default_and_priors_on_request(
    shops: list[Shop], products: list[Product]
) -> None:
    from sitewide.engine import EngineConfig
    from sitewide.models.priors import SimilarityPriorScorer
    from sitewide.models.scorer import LearnedScorer

    learned = seeded_engine(MemoryStore(), shops, products)
    assert isinstance(learned.scorer, LearnedScorer)
    # bound to this engine's catalogue, in the engine's row order
    assert len(learned.scorer.pipeline.products) == len(learned.catalogue_ids())
    priors = seeded_engine(MemoryStore(), shops, products, config=EngineConfig(scorer="priors"))
    assert isinstance(priors.scorer, SimilarityPriorScorer)
    with pytest.raises(ValidationError):
        seeded_engine(MemoryStore(), shops, products, config=EngineConfig(scorer="magic"))
    with pytest.raises(
        ValidationError
    ):  # an explicit checkpoint that is not there is an error, not a fallback
        seeded_engine(MemoryStore(), shops, products, config=EngineConfig(scorer_path="/nonexistent/r.pt"))


def test_learned_default_shows_truly_more_clickable_products_than_the_priors() -> None:
    """On a simulated marketplace the shipped ranker has never seen, the products the engine shows for the same
    requests are truly more clickable (the simulator's hidden P(click | examined)) with the learned default."""
    from sitewide.engine import EngineConfig
    from sitewide.simulator import SimConfig, build_world
    from sitewide.wiring import world_engine

    world = build_world(SimConfig(users=500, products=600, merchants=20, seed=11))
    rng = np.random.default_rng(0)
    n = 400
    users = rng.integers(0, len(world.users), n)
    kind = (rng.random(n) < 0.5).astype(np.int64)
    intent, target = world.sample_intent(users, rng)
    queries = [
        world.products.query[t] if k == 0 else "" for t, k in zip(target.tolist(), kind.tolist(), strict=True)
    ]
    row = {p.id: i for i, p in enumerate(world.product_list)}
    out = {}
    for name in ("learned", "priors"):
        e = world_engine(world, EngineConfig(scorer=name))
        ids = e.catalogue_ids()
        b = RequestBatch(
            [f"r{i}" for i in range(n)], [world.users.ids[u] for u in users], kind, queries, 0, 10
        )
        shown = e.serve_batch(b).product_idx
        prod = np.where(shown >= 0, np.array([row[i] for i in ids])[np.maximum(shown, 0)], 0)
        t = world.true_pctr(users[:, None], prod, kind[:, None], np.where(kind == 0, intent, -1)[:, None])
        out[name] = float(t[shown >= 0].mean())
    assert out["learned"] > 1.05 * out["priors"]  # measured: 0.0141 vs 0.0124


def test_lexical_matches_join_search_rows_and_leave_feed_rows_alone(
    shops: list[Shop], products: list[Product]
) -> None:
    from sitewide.engine import EngineConfig

    cfg = EngineConfig(scorer="priors", retrieve_k=4)
    vec = seeded_engine(MemoryStore(), shops, products, config=cfg)
    hyb = seeded_engine(MemoryStore(), shops, products, config=replace(cfg, lexical_k=4))
    ids = vec.catalogue_ids()
    # pick a title word whose products the 4 nearest text vectors do not all cover
    for p in products:
        word = p.title.split()[0]
        b = RequestBatch(["r", "f"], ["u", "u"], np.array([0, 1]), [word, ""], 0, 4)
        c_vec, _ = vec.retrieve(b)
        c_hyb, s_hyb = hyb.retrieve(b)
        lexical = {i for i, q in enumerate(products) if word.lower() in q.title.lower().split()}
        row_ids = {ids[i] for i in c_hyb[0].tolist() if i >= 0}
        if not lexical <= {ids[i] for i in c_vec[0].tolist() if i >= 0} and len(lexical) <= 2:
            assert {products[i].id for i in lexical} <= row_ids  # the BM25 matches made it in
            assert (np.diff(s_hyb[0][c_hyb[0] >= 0]) <= 1e-9).all()  # still sorted by cosine
            assert np.array_equal(c_hyb[1], c_vec[1])  # feed untouched
            return
    pytest.skip("no title word separates lexical from vector retrieval in this fixture")


def test_editing_one_campaign_keeps_the_others_bidders_and_todays_spend_without_a_rescan(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine.serve_batch(batch(["usb flash drive"] * 3))
    c1, c2 = engine.store.get_campaign("c1"), engine.store.get_campaign("c2")
    assert c1 is not None and c2 is not None
    clicks = [
        Event(f"k{c.id}", EventKind.CLICK, T0 + 5, user_id="u", product_id=c.product_ids[0],
              campaign_id=c.id, price_micros=1_000 * (i + 1))
        for i, c in enumerate((c1, c2))
    ]  # fmt: skip
    engine.record_events(clicks)
    pacer = engine.campaigns.pacer
    row = {c.id: i for i, c in enumerate(pacer.campaigns)}
    bidder1, bidder2 = pacer.bidders[row["c1"]], pacer.bidders[row["c2"]]
    scans: list[int] = []
    real = engine.store.events_between
    monkeypatch.setattr(engine.store, "events_between", lambda *a, **k: scans.append(1) or real(*a, **k))
    engine.update_campaign(replace(c2, daily_budget_micros=Micros(int(c2.daily_budget_micros) * 2)))
    engine.serve_batch(batch(["usb flash drive"] * 3))
    pacer = engine.campaigns.pacer
    row = {c.id: i for i, c in enumerate(pacer.campaigns)}
    assert pacer.bidders[row["c1"]] is bidder1  # the other campaign's bidder state is untouched
    assert pacer.bidders[row["c2"]] is not bidder2  # the edited one restarts
    assert pacer.spent[row["c1"]] == 1_000 and pacer.spent[row["c2"]] == 2_000
    assert not scans  # no rescan of the day's clicks under the engine lock
