"""Rows ↔ domain objects for the SQL store: money as int micros, Decimals as exact text, lists as JSON."""

from __future__ import annotations

import json
from decimal import Decimal

from sitewide.domain.guarantee import GuaranteeEvaluation
from sitewide.domain.money import Micros
from sitewide.domain.settlement import DayFigures, SettlementRun
from sitewide.domain.terms import CampaignTerms
from sitewide.domain.types import (
    Campaign,
    CampaignStatus,
    Event,
    EventKind,
    LedgerEntry,
)

EVENT_COLS = (
    "kind",
    "ts_ms",
    "user_id",
    "product_id",
    "request_id",
    "campaign_id",
    "position",
    "price_micros",
    "order_value_micros",
    "click_id",
    "impression_id",
    "order_id",
)


def event_row(e: Event) -> dict[str, object]:
    return {"id": e.id, **dict(zip(EVENT_COLS, e.body(), strict=True))}


def event_from_row(r: object) -> Event:
    m = r._mapping  # type: ignore[attr-defined]
    return Event(
        id=m["id"],
        kind=EventKind(m["kind"]),
        ts_ms=int(m["ts_ms"]),
        user_id=m["user_id"],
        product_id=m["product_id"],
        request_id=m["request_id"],
        campaign_id=m["campaign_id"],
        position=m["position"],
        price_micros=Micros(int(m["price_micros"])),
        order_value_micros=Micros(int(m["order_value_micros"])),
        click_id=m["click_id"],
        impression_id=m["impression_id"],
        order_id=m["order_id"],
    )


def campaign_from_row(r: object) -> Campaign:
    m = r._mapping  # type: ignore[attr-defined]
    return Campaign(
        id=m["id"],
        merchant_id=m["merchant_id"],
        name=m["name"],
        product_ids=tuple(json.loads(m["product_ids"])),
        target_roi=Decimal(m["target_roi"]),
        daily_budget_micros=Micros(int(m["daily_budget_micros"])),
        status=CampaignStatus(m["status"]),
        created_ms=int(m["created_ms"]),
    )


def campaign_row(c: Campaign) -> dict[str, object]:
    return {
        "id": c.id,
        "merchant_id": c.merchant_id,
        "name": c.name,
        "product_ids": json.dumps(list(c.product_ids)),
        "target_roi": str(c.target_roi),
        "daily_budget_micros": int(c.daily_budget_micros),
        "status": c.status.value,
        "created_ms": c.created_ms,
    }


def terms_row(t: CampaignTerms) -> dict[str, object]:
    return {
        "campaign_id": t.campaign_id,
        "version": t.version,
        "effective_ms": t.effective_ms,
        "target_roi": str(t.target_roi),
        "daily_budget_micros": t.daily_budget_micros,
        "status": t.status.value,
        "product_ids": json.dumps(list(t.product_ids)),
    }


def terms_from_row(r: object) -> CampaignTerms:
    m = r._mapping  # type: ignore[attr-defined]
    return CampaignTerms(
        campaign_id=m["campaign_id"],
        version=int(m["version"]),
        effective_ms=int(m["effective_ms"]),
        target_roi=Decimal(m["target_roi"]),
        daily_budget_micros=int(m["daily_budget_micros"]),
        status=CampaignStatus(m["status"]),
        product_ids=tuple(json.loads(m["product_ids"])),
    )


def entry_from_row(r: object) -> LedgerEntry:
    m = r._mapping  # type: ignore[attr-defined]
    return LedgerEntry(
        m["txn_id"],
        m["account"],
        Micros(int(m["amount_micros"])),
        m["memo"],
        m["merchant_id"],
        m["campaign_id"],
        m["day"],
        m["window_key"],
    )


def run_from_row(r: object) -> SettlementRun:
    m = r._mapping  # type: ignore[attr-defined]
    return SettlementRun(
        seq=int(m["seq"]),
        period=m["period"],
        start_ms=int(m["start_ms"]),
        end_ms=int(m["end_ms"]),
        as_of_ms=int(m["as_of_ms"]),
        event_watermark=int(m["event_watermark"]),
        ts_ms=int(m["ts_ms"]),
    )


FIG_INTS = (
    "budget_micros",
    "clicks",
    "invalid_clicks",
    "billable_clicks",
    "raw_spend_micros",
    "spend_micros",
    "orders",
    "gross_gmv_micros",
    "refunded_micros",
)


def fig_row(run_seq: int, f: DayFigures) -> dict[str, object]:
    return {
        "run_seq": run_seq,
        "campaign_id": f.campaign_id,
        "day": f.day,
        "merchant_id": f.merchant_id,
        "invalid_by_rule": json.dumps([list(x) for x in f.invalid_by_rule]),
        "target_roi": str(f.target_roi),
        "terms_versions": json.dumps(list(f.terms_versions)),
        **{k: int(getattr(f, k)) for k in FIG_INTS},
    }


def fig_from_row(r: object) -> DayFigures:
    m = r._mapping  # type: ignore[attr-defined]
    return DayFigures(
        campaign_id=m["campaign_id"],
        merchant_id=m["merchant_id"],
        day=m["day"],
        invalid_by_rule=tuple((str(a), int(b)) for a, b in json.loads(m["invalid_by_rule"])),
        target_roi=Decimal(m["target_roi"]),
        terms_versions=tuple(int(v) for v in json.loads(m["terms_versions"])),
        **{k: int(m[k]) for k in FIG_INTS},
    )


def eval_row(run_seq: int, g: GuaranteeEvaluation) -> dict[str, object]:
    return {
        "run_seq": run_seq,
        "campaign_id": g.campaign_id,
        "window_key": g.window,
        "merchant_id": g.merchant_id,
        "first_day": g.first_day,
        "days": g.days,
        "contract_version": g.contract_version,
        "contract": g.contract,
        "target_roi": str(g.target_roi),
        "spend_micros": g.spend_micros,
        "gmv_micros": g.gmv_micros,
        "orders": g.orders,
        "triggered": g.triggered,
        "due_micros": g.due_micros,
        "reason": g.reason,
    }


def eval_from_row(r: object) -> GuaranteeEvaluation:
    m = r._mapping  # type: ignore[attr-defined]
    return GuaranteeEvaluation(
        campaign_id=m["campaign_id"],
        merchant_id=m["merchant_id"],
        window=m["window_key"],
        first_day=m["first_day"],
        days=int(m["days"]),
        contract_version=int(m["contract_version"]),
        contract=m["contract"],
        target_roi=Decimal(m["target_roi"]),
        spend_micros=int(m["spend_micros"]),
        gmv_micros=int(m["gmv_micros"]),
        orders=int(m["orders"]),
        triggered=bool(m["triggered"]),
        due_micros=int(m["due_micros"]),
        reason=m["reason"],
    )
