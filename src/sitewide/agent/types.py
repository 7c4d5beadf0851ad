"""The agent's typed vocabulary: the facts it reads about one merchant, the findings it draws, the suggestions it
makes (each with its expected effect and the rows it rests on) and the citations that point at those rows.

Pure data, no I/O. Money is integer micros; a citation's values are text as a report shows them, so that an
answer quotes exactly what the merchant can look up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from sitewide.domain.eligibility_rules import RuleResult
from sitewide.domain.reports import CampaignDay, StatementWindow
from sitewide.domain.shop_score import ShopScore


@dataclass(frozen=True, slots=True)
class Citation:
    """One evidence row: where it comes from (``source``: a report or table, e.g. ``report:campaign_day``),
    the ids that find it (campaign, day, product, …) and the values the finding used, as ``(name, text)``."""

    source: str
    ids: tuple[str, ...]
    values: tuple[tuple[str, str], ...] = ()

    def value(self, name: str) -> str | None:
        return next((v for k, v in self.values if k == name), None)

    def text(self) -> str:
        vals = ", ".join(f"{k}={v}" for k, v in self.values)
        return f"[{self.source} {'/'.join(self.ids)}{': ' + vals if vals else ''}]"


# ---------------------------------------------------------------------------------------------- facts


@dataclass(frozen=True, slots=True)
class CampaignFacts:
    id: str
    name: str
    active: bool
    target_roi: float
    daily_budget_micros: int
    product_ids: tuple[str, ...]
    days: tuple[CampaignDay, ...]  # the campaign report's settled days, oldest first
    # the time of day (ms after midnight UTC) at which the diagnosed day's clicks reached 95 % of the budget;
    # None when they never did
    exhausted_at_ms: int | None = None
    losses: tuple[tuple[str, int], ...] = ()  # the diagnosed day's lost auctions by reason, most first

    def day(self, d: str) -> CampaignDay | None:
        return next((x for x in self.days if x.day == d), None)


@dataclass(frozen=True, slots=True)
class ProductFacts:
    id: str
    title: str
    shop_id: str
    eligible: bool
    failures: tuple[RuleResult, ...]  # the eligibility decision's failed rules
    # promoted sales before the diagnosed day and on it (``Store.report`` grouped by product)
    gmv_before_micros: int
    orders_before: int
    gmv_day_micros: int
    days_before: int  # settled days the "before" figures cover


@dataclass(frozen=True, slots=True)
class ShopFacts:
    id: str
    score: ShopScore | None  # None: no service metrics given


@dataclass(frozen=True, slots=True)
class CreativeFacts:
    """One creative of a product in one placement, as the rotation counts it."""

    product_id: str
    creative_id: str
    placement: str
    impressions: int
    clicks: int
    pinned: bool


@dataclass(frozen=True, slots=True)
class WindowFacts:
    """A guarantee window's judgement, as the campaign's settlement statement gives it."""

    campaign_id: str
    judged: StatementWindow


@dataclass(frozen=True, slots=True)
class MerchantFacts:
    """Everything the rules look at for one merchant, read as of ``day`` (the day diagnosed: yesterday)."""

    merchant_id: str
    day: str
    campaigns: tuple[CampaignFacts, ...]
    products: tuple[ProductFacts, ...]
    shops: tuple[ShopFacts, ...]
    creatives: tuple[CreativeFacts, ...] = ()
    windows: tuple[WindowFacts, ...] = ()
    open_appeals: tuple[str, ...] = ()  # object ids with an open appeal
    market_roi: float | None = None  # median realised ROI of the market's campaign-days (context)
    # the forecast's expected (spend, GMV) micros per day at a target ROI and budget, per campaign; the
    # facts builder fills what the rules ask (see ``rules.FORECAST_TARGETS``), absent = not forecast
    forecasts: tuple[ForecastFacts, ...] = ()


@dataclass(frozen=True, slots=True)
class ForecastFacts:
    campaign_id: str
    target_roi: float
    daily_budget_micros: int
    expected_spend_micros: int
    expected_gmv_micros: int
    basis: str


# ------------------------------------------------------------------------------------- findings, actions


class FindingKind(StrEnum):
    TARGET_TOO_HIGH = "target_too_high"  # an over-high ROI target starving spend
    TARGET_TOO_LOW = "target_too_low"  # ROI persistently under target (guarantee windows triggered)
    BUDGET_EXHAUSTED = "budget_exhausted"  # the budget ran out early in the day
    INELIGIBLE_BEST_SELLER = "ineligible_best_seller"  # a top seller is out of the pool
    LOSING_CREATIVE = "losing_creative"  # a pinned creative loses clearly to a sibling
    SHOP_SCORE_FACTOR = "shop_score_factor"  # one shop-score factor drags delivery down
    APPEALABLE = "appealable"  # a pool decision sits at its limit: worth an appeal


class ActionKind(StrEnum):
    SET_TARGET_ROI = "set_target_roi"
    SET_BUDGET = "set_budget"
    MOVE_BUDGET = "move_budget"
    PIN_CREATIVE = "pin_creative"  # creative_id None = unpin (back to rotation)
    FIX_FACTOR = "fix_factor"  # advice: the merchant's operations must change; no one-click apply
    APPEAL = "appeal"


@dataclass(frozen=True, slots=True)
class Action:
    """What to do. ``target_roi`` as decimal text; budgets in micros. ``creative_id`` None with
    PIN_CREATIVE = unpin."""

    kind: ActionKind
    campaign_id: str | None = None
    product_id: str | None = None
    shop_id: str | None = None
    creative_id: str | None = None
    target_roi: str | None = None
    daily_budget_micros: int | None = None
    from_campaign_id: str | None = None  # MOVE_BUDGET: the campaign that gives
    amount_micros: int | None = None  # MOVE_BUDGET
    factor: str | None = None  # FIX_FACTOR: a shop-score factor or a pool rule
    message: str = ""  # APPEAL: the appeal's text

    @property
    def one_click(self) -> bool:
        return self.kind is not ActionKind.FIX_FACTOR


@dataclass(frozen=True, slots=True)
class Effect:
    """Expected change per day if the action is taken: GMV and spend in micros, and how it was estimated
    (``basis``: "forecast" = the spend→GMV forecast; "own reports" = the merchant's own figures, as stated
    in ``note``)."""

    gmv_micros_per_day: int
    spend_micros_per_day: int
    basis: str
    note: str


@dataclass(frozen=True, slots=True)
class Suggestion:
    id: str  # stable for the same finding on the same facts: kind + subject + day
    action: Action
    effect: Effect
    title_en: str
    title_zh: str


@dataclass(frozen=True, slots=True)
class Finding:
    kind: FindingKind
    subject: str  # the campaign, product, shop or creative the finding is about
    severity: str  # "high" | "medium" | "low"
    en: str
    zh: str
    evidence: tuple[Citation, ...]
    suggestion: Suggestion | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)

    def text(self, lang: str = "en") -> str:
        return self.zh if lang == "zh" else self.en


__all__ = [
    "Action",
    "ActionKind",
    "CampaignFacts",
    "Citation",
    "CreativeFacts",
    "Effect",
    "Finding",
    "FindingKind",
    "ForecastFacts",
    "MerchantFacts",
    "ProductFacts",
    "ShopFacts",
    "Suggestion",
    "WindowFacts",
]
