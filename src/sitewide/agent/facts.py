"""Reading one merchant's data for the agent: the facts the rules judge, gathered through the service's use
cases, the report functions and the engine facade, always for the merchant of the authenticated scope.

:class:`Scope` is the only way in: it is built from the caller's :class:`~sitewide.domain.accounts.Principal`
(a merchant reads itself; the operator names one merchant) and every read goes through the use cases with
that principal, so another merchant's objects are "not found" here exactly as on the API.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, replace

from sitewide.agent.rules import diagnose, forecast_requests
from sitewide.agent.thresholds import Thresholds
from sitewide.agent.types import (
    CampaignFacts,
    CreativeFacts,
    Finding,
    ForecastFacts,
    MerchantFacts,
    ProductFacts,
    ShopFacts,
    WindowFacts,
)
from sitewide.domain.accounts import Principal
from sitewide.domain.time import day_bounds, day_of
from sitewide.domain.types import Campaign, CampaignStatus, EventKind, NotFound, ValidationError
from sitewide.engine import Engine
from sitewide.ports import ReportQuery, ServiceRecords, Store
from sitewide.service.usecases import appeals as appeals_uc
from sitewide.service.usecases import campaigns as campaigns_uc
from sitewide.service.usecases import catalogue as catalogue_uc
from sitewide.service.usecases import forecast as forecast_uc
from sitewide.service.usecases import reports as reports_uc

EXHAUSTED_SHARE = 0.95  # a budget counts as spent at 95 % (the guard stops a campaign a reserve short of it)


@dataclass(frozen=True)
class Scope:
    """The merchant the agent acts for, with what it reads through. ``who`` is the merchant's own principal
    (for the operator: a principal of the merchant it named), so every use case applies the merchant's view."""

    engine: Engine
    store: Store
    accounts: ServiceRecords
    who: Principal

    @property
    def merchant_id(self) -> str:
        assert self.who.merchant_id is not None
        return self.who.merchant_id

    @classmethod
    def of(
        cls,
        engine: Engine,
        store: Store,
        accounts: ServiceRecords,
        who: Principal,
        merchant_id: str | None = None,
    ) -> Scope:
        """A merchant's scope is itself (``merchant_id`` must be None or its own); the operator must name one."""
        if who.is_operator:
            if merchant_id is None:
                raise ValidationError("merchant_id: required for the operator")
            if accounts.get_merchant(merchant_id) is None:
                raise NotFound(f"merchant {merchant_id} not found")
            return cls(engine, store, accounts, Principal("merchant", merchant_id, who.key_prefix))
        if merchant_id not in (None, who.merchant_id):
            raise NotFound(f"merchant {merchant_id} not found")
        return cls(engine, store, accounts, who)

    def campaigns(self) -> list[Campaign]:
        return campaigns_uc.list_campaigns(self.store, self.who)

    def last_settled_day(self) -> str | None:
        ids = tuple(c.id for c in self.campaigns())
        if not ids:
            return None
        rows = self.store.report(ReportQuery(ids, "day")).rows
        return rows[-1].key if rows else None


def _exhausted_at(scope: Scope, camps: list[Campaign], day: str) -> dict[str, int]:
    """Per campaign: ms after midnight when the day's clicks (charged at their price) reached 95 % of the
    budget."""
    budget = {c.id: int(c.daily_budget_micros) for c in camps}
    start, end = day_bounds(day)
    spent: dict[str, int] = {}
    out: dict[str, int] = {}
    clicks = scope.store.events_between(start, end, [EventKind.CLICK.value])
    for e in sorted(clicks, key=lambda e: e.ts_ms):
        cid = e.campaign_id
        if cid is None or cid not in budget or cid in out:
            continue
        spent[cid] = spent.get(cid, 0) + int(e.price_micros)
        if budget[cid] > 0 and spent[cid] >= EXHAUSTED_SHARE * budget[cid]:
            out[cid] = e.ts_ms - start
    return out


def campaign_facts(scope: Scope, day: str) -> tuple[CampaignFacts, ...]:
    camps = scope.campaigns()
    exhausted = _exhausted_at(scope, camps, day)
    out = []
    for c in sorted(camps, key=lambda c: c.id):
        rep = scope.engine.campaign_report(c.id)
        days = tuple(d for d in rep.days if d.day <= day)
        loss = reports_uc.auction_losses(scope.store, scope.accounts, scope.who, c.id, day, 0)
        out.append(
            CampaignFacts(
                c.id,
                c.name,
                c.status is CampaignStatus.ACTIVE,
                float(c.target_roi),
                int(c.daily_budget_micros),
                c.product_ids,
                days,
                exhausted.get(c.id),
                tuple(loss.by_reason),
            )
        )
    return tuple(out)


