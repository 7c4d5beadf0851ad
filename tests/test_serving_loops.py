"""The per-request campaign steps without per-campaign Python loops: the budget gate equals every campaign's
``BudgetGuard.may_enter``, and the cached campaign value factors equal recomputing them from scratch."""

from __future__ import annotations

import numpy as np

from sitewide.domain.bidding import BudgetGuard
from sitewide.domain.money import Micros
from sitewide.domain.time import day_bounds
from sitewide.domain.types import Campaign, Event, EventKind, Product, Shop
from sitewide.engine import EngineConfig
from sitewide.ports import RequestBatch
from sitewide.storage.memory import MemoryStore
from sitewide.wiring import seeded_engine

T0 = day_bounds("2026-01-05")[0] + 1_000


def _batch(ts: int, n: int) -> RequestBatch:
    kinds = np.array([i % 2 for i in range(n)], dtype=np.int64)
    queries = ["usb flash drive" if k == 0 else "" for k in kinds.tolist()]
    return RequestBatch([f"r{ts}-{i}" for i in range(n)], [f"u{i}" for i in range(n)], kinds, queries, ts, 6)


def test_budget_gate_and_cached_factors_equal_the_per_campaign_rules(
    shops: list[Shop], products: list[Product], campaigns: list[Campaign]
) -> None:
    eng = seeded_engine(MemoryStore(), shops, products, campaigns, EngineConfig(value_prior_orders=2.0))
    rng = np.random.default_rng(0)
    pacer, values = eng.campaigns.pacer, eng.values
    ids = list(eng.campaign_ids())
    n_events = 0
    seen: list[bool] = []
    for step in range(6):
        served = eng.serve_batch(_batch(T0 + step * 1_000, 30))
        rows, slots = np.nonzero(served.promoted)
        events: list[Event] = []
        for r, s in zip(rows.tolist(), slots.tolist(), strict=True):
            if rng.random() < 0.5:
                continue
            n_events += 1
            pid = eng.catalogue_ids()[int(served.product_idx[r, s])]
            cid = ids[int(served.campaign_idx[r, s])]
            click_id, ts = f"k{n_events}", T0 + step * 1_000
            price = Micros(int(served.price_cpc_micros[r, s]))
            for eid, kind, extra in (
                (click_id, EventKind.CLICK, {"campaign_id": cid, "position": s + 1, "price_micros": price}),
                (f"o{n_events}", EventKind.ORDER, {"order_value_micros": int(rng.integers(1, 10**8)),
                                                   "click_id": click_id}),
            ):  # fmt: skip
                events.append(Event(eid, kind, ts + 10, user_id=f"u{r}", product_id=pid, **extra))  # type: ignore[arg-type]
        eng.record_events(events)
        # factors: what the cache answers = a recomputation over every campaign
        tau = values.calib.tau() * values._campaign_prior_share  # noqa: SLF001
        want = np.array(
            [
                (max(v[1], 0.0) + tau) / (v[0] + tau) if (v := values._camp_value.get(c)) else 1.0  # noqa: SLF001
                for c in ids
            ]
        )
        np.testing.assert_array_equal(values.campaign_factors(ids), want)
        # the budget gate at random spend and exposure: each campaign's guard decides
        pacer.spent[:] = np.where(rng.random(len(ids)) < 0.5, 0, rng.integers(0, 2 * pacer.budget + 1))
        pacer._inflight[:] = rng.random(pacer._inflight.shape) * pacer.budget[:, None] / 3  # noqa: SLF001
        pacer.tick_caps[:] = np.inf
        spent = np.maximum(pacer.spent, pacer.shared + pacer.since)
        inflight = pacer._inflight.sum(axis=1)  # noqa: SLF001
        guard = [
            BudgetGuard(int(b)).may_enter(int(s), int(f), pacer.reserve)
            for b, s, f in zip(pacer.budget, spent, inflight, strict=True)
        ]
        np.testing.assert_array_equal(pacer.budget_ok(), guard)
        seen += guard
        pacer.spent[:] = 0
        pacer._inflight[:] = 0  # noqa: SLF001
    assert n_events > 0 and values._camp_value and 0 < sum(seen) < len(seen)  # noqa: SLF001
