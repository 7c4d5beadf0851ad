"""A small typed Python client for the sitewide HTTP API, and an HTTP adapter of the ``MarketEngine`` port
so that the simulator can drive a running server exactly as it drives an in-process engine."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import httpx
import numpy as np

from sitewide.domain.types import Campaign, Event, Product, Shop
from sitewide.ports import EventReceipt, RequestBatch, ServedBatch


class ApiError(RuntimeError):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


class SitewideClient:
    def __init__(
        self, base_url: str, timeout: float = 60.0, transport: httpx.BaseTransport | None = None
    ) -> None:
        self._http = httpx.Client(base_url=base_url, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, json: Any = None) -> Any:
        r = self._http.request(method, path, json=json)
        if r.status_code >= 400:
            try:
                detail = r.json().get("detail", r.text)
            except ValueError:
                detail = r.text
            raise ApiError(r.status_code, str(detail))
        return r.json()

    def health(self) -> dict[str, Any]:
        return dict(self._call("GET", "/health"))

    def import_catalogue(self, shops: Sequence[Shop], products: Sequence[Product]) -> dict[str, Any]:
        body = {
            "shops": [{"id": s.id, "merchant_id": s.merchant_id, "name": s.name} for s in shops],
            "products": [
                {
                    "id": p.id,
                    "shop_id": p.shop_id,
                    "title": p.title,
                    "category": p.category,
                    "price_micros": int(p.price_micros),
                    "brand": p.brand,
                }
                for p in products
            ],
        }
        return dict(self._call("POST", "/catalogue", body))

    def catalogue_ids(self) -> dict[str, Any]:
        return dict(self._call("GET", "/catalogue/ids"))

    def create_campaign(
        self,
        merchant_id: str,
        name: str,
        product_ids: Sequence[str],
        target_roi: str,
        daily_budget_micros: int,
    ) -> dict[str, Any]:
        body = {
            "merchant_id": merchant_id,
            "name": name,
            "product_ids": list(product_ids),
            "target_roi": target_roi,
            "daily_budget_micros": daily_budget_micros,
        }
        return dict(self._call("POST", "/campaigns", body))

    def get_campaign(self, campaign_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/campaigns/{campaign_id}"))

    def serve(
        self,
        request_id: str,
        user_id: str,
        query: str = "",
        kind: str = "search",
        slots: int = 10,
        ts_ms: int = 0,
    ) -> dict[str, Any]:
        body = {
            "request_id": request_id,
            "user_id": user_id,
            "kind": kind,
            "query": query,
            "slots": slots,
            "ts_ms": ts_ms,
        }
        return dict(self._call("POST", "/serve", body))

    def serve_batch(self, requests: list[dict[str, Any]]) -> dict[str, Any]:
        return dict(self._call("POST", "/serve/batch", {"requests": requests}))

    def post_events(self, events: Sequence[Event]) -> dict[str, Any]:
        body = {"events": [_event_json(e) for e in events]}
        return dict(self._call("POST", "/events", body))

    def settle(
        self, day: str | None = None, start_ms: int | None = None, end_ms: int | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if day is not None:
            body["day"] = day
        if start_ms is not None and end_ms is not None:
            body.update(start_ms=start_ms, end_ms=end_ms)
        return dict(self._call("POST", "/settle", body))

    def campaign_report(self, campaign_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/reports/campaigns/{campaign_id}"))


def _event_json(e: Event) -> dict[str, Any]:
    d = asdict(e)
    d["kind"] = e.kind.value
    d["price_micros"] = int(e.price_micros)
    d["order_value_micros"] = int(e.order_value_micros)
    return {k: v for k, v in d.items() if v is not None and v != ""}


@dataclass(frozen=True)
class CampaignFigures:
    campaign_id: str
    spend_micros: int
    gmv_micros: int
    compensation_micros: int
    orders: int
    clicks: int


@dataclass(frozen=True)
class HttpSettlement:
    period: str
    campaigns: list[CampaignFigures]


class HttpMarketEngine:
    """``MarketEngine`` over HTTP. Campaigns are created through the API (server-side ids); this adapter maps
    the caller's campaign ids to the server's so the simulator sees its own ids throughout."""

    EVENT_BATCH = 1_000

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
            out = client.create_campaign(
                c.merchant_id, c.name, c.product_ids, str(c.target_roi), int(c.daily_budget_micros)
            )
            eng._to_server[c.id] = out["id"]
            eng._from_server[out["id"]] = c.id
        eng._refresh()
        return eng

    def _refresh(self) -> None:
        ids = self.client.catalogue_ids()
        self._products = list(ids["product_ids"])
        self._campaigns = [self._from_server.get(c, c) for c in ids["campaign_ids"]]
        self._version = ids["catalogue_version"]

    def server_id(self, campaign_id: str) -> str:
        return self._to_server.get(campaign_id, campaign_id)

    def catalogue_ids(self) -> Sequence[str]:
        return self._products

    def campaign_ids(self) -> Sequence[str]:
        return self._campaigns

    def serve_batch(self, batch: RequestBatch) -> ServedBatch:
        reqs = [
            {
                "request_id": batch.request_ids[i],
                "user_id": batch.user_ids[i],
                "kind": "search" if int(batch.kinds[i]) == 0 else "feed",
                "query": batch.queries[i][:500],
                "slots": batch.slots,
                "ts_ms": batch.ts_ms,
            }
            for i in range(len(batch.request_ids))
        ]
        out = self.client.serve_batch(reqs)
        if out["catalogue_version"] != self._version:
            self._refresh()
        return ServedBatch(
            product_idx=np.array(out["product_idx"], dtype=np.int64).reshape(len(reqs), -1),
            promoted=np.array(out["promoted"], dtype=bool).reshape(len(reqs), -1),
            campaign_idx=np.array(out["campaign_idx"], dtype=np.int64).reshape(len(reqs), -1),
            price_cpc_micros=np.array(out["price_cpc_micros"], dtype=np.int64).reshape(len(reqs), -1),
            pctr=np.array(out["pctr"], dtype=np.float64).reshape(len(reqs), -1),
            pcvr=np.array(out["pcvr"], dtype=np.float64).reshape(len(reqs), -1),
        )

    def record_events(self, events: Sequence[Event]) -> EventReceipt:
        inserted = dups = 0
        for i in range(0, len(events), self.EVENT_BATCH):
            chunk = [
                e if not e.campaign_id else _with_campaign(e, self.server_id(e.campaign_id))
                for e in events[i : i + self.EVENT_BATCH]
            ]
            r = self.client.post_events(chunk)
            inserted += r["inserted"]
            dups += r["duplicates"]
        return EventReceipt(inserted, dups)

    def settle(self, start_ms: int, end_ms: int) -> HttpSettlement:
        out = self.client.settle(start_ms=start_ms, end_ms=end_ms)
        return HttpSettlement(
            period=out["period"],
            campaigns=[
                CampaignFigures(
                    campaign_id=self._from_server.get(c["campaign_id"], c["campaign_id"]),
                    spend_micros=c["spend_micros"],
                    gmv_micros=c["gmv_micros"],
                    compensation_micros=c["compensation_micros"],
                    orders=c["orders"],
                    clicks=c["clicks"],
                )
                for c in out["campaigns"]
            ],
        )


def _with_campaign(e: Event, campaign_id: str) -> Event:
    from dataclasses import replace

    return replace(e, campaign_id=campaign_id)
