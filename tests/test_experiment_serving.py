"""Experiments in the serving path: arms per user, the budget split, the spend cap, stopped → winner only."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import numpy as np
import pytest

from sitewide.domain.experiments import (
    Arm,
    Experiment,
    ExperimentKind,
    arm_campaign_id,
    assign_many,
)
from sitewide.domain.money import Micros
from sitewide.domain.time import day_bounds
from sitewide.domain.types import Campaign, CampaignStatus, Event, EventKind, Product, Shop
from sitewide.engine import Engine, EngineConfig
from sitewide.ports import RequestBatch
from sitewide.service.usecases import experiments as usecases
from sitewide.storage.memory import MemoryStore
from sitewide.wiring import seeded_engine

T0 = day_bounds("2026-01-05")[0] + 1_000
QUERIES = ["usb flash drive", "ink cartridge", "sandisk usb", "hp ink"]


@pytest.fixture()
def engine(shops: list[Shop], products: list[Product], campaigns: list[Campaign]) -> Engine:
    return seeded_engine(MemoryStore(), shops, products, campaigns, EngineConfig(scorer="priors"))


def batch(users: list[str], ts: int = T0, slots: int = 6) -> RequestBatch:
    n = len(users)
    qs = [QUERIES[i % len(QUERIES)] for i in range(n)]
    return RequestBatch([f"r{ts}-{i}" for i in range(n)], users, np.zeros(n, np.int64), qs, ts, slots)


def creative_exp(**kw: object) -> Experiment:
    base = Experiment(
        id="x1",
        merchant_id="m1",
        name="title test",
        kind=ExperimentKind.CREATIVE,
        campaign_id="c1",
        product_ids=("p00", "p04"),
        arms=(Arm("A", title="SanDisk 16GB"), Arm("B", title="SanDisk Cruzer 16GB — fast, tiny")),
        salt="salt-x1",
        auto_stop=False,
        created_ms=T0 - 10,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def roi_exp(**kw: object) -> Experiment:
    base = Experiment(
        id="x2",
        merchant_id="m1",
        name="roi test",
        kind=ExperimentKind.CAMPAIGN,
        campaign_id="c1",
        product_ids=(),
        arms=(Arm("A"), Arm("B", target_roi=Decimal("1.5"))),
        salt="salt-x2",
        auto_stop=False,
        created_ms=T0 - 10,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def shown_labels(engine: Engine, users: list[str]) -> dict[str, set[str]]:
    out = engine.serve_batch(batch(users))
    variant = out.variant
    assert variant is not None
    seen: dict[str, set[str]] = {}
    for r, u in enumerate(users):
        for s, label in enumerate(variant[r]):
            pid = engine.catalogue_ids()[int(out.product_idx[r, s])] if out.product_idx[r, s] >= 0 else None
            if pid in ("p00", "p04"):
                assert label is not None
                seen.setdefault(u, set()).add(label)
            else:
                assert label is None
    return seen


def test_each_user_sees_their_arm_and_a_stopped_experiment_serves_only_the_winner(engine: Engine) -> None:
    exp = usecases.create(engine, engine.store, creative_exp())
    users = [f"u{i}" for i in range(200)]
    arms = dict(zip(users, assign_many(exp.salt, [1, 1], users).tolist(), strict=True))
    seen = shown_labels(engine, users)
    assert len(seen) > 50
    for u, labels in seen.items():
        assert labels == {exp.arms[arms[u]].title}
    assert {next(iter(v)) for v in seen.values()} == {"SanDisk 16GB", "SanDisk Cruzer 16GB — fast, tiny"}
    usecases.stop_experiment(engine, engine.store, exp, "B", "merchant's call", T0)
    after = shown_labels(engine, users)
    assert after and all(v == {"SanDisk Cruzer 16GB — fast, tiny"} for v in after.values())
    res = engine.serve(_one("u7"))
    assert all(s.variant in (None, "SanDisk Cruzer 16GB — fast, tiny") for s in res.slots)


def _one(user: str):  # type: ignore[no-untyped-def]
    from sitewide.domain.types import ServeRequest

    return ServeRequest("one", user, query="sandisk usb flash drive", slots=6, ts_ms=T0 + 5)


def test_budget_split_each_user_meets_only_their_arms_campaign(engine: Engine) -> None:
    exp = usecases.create(engine, engine.store, roi_exp())
    parent = engine.store.get_campaign("c1")
    assert parent is not None and parent.status is CampaignStatus.PAUSED
    ids = engine.campaign_ids()
    a_id, b_id = arm_campaign_id("x2", "A"), arm_campaign_id("x2", "B")
    arm_a, arm_b = engine.store.get_campaign(a_id), engine.store.get_campaign(b_id)
    assert arm_a is not None and arm_b is not None
    assert arm_a.daily_budget_micros + arm_b.daily_budget_micros == 50_000_000
    users = [f"u{i}" for i in range(300)]
    arms = assign_many(exp.salt, [1, 1], users)
    out = engine.serve_batch(batch(users))
    cands = out.candidate_campaign
    assert cands is not None
    seen = {0: set(), 1: set()}  # type: dict[int, set[str]]
    for r in range(len(users)):
        for c in cands[r][cands[r] >= 0].tolist():
            seen[int(arms[r])].add(ids[c])
    assert b_id not in seen[0] and a_id not in seen[1]  # an arm never meets the other in an auction
    assert a_id in seen[0] and b_id in seen[1]
    usecases.stop_experiment(engine, engine.store, exp, "B", "merchant's call", T0)
    after = engine.serve_batch(batch(users, ts=T0 + 60_000))
    promoted = {engine.campaign_ids()[c] for c in after.campaign_idx[after.campaign_idx >= 0].tolist()}
    assert a_id not in promoted and b_id in promoted
    done = usecases.apply_winner(engine, engine.store, engine.store.get_experiment("x2"))  # type: ignore[arg-type]
    assert done.applied
    parent = engine.store.get_campaign("c1")
    assert (
        parent is not None and parent.status is CampaignStatus.ACTIVE and parent.target_roi == Decimal("1.5")
    )


@pytest.mark.parametrize("kind", ["creative", "campaign"])
def test_an_arm_never_spends_beyond_its_cap(engine: Engine, kind: str) -> None:
    cap = Micros(3_000_000)
    capped = Arm("B", spend_cap_micros=cap)
    if kind == "creative":
        exp = replace(
            creative_exp(arms=(Arm("A", title="t1"), Arm("B", title="t2", spend_cap_micros=cap))),
            product_ids=("p00", "p02", "p04"),
        )
    else:
        exp = roi_exp(arms=(Arm("A"), capped))
    exp = usecases.create(engine, engine.store, exp)
    users = [f"u{i}" for i in range(40)]
    arm_of = dict(zip(users, assign_many(exp.salt, [1, 1], users).tolist(), strict=True))
    spend = {0: 0, 1: 0}
    for t in range(60):  # worst case: every promoted slot is clicked at once
        ts = T0 + t * 60_000
        out = engine.serve_batch(batch(users, ts=ts))
        clicks = []
        for r, s in zip(*np.nonzero(out.promoted), strict=True):
            cid = engine.campaign_ids()[int(out.campaign_idx[r, s])]
            pid = engine.catalogue_ids()[int(out.product_idx[r, s])]
            price = int(out.price_cpc_micros[r, s])
            clicks.append(
                Event(f"k{t}-{r}-{s}", EventKind.CLICK, ts + 1, user_id=users[r], product_id=pid,
                      campaign_id=cid, price_micros=Micros(price))
            )  # fmt: skip
            if (kind == "campaign" and cid.startswith("x2.")) or (kind == "creative" and cid == "c1"):
                spend[1 if cid.endswith(".B") or (kind == "creative" and arm_of[users[r]] == 1) else 0] += (
                    price
                )
        for i in range(0, len(clicks), 1000):
            engine.record_events(clicks[i : i + 1000])
        if t == 30:  # an unrelated campaign change reloads serving: the arm's spend so far is kept
            c2 = engine.store.get_campaign("c2")
            assert c2 is not None
            engine.update_campaign(replace(c2, name="renamed"))
    assert spend[1] <= cap
    assert spend[1] > cap // 3  # the arm did spend: the cap is what stopped it
    assert spend[0] > spend[1]  # the uncapped arm went on


def test_a_creative_arm_shows_its_own_approved_creative_and_the_rotation_sits_out(engine: Engine) -> None:
    from sitewide.creative.generate import OfflineGenerator
    from sitewide.creative.studio import CreativeStudio, facts_of
    from sitewide.domain.creative import BrandKit, Lang
    from sitewide.domain.types import ValidationError

    p00 = engine.store.get_product("p00")
    assert p00 is not None
    made = CreativeStudio(OfflineGenerator()).make(
        facts_of(p00), [], BrandKit(p00.shop_id, required_terms=(p00.brand,)), (Lang.EN,)
    )
    ids = [c.id for c in made.approved]
    assert len(ids) >= 2
    engine.creatives.set_creatives("p00", made.approved)
    with pytest.raises(ValidationError):
        usecases.create(
            engine, engine.store, creative_exp(arms=(Arm("A", creative_id=ids[0]), Arm("B", creative_id="nope")))
        )
    exp = usecases.create(
        engine,
        engine.store,
        creative_exp(product_ids=("p00",), arms=(Arm("A", creative_id=ids[0]), Arm("B", creative_id=ids[1]))),
    )
    users = [f"u{i}" for i in range(300)]
    arms = assign_many(exp.salt, [1, 1], users)
    out = engine.serve_batch(batch(users))
    cre = out.creative
    assert cre is not None
    p00_row = engine.catalogue_ids().index("p00")
    hits = list(zip(*np.nonzero(out.promoted & (out.product_idx == p00_row)), strict=True))
    assert len(hits) > 20
    for r, s in hits:
        assert (
            cre[r, s] == ids[int(arms[r])]
        )  # each user sees their arm's creative, never the rotation's pick
    assert engine.creatives.stats("p00") == []  # the rotation served (and counted) none of these slots
