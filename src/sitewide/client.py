"""A small typed Python client for the sitewide HTTP API: bodies and answers are the API's own pydantic
models from :mod:`sitewide.api` (no FastAPI, no engine). :mod:`sitewide.http_engine` drives the simulator
through it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from decimal import Decimal
from typing import Any, Literal, TypeVar

import httpx
from pydantic import BaseModel

from sitewide.api import fields_of
from sitewide.api.agent import AnswerOut, ApplyIn, AskIn, DigestOut, FindingsOut, JournalEntryOut
from sitewide.api.auctions import AuctionIn, AuctionsIn, AuctionsOut
from sitewide.api.experiments import CheckOut, ExperimentIn, ExperimentOut, ResultOut, StopIn
from sitewide.api.forecast import (
    CampaignForecastOut,
    ForecastOut,
    HoldoutIn,
    HoldoutOut,
    IncrementalityOut,
)
from sitewide.api.reports import (
    AuctionLossesOut,
    CampaignReportOut,
    CampaignStatementOut,
    ReportOut,
    SettleIn,
    SettleOut,
    StatementOut,
)
from sitewide.api.schemas import (
    AppealIn,
    AppealOut,
    CampaignIn,
    CampaignOut,
    CampaignPatch,
    CatalogueIdsOut,
    CatalogueIn,
    CatalogueOut,
    EligibilityOut,
    EventIn,
    EventsIn,
    EventsOut,
    HealthOut,
    ImportOut,
    KeyAuditOut,
    KeyOut,
    MeOut,
    MerchantCreated,
    MerchantIn,
    MerchantOut,
    MetricsIn,
    OperatorKeyIn,
    OperatorKeyOut,
    Page,
    ProductIn,
    ProductOut,
    ProductSignalsIn,
    ResolveIn,
    RevokedOut,
    ServeBatchIn,
    ServeBatchOut,
    ServeIn,
    ServeOut,
    ShopCreate,
    ShopIn,
    ShopMetricsIn,
    ShopOut,
    ShopScoreOut,
    SignalsIn,
    StoredOut,
)
from sitewide.domain.eligibility import ProductSignals
from sitewide.domain.reports import CampaignStatement
from sitewide.domain.shop_score import ShopMetrics
from sitewide.domain.types import Event, Product, Shop


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

    def campaign_forecast(
        self,
        product_ids: Sequence[str],
        target_roi: str | Decimal,
        daily_budget_micros: int,
        campaign_id: str | None = None,
        merchant_id: str | None = None,
    ) -> CampaignForecastOut:
        params = {
            "product_ids": list(product_ids),
            "target_roi": str(target_roi),
            "daily_budget_micros": daily_budget_micros,
            "campaign_id": campaign_id,
            "merchant_id": merchant_id,
        }
        return self._get(CampaignForecastOut, "GET", "/forecast/campaign", params=params)

    def set_holdout(self, campaign_id: str, share: float) -> HoldoutOut:
        return self._get(HoldoutOut, "PUT", f"/campaigns/{campaign_id}/holdout", HoldoutIn(share=share))

    def incrementality(
        self, campaign_id: str, start_day: str | None = None, end_day: str | None = None
    ) -> IncrementalityOut:
        params = {"start_day": start_day, "end_day": end_day}
        return self._get(IncrementalityOut, "GET", f"/campaigns/{campaign_id}/incrementality", params=params)

    # the merchant decision agent ----------------------------------------------------------------------
    def agent_findings(self, day: str | None = None, merchant_id: str | None = None) -> FindingsOut:
        return self._get(
            FindingsOut, "GET", "/agent/findings", params={"day": day, "merchant_id": merchant_id}
        )

    def agent_ask(self, question: str, merchant_id: str | None = None) -> AnswerOut:
        return self._get(AnswerOut, "POST", "/agent/ask", AskIn(question=question, merchant_id=merchant_id))

    def agent_apply(
        self, suggestion_id: str, day: str | None = None, merchant_id: str | None = None
    ) -> JournalEntryOut:
        body = ApplyIn(suggestion_id=suggestion_id, day=day, merchant_id=merchant_id)
        return self._get(JournalEntryOut, "POST", "/agent/apply", body)

    def agent_undo(self, entry_id: str, merchant_id: str | None = None) -> JournalEntryOut:
        path = f"/agent/journal/{entry_id}/undo"
        return self._get(JournalEntryOut, "POST", path, params={"merchant_id": merchant_id})

    def agent_digest(self, day: str | None = None) -> DigestOut:
        return self._get(DigestOut, "GET", "/agent/digest", params={"day": day})

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

    def auctions(self, auctions: Sequence[AuctionIn]) -> AuctionsOut:
        """The auction-only call: 1–5 auctions over your candidates; ranked winners with resolved bid ids."""
        return self._get(AuctionsOut, "POST", "/auctions", AuctionsIn(auctions=list(auctions)))

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

    def campaign_statement(self, campaign_id: str, period: str | None = None) -> CampaignStatement:
        """The numbers settlement used for one campaign (``period``: one day, or all)."""
        path = f"/campaigns/{campaign_id}/statement"
        return self._get(CampaignStatementOut, "GET", path, params={"period": period}).root

    def statements(self, merchant_id: str | None = None, period: str | None = None) -> Page[StatementOut]:
        params = {"merchant_id": merchant_id, "period": period}
        return self._get(Page[StatementOut], "GET", "/statements", params=params)

    def balances(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self._call("GET", "/ledger/balances").items()}

    # operator keys (operator only) --------------------------------------------------------------------
    def create_operator_key(self, label: str = "") -> str:
        """A new operator key (shown once)."""
        return self._get(KeyOut, "POST", "/operator/keys", OperatorKeyIn(label=label)).api_key

    def operator_keys(self) -> list[OperatorKeyOut]:
        return [OperatorKeyOut.model_validate(k) for k in self._call("GET", "/operator/keys")]

    def revoke_operator_key(self, prefix: str) -> RevokedOut:
        return self._get(RevokedOut, "DELETE", f"/operator/keys/{prefix}")

    def rotate_operator_key(self, prefix: str) -> str:
        """A new key in place of ``prefix``'s, which is revoked in the same step (the new key is shown once)."""
        return self._get(KeyOut, "POST", f"/operator/keys/{prefix}/rotate").api_key

    def operator_key_audit(self, limit: int = 100) -> list[KeyAuditOut]:
        rows = self._call("GET", "/operator/keys/audit", params={"limit": limit})
        return [KeyAuditOut.model_validate(a) for a in rows]

    # experiments --------------------------------------------------------------------------------------
    def create_experiment(self, body: ExperimentIn) -> ExperimentOut:
        return self._get(ExperimentOut, "POST", "/experiments", body)

    def list_experiments(self, **filters: Any) -> Page[ExperimentOut]:
        """Filters: merchant_id (operator), status ("running" or "stopped"), offset, limit."""
        return self._get(Page[ExperimentOut], "GET", "/experiments", params=filters)

    def get_experiment(self, experiment_id: str) -> ExperimentOut:
        return self._get(ExperimentOut, "GET", f"/experiments/{experiment_id}")

    def experiment_results(self, experiment_id: str) -> ResultOut:
        return self._get(ResultOut, "GET", f"/experiments/{experiment_id}/results")

    def stop_experiment(
        self, experiment_id: str, winner: str | None = None, reason: str = ""
    ) -> ExperimentOut:
        """Stop the test; every user is served ``winner`` from now on (the control when ``None``)."""
        body = StopIn(**_given(winner=winner, reason=reason))
        return self._get(ExperimentOut, "POST", f"/experiments/{experiment_id}/stop", body)

    def apply_experiment(self, experiment_id: str) -> ExperimentOut:
        return self._get(ExperimentOut, "POST", f"/experiments/{experiment_id}/apply")

    def check_experiments(self) -> list[CheckOut]:
        """Operator only: apply every running test's stopping rules now."""
        return [CheckOut.model_validate(c) for c in self._call("POST", "/experiments/check")]


def _given(**fields: Any) -> dict[str, Any]:
    """The fields that have a value: the others are left out of the body (the API's defaults apply)."""
    return {k: v for k, v in fields.items() if v is not None and v != ""}


def _event_in(e: Event) -> EventIn:
    d = asdict(e)
    d["kind"] = e.kind.value
    d["price_micros"] = int(e.price_micros)
    d["order_value_micros"] = int(e.order_value_micros)
    return EventIn(**_given(**d))
