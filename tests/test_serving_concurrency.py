"""Requests served from many threads while campaigns are edited: no error, no lost edit, no lost accounting,
and a paused campaign's ads stop as soon as the edit returns."""

from __future__ import annotations

import threading
from dataclasses import replace
from decimal import Decimal

import numpy as np

from sitewide.domain.money import Micros
from sitewide.domain.time import day_bounds
from sitewide.domain.types import Campaign, CampaignStatus, Product, RequestKind, ServeRequest, Shop
from sitewide.engine import EngineConfig
from sitewide.storage.memory import MemoryStore
from sitewide.wiring import seeded_engine

T0 = day_bounds("2026-01-05")[0] + 1_000
QUERIES = ["usb flash drive", "wireless mouse", "ink cartridge", "wifi router", "laptop case", ""]


def test_serving_under_concurrent_campaign_edits_loses_nothing(
    shops: list[Shop], products: list[Product], campaigns: list[Campaign]
) -> None:
    camps = [
        *campaigns,
        Campaign("c3", "m1", "more", ("p06", "p08", "p10"), Decimal("1.50"), Micros(10**12)),
        Campaign("c4", "m2", "rest", ("p07", "p09", "p11"), Decimal("1.20"), Micros(10**12)),
    ]
    camps = [replace(c, daily_budget_micros=Micros(10**12)) for c in camps]
    engine = seeded_engine(MemoryStore(), shops, products, camps, EngineConfig(scorer="priors"))
    served: list[list[tuple[str, str | None, float, int]]] = [[] for _ in range(4)]
    errors: list[BaseException] = []

    def serve(t: int) -> None:
        try:
            for i in range(150):
                q = QUERIES[(i + t) % len(QUERIES)]
                kind = RequestKind.SEARCH if q else RequestKind.FEED
                res = engine.serve(ServeRequest(f"r{t}-{i}", f"u{t}-{i % 9}", kind, q, 6, T0))
                served[t] += [
                    (s.product_id, s.campaign_id, s.pctr, s.price_micros) for s in res.slots if s.promoted
                ]
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def edit(cid: str, rois: list[str]) -> None:
        try:
            for j, roi in enumerate(rois):
                c = next(x for x in engine.store.list_campaigns() if x.id == cid)
                status = CampaignStatus.PAUSED if j % 2 else CampaignStatus.ACTIVE
                engine.update_campaign(replace(c, target_roi=Decimal(roi), status=status))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    rois = {
        "c3": [f"{1.5 + j / 10:.2f}" for j in range(21)],
        "c4": [f"{1.2 + j / 10:.2f}" for j in range(21)],
    }
    threads = [threading.Thread(target=serve, args=(t,)) for t in range(4)]
    threads += [threading.Thread(target=edit, args=(cid, r)) for cid, r in rois.items()]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    # every edit landed: the last one of each editor is what the store and the engine hold
    stored = {c.id: c for c in engine.store.list_campaigns()}
    for cid, r in rois.items():
        assert stored[cid].target_roi == Decimal(r[-1]) and stored[cid].status is CampaignStatus.ACTIVE
        assert engine.campaigns.campaigns[engine.campaigns.row[cid]] == stored[cid]
    # every ad shown was a product of its campaign, and the pacer reserved exactly what was shown (same tick)
    ads = [a for rows in served for a in rows]
    assert ads
    members = {c.id: set(c.product_ids) for c in stored.values()}
    assert all(pid in members[str(cid)] for pid, cid, _, _ in ads)
    pacer = engine.campaigns.pacer
    for cid in stored:
        want = sum(p * price for _, c, p, price in ads if c == cid)
        got = pacer.state(pacer.row[cid]).in_flight_micros
        assert abs(got - want) <= 1e-6 * max(want, 1.0) + len(ads), (cid, got, want)
    # a pause is in force as soon as update_campaign returns
    for cid in stored:
        engine.update_campaign(replace(stored[cid], status=CampaignStatus.PAUSED))
    res = [
        engine.serve(ServeRequest(f"z{i}", f"z{i}", RequestKind.SEARCH, q, 6, T0))
        for i, q in enumerate(QUERIES)
    ]
    assert not any(s.promoted for r in res for s in r.slots)
    assert np.isfinite([s.pctr for r in res for s in r.slots]).all()
