"""A small, deterministic stand-in for the engine: ranks by a fixed score (query-word match first), puts the
best campaign products in fixed promoted slots at a fixed CPC, and settles by last click. Not an auction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from sitewide.domain.types import Campaign, CampaignStatus, Event, EventKind
from sitewide.ports import EventReceipt, RequestBatch, ServedBatch
from sitewide.simulator.world import World

PROMOTED_SLOTS = (1, 4)
CPC_MICROS = 150_000


@dataclass
class CampaignRow:
    campaign_id: str
    spend_micros: int
    gmv_micros: int
    compensation_micros: int


@dataclass
class Report:
    campaigns: list[CampaignRow] = field(default_factory=list)


class FixedScoreEngine:
    def __init__(self, world: World, seed: int = 7) -> None:
        rng = np.random.default_rng(seed)
        self.ids = [p.id for p in world.product_list]
        self.titles = [p.title for p in world.product_list]
        self.score = rng.random(len(self.ids))
        self.camps: list[str] = []
        self.target: dict[str, Decimal] = {}
        self.camp_of = np.full(len(self.ids), -1, dtype=np.int64)
        self.paused: set[str] = set()
        for c in world.campaigns_starting(0):
            self.add_campaign(c)
        self.events: dict[str, Event] = {}
        self.served_requests = 0
        self._match: dict[str, np.ndarray] = {}

    def add_campaign(self, c: Campaign) -> None:
        row = {pid: i for i, pid in enumerate(self.ids)}
        self.camps.append(c.id)
        self.target[c.id] = c.target_roi
        self.camp_of[[row[p] for p in c.product_ids]] = len(self.camps) - 1

    def update_campaign(self, c: Campaign) -> None:
        if c.status == CampaignStatus.PAUSED:
            self.paused.add(c.id)
            i = self.camps.index(c.id)
            self.camp_of[self.camp_of == i] = -1

    def catalogue_ids(self) -> Sequence[str]:
        return self.ids

    def campaign_ids(self) -> Sequence[str]:
        return self.camps

    def _boost(self, query: str) -> np.ndarray:
        if query not in self._match:
            word = query.split()[0] if query else ""
            self._match[query] = np.asarray([word in t for t in self.titles], dtype=np.float64)
        return self._match[query]

    def serve_batch(self, batch: RequestBatch) -> ServedBatch:
        r, s = len(batch.request_ids), batch.slots
        self.served_requests += r
        out = np.full((r, s), -1, dtype=np.int64)
        promoted = np.zeros((r, s), dtype=bool)
        camp = np.full((r, s), -1, dtype=np.int64)
        price = np.zeros((r, s), dtype=np.int64)
        ads = np.flatnonzero(self.camp_of >= 0)
        for i, q in enumerate(batch.queries):
            sc = self.score + (self._boost(q) if q else 0.0)
            order = np.argsort(-sc, kind="stable")
            ad_order = ads[np.argsort(-sc[ads], kind="stable")][: len(PROMOTED_SLOTS)] if len(ads) else ads
            organic = [j for j in order[: s + len(ad_order)] if j not in set(ad_order.tolist())][:s]
            row = list(organic)
            for k, j in zip(PROMOTED_SLOTS, ad_order.tolist(), strict=False):
                if k < s:
                    row.insert(k, j)
            row = row[:s]
            out[i, : len(row)] = row
            for k, j in enumerate(row):
                if k in PROMOTED_SLOTS and j in ad_order:
                    promoted[i, k] = True
                    camp[i, k] = self.camp_of[j]
                    price[i, k] = CPC_MICROS
        return ServedBatch(
            product_idx=out,
            promoted=promoted,
            campaign_idx=camp,
            price_cpc_micros=price,
            pctr=np.full((r, s), 0.04),
            pcvr=np.full((r, s), 0.005),
        )

    def record_events(self, events: Sequence[Event]) -> EventReceipt:
        assert len(events) <= 1_000
        new = 0
        for e in events:
            if e.id in self.events:
                assert self.events[e.id].body() == e.body()
                continue
            self.events[e.id] = e
            new += 1
        return EventReceipt(inserted=new, duplicates=len(events) - new)

    def settle(self, start_ms: int, end_ms: int) -> Report:
        spend: dict[str, int] = dict.fromkeys(self.camps, 0)
        gmv: dict[str, int] = dict.fromkeys(self.camps, 0)
        for e in self.events.values():
            if e.kind == EventKind.CLICK and e.campaign_id and start_ms <= e.ts_ms < end_ms:
                spend[e.campaign_id] += int(e.price_micros)
            if e.kind == EventKind.ORDER and start_ms <= e.ts_ms < end_ms and e.click_id in self.events:
                c = self.events[e.click_id].campaign_id
                if c:
                    gmv[c] += int(e.order_value_micros)
        rows = []
        for c in self.camps:
            t = self.target[c]
            comp = max(0, int(spend[c] - Decimal(gmv[c]) / t)) if spend[c] else 0
            rows.append(CampaignRow(c, spend[c], gmv[c], min(comp, spend[c])))
        return Report(campaigns=rows)


def make_fixed_engine(world: World) -> FixedScoreEngine:
    return FixedScoreEngine(world)
