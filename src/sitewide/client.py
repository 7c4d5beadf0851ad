"""A small typed Python client for the sitewide HTTP API, and an HTTP adapter of the ``MarketEngine`` port
so that the simulator can drive a running server exactly as it drives an in-process engine."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import httpx
import numpy as np

from sitewide.domain.eligibility import ProductSignals
from sitewide.domain.shop_score import ShopMetrics
from sitewide.domain.types import Campaign, CampaignStatus, Event, Product, Shop
from sitewide.ports import EventReceipt, RequestBatch, ServedBatch


class ApiError(RuntimeError):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


class SitewideClient:
    """Typed calls to the API. ``api_key`` is sent as ``Authorization: Bearer``: the operator's key for
    platform calls (catalogue, serve, events, settle), a merchant's for its own objects."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        """``http``: an existing client to send through (e.g. FastAPI's TestClient); then ``base_url``,
        ``timeout`` and ``transport`` are its own."""
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        if http is not None:
            http.headers.update(headers)
            self._http = http
        else:
            self._http = httpx.Client(
                base_url=base_url, timeout=timeout, transport=transport, headers=headers
            )

    def close(self) -> None:
        self._http.close()

    def _call(
        self,
        method: str,
        path: str,
        json: Any = None,
        params: dict[str, Any] | None = None,
        content: str | None = None,
        content_type: str | None = None,
    ) -> Any:
        headers = {"Content-Type": content_type} if content_type else None
        query = {k: v for k, v in (params or {}).items() if v is not None}
        r = self._http.request(method, path, json=json, params=query, content=content, headers=headers)
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

    # identity, merchants and keys ------------------------------------------------------------------
    def me(self) -> dict[str, Any]:
        return dict(self._call("GET", "/me"))

    def create_merchant(self, merchant_id: str, name: str) -> dict[str, Any]:
        """Operator: returns ``{"merchant": ..., "api_key": ...}`` (the key is shown once)."""
        return dict(self._call("POST", "/merchants", {"id": merchant_id, "name": name}))

    def list_merchants(self, offset: int = 0, limit: int = 100) -> dict[str, Any]:
        return dict(self._call("GET", "/merchants", params={"offset": offset, "limit": limit}))

    def issue_key(self, merchant_id: str) -> str:
        return str(self._call("POST", f"/merchants/{merchant_id}/keys")["api_key"])

    # shops and products -----------------------------------------------------------------------------
    def create_shop(self, shop_id: str, name: str, merchant_id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"id": shop_id, "name": name}
        if merchant_id is not None:
            body["merchant_id"] = merchant_id
        return dict(self._call("POST", "/shops", body))

    def list_shops(self, offset: int = 0, limit: int = 100) -> dict[str, Any]:
        return dict(self._call("GET", "/shops", params={"offset": offset, "limit": limit}))

    def shop_score(self, shop_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/shops/{shop_id}/score"))

    def list_products(self, **filters: Any) -> dict[str, Any]:
        """Filters: shop_id, category, eligible, q, offset, limit."""
        return dict(self._call("GET", "/products", params=filters))

    def get_product(self, product_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/products/{product_id}"))

    def import_products_csv(self, csv_text: str) -> dict[str, Any]:
        return dict(self._call("POST", "/products/import", content=csv_text, content_type="text/csv"))

    def eligibility(self, product_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/products/{product_id}/eligibility"))

    def put_product_signals(self, signals: Sequence[ProductSignals]) -> dict[str, Any]:
        body = [
            {
                "product_id": s.product_id,
                "rating": s.rating,
                "review_count": s.review_count,
                "return_rate": s.return_rate,
                "sales_30d": s.sales_30d,
                "stock": s.stock,
            }
            for s in signals
        ]
        return dict(self._call("PUT", "/products/signals", {"products": body}))

    def put_shop_metrics(self, metrics: Sequence[ShopMetrics]) -> dict[str, Any]:
        return dict(self._call("PUT", "/shops/metrics", {"shops": [asdict(m) for m in metrics]}))

    # campaigns ----------------------------------------------------------------------------------------
    def create_campaign(
        self,
        merchant_id: str | None,
        name: str,
        product_ids: Sequence[str],
        target_roi: str,
        daily_budget_micros: int,
        created_ms: int | None = None,
    ) -> dict[str, Any]:
        """``merchant_id``: the merchant the operator acts for; ``None`` with a merchant's key.
        ``created_ms`` (operator only): when the campaign started, for replays and simulations."""
        body: dict[str, Any] = {
            "name": name,
            "product_ids": list(product_ids),
            "target_roi": target_roi,
            "daily_budget_micros": daily_budget_micros,
        }
        if merchant_id is not None:
            body["merchant_id"] = merchant_id
        if created_ms is not None:
            body["created_ms"] = created_ms
        return dict(self._call("POST", "/campaigns", body))

    def get_campaign(self, campaign_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/campaigns/{campaign_id}"))

    def list_campaigns(self, **filters: Any) -> dict[str, Any]:
        """Filters: merchant_id (operator), status, product_id, offset, limit."""
        return dict(self._call("GET", "/campaigns", params=filters))

    def update_campaign(self, campaign_id: str, **changes: Any) -> dict[str, Any]:
        """Changes: name, product_ids, target_roi (str), daily_budget_micros, status."""
        return dict(self._call("PATCH", f"/campaigns/{campaign_id}", changes))

    def pause_campaign(self, campaign_id: str) -> dict[str, Any]:
        return dict(self._call("POST", f"/campaigns/{campaign_id}/pause"))

    def resume_campaign(self, campaign_id: str) -> dict[str, Any]:
        return dict(self._call("POST", f"/campaigns/{campaign_id}/resume"))

    def auction_losses(self, campaign_id: str, samples: int = 50) -> dict[str, Any]:
        return dict(
            self._call("GET", f"/campaigns/{campaign_id}/auction-losses", params={"samples": samples})
        )

    def forecast(
        self, target_roi: str, daily_budget_micros: int, campaign_id: str | None = None
    ) -> dict[str, Any]:
        params = {
            "target_roi": target_roi,
            "daily_budget_micros": daily_budget_micros,
            "campaign_id": campaign_id,
        }
        return dict(self._call("GET", "/forecast", params=params))

    # appeals ------------------------------------------------------------------------------------------
    def appeal(self, kind: str, object_id: str, message: str) -> dict[str, Any]:
        return dict(
            self._call("POST", "/appeals", {"kind": kind, "object_id": object_id, "message": message})
        )

    def resolve_appeal(self, appeal_id: str, decision: str, resolution: str) -> dict[str, Any]:
        body = {"decision": decision, "resolution": resolution}
        return dict(self._call("POST", f"/appeals/{appeal_id}/resolve", body))

    def list_appeals(self, **filters: Any) -> dict[str, Any]:
        return dict(self._call("GET", "/appeals", params=filters))

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

    def report(self, group_by: str = "day", **filters: Any) -> dict[str, Any]:
        """Filters: campaign_id, merchant_id (operator), start_day, end_day, offset, limit."""
        return dict(self._call("GET", "/reports", params={"group_by": group_by, **filters}))

    def statements(self, merchant_id: str | None = None, period: str | None = None) -> dict[str, Any]:
        return dict(self._call("GET", "/statements", params={"merchant_id": merchant_id, "period": period}))

    def balances(self) -> dict[str, int]:
        return dict(self._call("GET", "/ledger/balances"))


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
        self._to_server[c.id] = out["id"]
        self._from_server[out["id"]] = c.id
        if c.status is not CampaignStatus.ACTIVE:
            self.client.pause_campaign(out["id"])

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
            return ServedBatch(
                product_idx=np.concatenate([p.product_idx for p in parts]),
                promoted=np.concatenate([p.promoted for p in parts]),
                campaign_idx=np.concatenate([p.campaign_idx for p in parts]),
                price_cpc_micros=np.concatenate([p.price_cpc_micros for p in parts]),
                pctr=np.concatenate([p.pctr for p in parts]),
                pcvr=np.concatenate([p.pcvr for p in parts]),
            )
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
