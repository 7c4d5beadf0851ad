"""The engine serves only checked creatives, on promoted slots, and learns from the clicks it is sent."""

from __future__ import annotations

import numpy as np
import pytest

from sitewide.creative.generate import OfflineGenerator
from sitewide.creative.studio import CreativeStudio, facts_of
from sitewide.domain.creative import BrandKit, Lang, check_draft
from sitewide.domain.time import day_bounds
from sitewide.domain.types import Campaign, Event, EventKind, Product, ServeRequest, Shop, ValidationError
from sitewide.engine import Engine
from sitewide.ports import RequestBatch
from sitewide.storage.memory import MemoryStore
from sitewide.wiring import seeded_engine

T0 = day_bounds("2026-01-05")[0] + 1_000


@pytest.fixture()
def engine(shops: list[Shop], products: list[Product], campaigns: list[Campaign]) -> Engine:
    eng = seeded_engine(MemoryStore(), shops, products, campaigns)
    studio = CreativeStudio(OfflineGenerator())
    for p in products:
        kit = BrandKit(p.shop_id, tone_words=("smart", "bold"), required_terms=(p.brand,))
        res = studio.make(facts_of(p), [], kit, (Lang.EN,))
        eng.creatives.set_creatives(p.id, res.approved)
    return eng


def test_every_served_creative_passed_the_checks(engine: Engine, products: list[Product]) -> None:
    by_id = {p.id: p for p in products}
    n = 200
    out = engine.serve_batch(
        RequestBatch([f"r{i}" for i in range(n)], [f"u{i}" for i in range(n)], np.zeros(n, np.int64),
                     ["usb flash drive", "wireless mouse", "ink cartridge", "router"] * (n // 4), T0, 6)
    )  # fmt: skip
    cre = out.creative
    assert cre is not None
    served = cre[cre != None]  # noqa: E711
    assert len(served) > 0
    assert (cre[~out.promoted] == None).all()  # noqa: E711  organic slots carry no creative
    for cid in served:
        c = engine.creatives.get(str(cid))
        p = by_id[c.product_id]
        kit = BrandKit(p.shop_id, required_terms=(p.brand,))
        # re-checked from scratch against the catalogue: nothing unchecked or stale got through
        assert check_draft(c.draft, facts_of(p), _no_reviews(p.id), kit).passed


def _no_reviews(pid: str):  # type: ignore[no-untyped-def]
    from sitewide.domain.creative import ReviewEvidence

    return ReviewEvidence(pid, 0, None)


def test_serve_returns_the_creative_of_promoted_slots_and_clicks_reach_the_bandit(engine: Engine) -> None:
    res = engine.serve(ServeRequest("q1", "u1", query="usb flash drive", slots=6, ts_ms=T0))
    promoted = [s for s in res.slots if s.promoted]
    assert promoted and all(s.creative_id for s in promoted)
    assert all(s.creative_id is None for s in res.slots if not s.promoted)
    s = promoted[0]
    click = Event("k1", EventKind.CLICK, T0 + 10, user_id="u1", product_id=s.product_id, request_id="q1",
                  campaign_id=s.campaign_id, position=s.position, price_micros=s.price_micros)  # fmt: skip
    engine.record_events([click])
    engine.record_events([click])  # a repeated event is not counted twice
    stats = {x.creative_id: x for x in engine.creatives.stats(s.product_id)}
    assert stats[s.creative_id].clicks == 1 and stats[s.creative_id].placement == "search"


def test_an_unchecked_creative_cannot_be_given_to_the_engine(engine: Engine, products: list[Product]) -> None:
    p = products[0]
    kit = BrandKit(p.shop_id, required_terms=("NotTheBrand",))
    res = CreativeStudio(OfflineGenerator()).make(facts_of(p), [], kit, (Lang.EN,))
    assert not res.approved
    with pytest.raises(ValidationError):
        engine.creatives.set_creatives(p.id, res.creatives)


def test_the_bandit_steps_aside_where_a_creative_experiment_decides(engine: Engine) -> None:
    from sitewide.domain.experiments import Arm, Experiment, ExperimentKind
    from sitewide.service.usecases import experiments as usecases

    exp = Experiment(
        id="x1", merchant_id="m1", name="title test", kind=ExperimentKind.CREATIVE, campaign_id="c1",
        product_ids=("p00",), arms=(Arm("A", title="SanDisk 16GB"), Arm("B", title="SanDisk Cruzer")),
        salt="s", auto_stop=False, created_ms=T0 - 10,
    )  # fmt: skip
    usecases.create(engine, engine.store, exp)
    n = 100
    out = engine.serve_batch(
        RequestBatch([f"r{i}" for i in range(n)], [f"u{i}" for i in range(n)], np.zeros(n, np.int64),
                     ["usb flash drive", "sandisk usb"] * (n // 2), T0, 6)
    )  # fmt: skip
    cre, variant = out.creative, out.variant
    assert cre is not None and variant is not None
    ids = engine.catalogue_ids()
    in_test = [
        (r, s)
        for r in range(n)
        for s in range(6)
        if out.product_idx[r, s] >= 0 and ids[out.product_idx[r, s]] == "p00"
    ]
    assert any(out.promoted[r, s] for r, s in in_test)  # p00 wins promoted slots: the bandit would pick there
    assert in_test and all(variant[r][s] is not None and cre[r, s] is None for r, s in in_test)
    others = cre[out.promoted & (cre != None)]  # noqa: E711
    assert len(others) > 0  # other promoted products still get the bandit's creative