def product_facts(scope: Scope, day: str, camps: tuple[CampaignFacts, ...]) -> tuple[ProductFacts, ...]:
    ids = tuple(c.id for c in camps)
    before_day = day_of(day_bounds(day)[0] - 1)
    before = (
        {t.key: t for t in scope.store.report(ReportQuery(ids, "product", last_day=before_day)).rows}
        if ids
        else {}
    )
    on_day = {t.key: t for t in scope.store.report(ReportQuery(ids, "product", day, day)).rows} if ids else {}
    n_before = max((sum(1 for d in c.days if d.day < day) for c in camps), default=0)
    out = []
    for p, _ in catalogue_uc.visible_products(scope.store, scope.who):
        try:
            dec = scope.engine.eligibility(p.id)
        except NotFound:
            continue
        b, d = before.get(p.id), on_day.get(p.id)
        out.append(
            ProductFacts(
                p.id,
                p.title,
                p.shop_id,
                dec.eligible,
                tuple(dec.failures),
                b.gmv_micros if b else 0,
                b.orders if b else 0,
                d.gmv_micros if d else 0,
                n_before,
            )
        )
    return tuple(out)


def shop_facts(scope: Scope) -> tuple[ShopFacts, ...]:
    shops = catalogue_uc.list_shops(scope.store, scope.who)
    return tuple(ShopFacts(s.id, scope.engine.shop_score(s.id)) for s in shops)


def creative_facts(scope: Scope, products: tuple[ProductFacts, ...]) -> tuple[CreativeFacts, ...]:
    rot = scope.engine.creatives
    out = []
    for p in products:
        if not rot.creatives(p.id):
            continue
        pin = rot.pinned(p.id)
        for a in rot.stats(p.id, draws=1):
            out.append(
                CreativeFacts(p.id, a.creative_id, a.placement, a.impressions, a.clicks, a.creative_id == pin)
            )
    return tuple(out)


def window_facts(scope: Scope, camps: tuple[CampaignFacts, ...], day: str) -> tuple[WindowFacts, ...]:
    out = []
    for c in camps:
        st = scope.engine.statement(c.id)
        for w in st.guarantee_windows:
            if w.first_day <= day:
                out.append(WindowFacts(c.id, w))
    return tuple(out)


def market_roi(scope: Scope, day: str) -> float | None:
    """The median realised ROI of the market's campaigns up to ``day`` (one number: no other merchant's rows
    leave this function)."""
    ids = tuple(c.id for c in scope.store.list_campaigns())
    if not ids:
        return None
    rows = scope.store.report(ReportQuery(ids, "campaign", last_day=day)).rows
    rois = [t.gmv_micros / t.spend_micros for t in rows if t.spend_micros > 0]
    return statistics.median(rois) if rois else None


def forecast_facts(scope: Scope, points: list[tuple[str, float, int]]) -> tuple[ForecastFacts, ...]:
    out = []
    for cid, target, budget in points:
        f = forecast_uc.spend_forecast(scope.engine, scope.store, scope.who, target, budget, cid, None)
        out.append(
            ForecastFacts(cid, target, budget, f.expected_spend_micros, f.expected_gmv_micros, f.basis)
        )
    return tuple(out)


def merchant_facts(scope: Scope, day: str | None = None) -> MerchantFacts:
    """The facts for ``day`` (default: the merchant's last settled day)."""
    reports_uc.check_days(day=day)  # ValidationError on a malformed day
    d = day or scope.last_settled_day() or day_of(scope.engine.clock.now_ms())
    camps = campaign_facts(scope, d)
    prods = product_facts(scope, d, camps)
    open_ = tuple(a.object_id for a in appeals_uc.list_appeals(scope.accounts, scope.who, "open"))
    return MerchantFacts(
        scope.merchant_id,
        d,
        camps,
        prods,
        shop_facts(scope),
        creative_facts(scope, prods),
        window_facts(scope, camps, d),
        open_,
        market_roi(scope, d),
    )


def findings(
    scope: Scope, day: str | None = None, thresholds: Thresholds | None = None
) -> tuple[MerchantFacts, list[Finding]]:
    """Diagnose the merchant: facts → rules; then the forecasts the suggestions need → rules again, so that
    each suggestion's expected effect comes from the forecast where one applies."""
    facts = merchant_facts(scope, day)
    points = forecast_requests(facts, thresholds)
    if points:
        facts = replace(facts, forecasts=forecast_facts(scope, points))
    return facts, diagnose(facts, thresholds)


__all__ = ["Scope", "findings", "merchant_facts"]
