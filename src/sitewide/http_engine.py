"""``HttpMarketEngine``: the ``MarketEngine`` port over HTTP (through :class:`~sitewide.client.SitewideClient`),
so that the simulator can drive a running server exactly as it drives an in-process engine."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from sitewide.api.schemas import ServeIn
from sitewide.client import SitewideClient
from sitewide.domain.eligibility import ProductSignals
from sitewide.domain.settlement import CampaignSettlement
from sitewide.domain.shop_score import ShopMetrics
from sitewide.domain.types import Campaign, CampaignStatus, Event, Product, Shop
from sitewide.ports import EventReceipt, RequestBatch, ServedBatch


@dataclass(frozen=True)
class HttpSettlement:
    """A period settled through the API: the server's campaign rows, under the caller's campaign ids."""

    period: str
    campaigns: list[CampaignSettlement]


# the arrays of a ServedBatch that travel over HTTP, with their dtypes
SERVED: dict[str, type] = {
    "product_idx": np.int64,
    "promoted": bool,
    "campaign_idx": np.int64,
    "price_cpc_micros": np.int64,
    "pctr": np.float64,
    "pcvr": np.float64,
}


class HttpMarketEngine:
    """``MarketEngine`` over HTTP, authenticated as the operator. Campaigns are created through the API on
    behalf of their merchants (server-side ids); this adapter maps the caller's campaign ids to the server's so
    the simulator sees its own ids throughout."""

    EVENT_BATCH = 1_000
    SERVE_BATCH = 2_000  # the API's limit per /serve/batch call

    def __init__(self, client: SitewideClient) -> None:
        self.client = client
        self._to_server: dict[str, str] = {}
        self._from_server: dict[str, str] = {}
        self._refresh()

    @classmethod
    def register(
        cls,
        client: SitewideClient,
        shops: Sequence[Shop],
        products: Sequence[Product],
        campaigns: Sequence[Campaign],
    ) -> HttpMarketEngine:
        client.import_catalogue(shops, products)
        eng = cls(client)
        for c in campaigns:
            eng._create(c)
        eng._refresh()
        return eng

    def _create(self, c: Campaign) -> None:
        out = self.client.create_campaign(
            c.merchant_id,
            c.name,
            c.product_ids,
            str(c.target_roi),
            int(c.daily_budget_micros),
            created_ms=c.created_ms,  # the simulated start: events in simulated time fall under it
        )
        self._to_server[c.id] = out.id
        self._from_server[out.id] = c.id
        if c.status is not CampaignStatus.ACTIVE:
            self.client.pause_campaign(out.id)

    def add_campaign(self, campaign: Campaign) -> None:
        """Start a campaign mid-run (the simulator's schedule), created on behalf of its merchant."""
        self._create(campaign)
        self._refresh()

    def update_campaign(self, campaign: Campaign) -> None:
        self.client.update_campaign(
            self.server_id(campaign.id),
            name=campaign.name,
            product_ids=list(campaign.product_ids),
            target_roi=str(campaign.target_roi),
            daily_budget_micros=int(campaign.daily_budget_micros),
            status=campaign.status.value,
        )
        self._refresh()

    def set_quality(
        self, product_signals: Sequence[ProductSignals], shop_metrics: Sequence[ShopMetrics]
    ) -> None:
        """Send the products' pool signals and the shops' service metrics (operator calls)."""
        for i in range(0, len(product_signals), 10_000):
            self.client.put_product_signals(product_signals[i : i + 10_000])
        if shop_metrics:
            self.client.put_shop_metrics(shop_metrics)

    def _refresh(self) -> None:
        ids = self.client.catalogue_ids()
        self._products = list(ids.product_ids)
        self._campaigns = [self._from_server.get(c, c) for c in ids.campaign_ids]
        self._version = ids.catalogue_version

    def server_id(self, campaign_id: str) -> str:
        return self._to_server.get(campaign_id, campaign_id)

    def catalogue_ids(self) -> Sequence[str]:
        return self._products

    def campaign_ids(self) -> Sequence[str]:
        return self._campaigns

    def serve_batch(self, batch: RequestBatch) -> ServedBatch:
        n = len(batch.request_ids)
        if n > self.SERVE_BATCH:
            parts = [
                self.serve_batch(
                    RequestBatch(
                        request_ids=batch.request_ids[i : i + self.SERVE_BATCH],
                        user_ids=batch.user_ids[i : i + self.SERVE_BATCH],
                        kinds=batch.kinds[i : i + self.SERVE_BATCH],
                        queries=batch.queries[i : i + self.SERVE_BATCH],
                        ts_ms=batch.ts_ms,
                        slots=batch.slots,
                    )
                )
                for i in range(0, n, self.SERVE_BATCH)
            ]
            return _served({k: np.concatenate([getattr(p, k) for p in parts]) for k in SERVED})
        reqs = [
            ServeIn(
                request_id=batch.request_ids[i],
                user_id=batch.user_ids[i],
                kind="search" if int(batch.kinds[i]) == 0 else "feed",
                query=batch.queries[i][:500],
                slots=batch.slots,
                ts_ms=batch.ts_ms,
            )
            for i in range(len(batch.request_ids))
        ]
        out = self.client.serve_batch(reqs)
        if out.catalogue_version != self._version:
            self._refresh()
        return _served(
            {k: np.array(getattr(out, k), dtype=t).reshape(len(reqs), -1) for k, t in SERVED.items()}
        )

    def record_events(self, events: Sequence[Event]) -> EventReceipt:
        inserted = dups = 0
        for i in range(0, len(events), self.EVENT_BATCH):
            chunk = [
                e if not e.campaign_id else _with_campaign(e, self.server_id(e.campaign_id))
                for e in events[i : i + self.EVENT_BATCH]
            ]
            r = self.client.post_events(chunk)
            inserted += r.inserted
            dups += r.duplicates
        return EventReceipt(inserted, dups)

    def settle(self, start_ms: int, end_ms: int) -> HttpSettlement:
        out = self.client.settle(start_ms=start_ms, end_ms=end_ms)
        return HttpSettlement(
            period=out.period,
            campaigns=[
                replace(c, campaign_id=self._from_server.get(c.campaign_id, c.campaign_id))
                for c in out.campaigns
            ],
        )


def _served(a: dict[str, np.ndarray]) -> ServedBatch:
    return ServedBatch(
        product_idx=a["product_idx"],
        promoted=a["promoted"],
        campaign_idx=a["campaign_idx"],
        price_cpc_micros=a["price_cpc_micros"],
        pctr=a["pctr"],
        pcvr=a["pcvr"],
    )


def _with_campaign(e: Event, campaign_id: str) -> Event:
    return replace(e, campaign_id=campaign_id)
