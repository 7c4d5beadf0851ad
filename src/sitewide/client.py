"""A small typed Python client for the sitewide HTTP API (bodies and answers are the API's own pydantic
models from :mod:`sitewide.api`; no FastAPI, no engine), and an HTTP adapter of the ``MarketEngine`` port so
that the simulator can drive a running server exactly as it drives an in-process engine."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from decimal import Decimal
from typing import Any, Literal, TypeVar

import httpx
import numpy as np
from pydantic import BaseModel

from sitewide.api import fields_of
from sitewide.api.schemas import (
    AppealIn,
    AppealOut,
    AuctionLossesOut,
    CampaignIn,
    CampaignOut,
    CampaignPatch,
    CampaignReportOut,
    CatalogueIdsOut,
    CatalogueIn,
    CatalogueOut,
    EligibilityOut,
    EventIn,
    EventsIn,
    EventsOut,
    ForecastOut,
    HealthOut,
    ImportOut,
    KeyOut,
    MeOut,
    MerchantCreated,
    MerchantIn,
    MerchantOut,
    MetricsIn,
    Page,
    ProductIn,
    ProductOut,
    ProductSignalsIn,
    ReportOut,
    ResolveIn,
    ServeBatchIn,
    ServeBatchOut,
    ServeIn,
    ServeOut,
    SettleIn,
    SettleOut,
    ShopCreate,
    ShopIn,
    ShopMetricsIn,
    ShopOut,
    ShopScoreOut,
    SignalsIn,
    StatementOut,
    StoredOut,
)
from sitewide.domain.eligibility import ProductSignals
from sitewide.domain.shop_score import ShopMetrics
from sitewide.domain.types import Campaign, CampaignStatus, Event, Product, Shop
from sitewide.ports import EventReceipt, RequestBatch, ServedBatch


class ApiError(RuntimeError):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


M = TypeVar("M", bound=BaseModel)


class SitewideClient:
    """Typed calls to the API: every method returns the API's own response model (``sitewide.api``). ``api_key``
    is sent as ``Authorization: Bearer``: the operator's key for platform calls (catalogue, serve, events,
    settle), a merchant's for its own objects."""

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
        body: BaseModel | None = None,
        params: dict[str, Any] | None = None,
        content: str | None = None,
        content_type: str | None = None,
    ) -> Any:
        headers = {"Content-Type": content_type} if content_type else None
        query = {k: v for k, v in (params or {}).items() if v is not None}
        json = None if body is None else body.model_dump(mode="json", exclude_unset=True)
        r = self._http.request(method, path, json=json, params=query, content=content, headers=headers)
        if r.status_code >= 400:
            try:
                detail = r.json().get("detail", r.text)
            except ValueError:
                detail = r.text
            raise ApiError(r.status_code, str(detail))
        return r.json()

    def _get(self, model: type[M], method: str, path: str, body: BaseModel | None = None, **kw: Any) -> M:
        return model.model_validate(self._call(method, path, body, **kw))

    def health(self) -> HealthOut:
        return self._get(HealthOut, "GET", "/health")

    def import_catalogue(self, shops: Sequence[Shop], products: Sequence[Product]) -> CatalogueOut:
        body = CatalogueIn(
            shops=[fields_of(ShopIn, s) for s in shops],
            products=[fields_of(ProductIn, p) for p in products],
        )
        return self._get(CatalogueOut, "POST", "/catalogue", body)

    def catalogue_ids(self) -> CatalogueIdsOut:
        return self._get(CatalogueIdsOut, "GET", "/catalogue/ids")

    # identity, merchants and keys ------------------------------------------------------------------
    def me(self) -> MeOut:
        return self._get(MeOut, "GET", "/me")

    def create_merchant(self, merchant_id: str, name: str) -> MerchantCreated:
        """Operator: the merchant and its first API key (shown once)."""
        return self._get(MerchantCreated, "POST", "/merchants", MerchantIn(id=merchant_id, name=name))

    def list_merchants(self, offset: int = 0, limit: int = 100) -> Page[MerchantOut]:
        return self._get(Page[MerchantOut], "GET", "/merchants", params={"offset": offset, "limit": limit})

    def issue_key(self, merchant_id: str) -> str:
        return self._get(KeyOut, "POST", f"/merchants/{merchant_id}/keys").api_key

    # shops and products -----------------------------------------------------------------------------
    def create_shop(self, shop_id: str, name: str, merchant_id: str | None = None) -> ShopOut:
        body = ShopCreate(id=shop_id, name=name, **_given(merchant_id=merchant_id))
        return self._get(ShopOut, "POST", "/shops", body)

    def list_shops(self, offset: int = 0, limit: int = 100) -> Page[ShopOut]:
        return self._get(Page[ShopOut], "GET", "/shops", params={"offset": offset, "limit": limit})

    def shop_score(self, shop_id: str) -> ShopScoreOut:
        return self._get(ShopScoreOut, "GET", f"/shops/{shop_id}/score")

    def list_products(self, **filters: Any) -> Page[ProductOut]:
        """Filters: shop_id, category, eligible, q, offset, limit."""
        return self._get(Page[ProductOut], "GET", "/products", params=filters)

    def get_product(self, product_id: str) -> ProductOut:
        return self._get(ProductOut, "GET", f"/products/{product_id}")

    def import_products_csv(self, csv_text: str) -> ImportOut:
        return self._get(ImportOut, "POST", "/products/import", content=csv_text, content_type="text/csv")

    def eligibility(self, product_id: str) -> EligibilityOut:
        return self._get(EligibilityOut, "GET", f"/products/{product_id}/eligibility")

    def put_product_signals(self, signals: Sequence[ProductSignals]) -> StoredOut:
        body = SignalsIn(products=[fields_of(ProductSignalsIn, s) for s in signals])
        return self._get(StoredOut, "PUT", "/products/signals", body)

    def put_shop_metrics(self, metrics: Sequence[ShopMetrics]) -> StoredOut:
        body = MetricsIn(shops=[fields_of(ShopMetricsIn, m) for m in metrics])
        return self._get(StoredOut, "PUT", "/shops/metrics", body)

    # campaigns ----------------------------------------------------------------------------------------
    def create_campaign(
        self,
        merchant_id: str | None,
        name: str,
        product_ids: Sequence[str],
        target_roi: str | Decimal,
        daily_budget_micros: int,
        created_ms: int | None = None,
    ) -> CampaignOut:
        """``merchant_id``: the merchant the operator acts for; ``None`` with a merchant's key.
        ``created_ms`` (operator only): when the campaign started, for replays and simulations."""
        body = CampaignIn(
            name=name,
            product_ids=list(product_ids),
            target_roi=Decimal(target_roi),
            daily_budget_micros=daily_budget_micros,
            **_given(merchant_id=merchant_id, created_ms=created_ms),
        )
        return self._get(CampaignOut, "POST", "/campaigns", body)

    def get_campaign(self, campaign_id: str) -> CampaignOut:
        return self._get(CampaignOut, "GET", f"/campaigns/{campaign_id}")

    def list_campaigns(self, **filters: Any) -> Page[CampaignOut]:
        """Filters: merchant_id (operator), status, product_id, offset, limit."""
        return self._get(Page[CampaignOut], "GET", "/campaigns", params=filters)

    def update_campaign(self, campaign_id: str, **changes: Any) -> CampaignOut:
        """Changes: name, product_ids, target_roi, daily_budget_micros, status (others keep their value)."""
        return self._get(CampaignOut, "PATCH", f"/campaigns/{campaign_id}", CampaignPatch(**changes))

    def pause_campaign(self, campaign_id: str) -> CampaignOut:
        return self._get(CampaignOut, "POST", f"/campaigns/{campaign_id}/pause")

    def resume_campaign(self, campaign_id: str) -> CampaignOut:
        return self._get(CampaignOut, "POST", f"/campaigns/{campaign_id}/resume")

    def auction_losses(self, campaign_id: str, samples: int = 50) -> AuctionLossesOut:
        path = f"/campaigns/{campaign_id}/auction-losses"
        return self._get(AuctionLossesOut, "GET", path, params={"samples": samples})

    def forecast(
        self, target_roi: str | Decimal, daily_budget_micros: int, campaign_id: str | None = None
    ) -> ForecastOut:
        params = {
            "target_roi": str(target_roi),
            "daily_budget_micros": daily_budget_micros,
            "campaign_id": campaign_id,
        }
        return self._get(ForecastOut, "GET", "/forecast", params=params)

    # appeals ------------------------------------------------------------------------------------------
    def appeal(self, kind: Literal["product", "shop"], object_id: str, message: str) -> AppealOut:
        body = AppealIn(kind=kind, object_id=object_id, message=message)
        return self._get(AppealOut, "POST", "/appeals", body)

    def resolve_appeal(
        self, appeal_id: str, decision: Literal["accepted", "rejected"], resolution: str
    ) -> AppealOut:
        body = ResolveIn(decision=decision, resolution=resolution)
        return self._get(AppealOut, "POST", f"/appeals/{appeal_id}/resolve", body)

    def list_appeals(self, **filters: Any) -> Page[AppealOut]:
        """Filters: status, object_id, offset, limit."""
        return self._get(Page[AppealOut], "GET", "/appeals", params=filters)

    # platform: serving, events, settlement ----------------------------------------------------------
    def serve(
        self,
        request_id: str,
        user_id: str,
        query: str = "",
        kind: Literal["search", "feed"] = "search",
        slots: int = 10,
        ts_ms: int = 0,
    ) -> ServeOut:
        body = ServeIn(
            request_id=request_id, user_id=user_id, kind=kind, query=query, slots=slots, ts_ms=ts_ms
        )
        return self._get(ServeOut, "POST", "/serve", body)

    def serve_batch(self, requests: Sequence[ServeIn]) -> ServeBatchOut:
        return self._get(ServeBatchOut, "POST", "/serve/batch", ServeBatchIn(requests=list(requests)))

    def post_events(self, events: Sequence[Event]) -> EventsOut:
        return self._get(EventsOut, "POST", "/events", EventsIn(events=[_event_in(e) for e in events]))

    def settle(
        self, day: str | None = None, start_ms: int | None = None, end_ms: int | None = None
    ) -> SettleOut:
        period = (
            _given(start_ms=start_ms, end_ms=end_ms) if start_ms is not None and end_ms is not None else {}
        )
        return self._get(SettleOut, "POST", "/settle", SettleIn(**_given(day=day), **period))

    # reports ------------------------------------------------------------------------------------------
    def campaign_report(self, campaign_id: str) -> CampaignReportOut:
        return self._get(CampaignReportOut, "GET", f"/reports/campaigns/{campaign_id}")

    def report(self, group_by: str = "day", **filters: Any) -> ReportOut:
        """Filters: campaign_id, merchant_id (operator), start_day, end_day, offset, limit."""
        return self._get(ReportOut, "GET", "/reports", params={"group_by": group_by, **filters})

    def statements(self, merchant_id: str | None = None, period: str | None = None) -> Page[StatementOut]:
        params = {"merchant_id": merchant_id, "period": period}
        return self._get(Page[StatementOut], "GET", "/statements", params=params)

    def balances(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self._call("GET", "/ledger/balances").items()}


def _given(**fields: Any) -> dict[str, Any]:
    """The fields that have a value: the others are left out of the body (the API's defaults apply)."""
    return {k: v for k, v in fields.items() if v is not None and v != ""}


def _event_in(e: Event) -> EventIn:
    d = asdict(e)
    d["kind"] = e.kind.value
    d["price_micros"] = int(e.price_micros)
    d["order_value_micros"] = int(e.order_value_micros)
    return EventIn(**_given(**d))


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
                CampaignFigures(
                    campaign_id=self._from_server.get(c.campaign_id, c.campaign_id),
                    spend_micros=c.spend_micros,
                    gmv_micros=c.gmv_micros,
                    compensation_micros=c.compensation_micros,
                    orders=c.orders,
                    clicks=c.clicks,
                )
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
