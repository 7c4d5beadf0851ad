"""A :class:`~sitewide.ports.MarketEngine` over the service's HTTP API, so the simulator can drive a running
server (the demo) exactly as it drives the in-process engine.

    engine = HttpEngine("http://127.0.0.1:8000")
    run_simulation(SimConfig.demo(), make_engine=lambda world: engine)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

from sitewide.domain.types import Conflict, DomainError, Event, NotFound, ValidationError
from sitewide.ports import EventReceipt, RequestBatch, ServedBatch

MAX_SERVE_BATCH = 2_000


@dataclass(frozen=True, slots=True)
class CampaignSettlement:
    campaign_id: str
    spend_micros: int
    gmv_micros: int
    compensation_micros: int


@dataclass(frozen=True, slots=True)
class SettlementSummary:
    period: str
    campaigns: list[CampaignSettlement] = field(default_factory=list)


def _raise_for(resp: httpx.Response) -> None:
    if resp.status_code < 400:
        return
    try:
        detail = resp.json().get("detail", resp.text)
    except ValueError:
        detail = resp.text
    err: type[DomainError] = {404: NotFound, 409: Conflict, 422: ValidationError}.get(
        resp.status_code, DomainError
    )
    raise err(f"{resp.request.method} {resp.request.url.path}: {resp.status_code} {detail}")


class HttpEngine:
    """Client for ``GET /catalogue/ids``, ``POST /serve/batch``, ``POST /events``, ``POST /settle``.
    Pass ``client`` (any ``httpx.Client``, e.g. FastAPI's ``TestClient``) instead of ``base_url`` in tests."""

    def __init__(self, base_url: str = "http://127.0.0.1:8000", client: httpx.Client | None = None) -> None:
        self.client = client or httpx.Client(base_url=base_url, timeout=60.0)
        self._ids: list[str] | None = None
        self._campaigns: list[str] | None = None

    def _load_ids(self) -> None:
        r = self.client.get("/catalogue/ids")
        _raise_for(r)
        body = r.json()
        self._ids = list(body["product_ids"])
        self._campaigns = list(body.get("campaign_ids", []))

    def catalogue_ids(self) -> Sequence[str]:
        if self._ids is None:
            self._load_ids()
        assert self._ids is not None
        return self._ids

    def campaign_ids(self) -> Sequence[str]:
        self._load_ids()  # campaigns can change between days; refresh
        assert self._campaigns is not None
        return self._campaigns

    def serve_batch(self, batch: RequestBatch) -> ServedBatch:
        parts: dict[str, list[Any]] = {
            k: [] for k in ("product_idx", "promoted", "campaign_idx", "price_cpc_micros", "pctr", "pcvr")
        }
        kinds = np.asarray(batch.kinds)
        for lo in range(0, len(batch.request_ids), MAX_SERVE_BATCH):
            hi = min(lo + MAX_SERVE_BATCH, len(batch.request_ids))
            reqs = [
                {
                    "request_id": batch.request_ids[i],
                    "user_id": batch.user_ids[i],
                    "kind": "search" if int(kinds[i]) == 0 else "feed",
                    "query": batch.queries[i],
                    "slots": batch.slots,
                    "ts_ms": batch.ts_ms,
                }
                for i in range(lo, hi)
            ]
            r = self.client.post("/serve/batch", json={"requests": reqs})
            _raise_for(r)
            body = r.json()
            for k in parts:
                parts[k].extend(body[k])
        return ServedBatch(
            product_idx=np.asarray(parts["product_idx"], dtype=np.int64),
            promoted=np.asarray(parts["promoted"], dtype=bool),
            campaign_idx=np.asarray(parts["campaign_idx"], dtype=np.int64),
            price_cpc_micros=np.asarray(parts["price_cpc_micros"], dtype=np.int64),
            pctr=np.asarray(parts["pctr"], dtype=np.float64),
            pcvr=np.asarray(parts["pcvr"], dtype=np.float64),
        )

    def record_events(self, events: Sequence[Event]) -> EventReceipt:
        if not events:
            return EventReceipt(inserted=0, duplicates=0)
        body = []
        for e in events:
            d: dict[str, Any] = {"id": e.id, "kind": e.kind.value, "ts_ms": e.ts_ms}
            for k in ("user_id", "product_id", "request_id"):
                if getattr(e, k):
                    d[k] = getattr(e, k)
            for k in ("campaign_id", "position", "click_id", "impression_id", "order_id"):
                if getattr(e, k) is not None:
                    d[k] = getattr(e, k)
            if e.price_micros:
                d["price_micros"] = int(e.price_micros)
            if e.order_value_micros:
                d["order_value_micros"] = int(e.order_value_micros)
            body.append(d)
        r = self.client.post("/events", json={"events": body})
        _raise_for(r)
        out = r.json()
        return EventReceipt(inserted=int(out["inserted"]), duplicates=int(out["duplicates"]))

    def settle(self, start_ms: int, end_ms: int) -> SettlementSummary:
        r = self.client.post("/settle", json={"start_ms": start_ms, "end_ms": end_ms})
        _raise_for(r)
        body = r.json()
        return SettlementSummary(
            period=str(body.get("period", "")),
            campaigns=[
                CampaignSettlement(
                    campaign_id=c["campaign_id"],
                    spend_micros=int(c["spend_micros"]),
                    gmv_micros=int(c["gmv_micros"]),
                    compensation_micros=int(c["compensation_micros"]),
                )
                for c in body.get("campaigns", [])
            ],
        )
