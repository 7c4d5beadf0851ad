"""Simulation settings: one frozen dataclass, with presets. Every number that is an assumption says so."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from sitewide.domain.types import ValidationError

BASE_EPOCH_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


@dataclass(frozen=True, slots=True)
class SimConfig:
    """A market: who is in it, how long it runs, and the behavioural constants of the hidden utility model."""

    days: int = 1
    users: int = 1_000
    merchants: int = 20
    seed: int = 0
    products: int | None = None  # None = the whole packaged catalogue (2,000)
    ticks_per_day: int = 96  # 15-minute ticks
    slots: int = 10
    search_share: float = 0.6  # assumption: share of requests that are searches (the rest: feed)
    sessions_per_user_day: float = 3.0  # assumption: mean requests per active user per day
    activity_shape: float = 0.5  # Gamma shape of per-user activity (heavy tail, like CDNOW's purchase counts)
    bot_share: float = 0.02  # share of users (≈ of traffic) that are bots: invalid clicks, never buy
    bot_click_prob: float = 0.1  # per examined slot (assumption)
    campaign_share: float = 0.5  # share of merchants that run a campaign
    target_rois: tuple[float, ...] = (1.5, 2.0, 3.0, 4.0)
    late_start_share: float = 0.0  # share of campaigns that start on a later day (added via add_campaign)
    early_stop_share: float = 0.0  # share that stop before the end (paused via update_campaign, if offered)
    daily_budget_per_product: int = 2_000_000  # micros of daily budget per promoted product (assumption)
    price_source: Literal["catalogue", "taobao"] = "catalogue"
    # search queries: "title" = the first three words of the target product's title (one fixed query per
    # product); "intent" = drawn afresh per request from the product's intent (kind of product, attributes,
    # synonyms, typos, some Chinese; ``sitewide.simulator.queries``), set to real query sets' statistics
    query_style: Literal["title", "intent"] = "title"
    # calibration targets (see sim_calibration.json): search surface ~ Ali-CCP, feed surface ~ Open Bandit
    target_ctr_search: float = 0.0405
    target_ctr_feed: float = 0.0038
    target_cvr: float = 0.0053
    # examination: P(look at position k) = 1 / log2(k + 2) ** examination_power (assumption, DCG-shaped)
    examination_power: float = 1.0
    # delays and refunds (assumptions: no dataset here has click→order delays or refunds)
    order_delay_median_min: float = 30.0
    order_delay_sigma: float = 1.2
    refund_rate: float = 0.05  # base; scaled by the shop's return rate
    refund_delay_median_days: float = 3.0
    extra_quantity_mean: float = 0.15  # quantity = 1 + Poisson(mean)
    report_impressions: bool = False
    # with report_impressions: only the promoted slots' impressions (what campaign reports count), not the
    # organic ones; storing every impression is most of a small market's run time
    promoted_impressions_only: bool = False
    event_batch: int = 1_000
    ndcg_sample: int = 128  # requests per tick whose NDCG is computed against the whole catalogue
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.days < 1 or self.users < 1 or self.merchants < 1 or self.ticks_per_day < 1 or self.slots < 1:
            raise ValidationError("days, users, merchants, ticks_per_day and slots must be ≥ 1")
        if self.products is not None and self.products < 1:
            raise ValidationError("products must be ≥ 1")
        for name in (
            "search_share",
            "bot_share",
            "bot_click_prob",
            "campaign_share",
            "refund_rate",
            "late_start_share",
            "early_stop_share",
        ):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValidationError(f"{name} must be in [0, 1], got {v}")
        for name in ("target_ctr_search", "target_ctr_feed", "target_cvr"):
            v = getattr(self, name)
            if not 0.0 < v < 1.0:
                raise ValidationError(f"{name} must be in (0, 1), got {v}")
        if not 1 <= self.event_batch <= 1_000:
            raise ValidationError("event_batch must be in [1, 1000]")
        if any(r <= 0 for r in self.target_rois) or not self.target_rois:
            raise ValidationError("target_rois must be positive")
        if self.query_style not in ("title", "intent"):
            raise ValidationError(f"unknown query_style {self.query_style!r}")
        if self.price_source not in ("catalogue", "taobao"):
            raise ValidationError(f"unknown price_source {self.price_source!r}")

    @classmethod
    def demo(cls, seed: int = 7) -> SimConfig:
        """``sitewide demo``'s market (``sitewide.simulator.demo``): 6 merchants over 300 products, 6 slots a
        page, 5,000 shoppers for 7 days at the calibrated rates (nothing inflated), so that orders accumulate."""
        return cls(
            days=7,
            users=5_000,
            merchants=6,
            products=300,
            seed=seed,
            ticks_per_day=4,
            slots=6,
            campaign_share=1.0,
            report_impressions=True,
            promoted_impressions_only=True,
            ndcg_sample=0,
        )

    @classmethod
    def benchmark(cls, seed: int = 0) -> SimConfig:
        """The issue's reference market: 30 days, 10,000 users, 200 merchants."""
        return cls(days=30, users=10_000, merchants=200, seed=seed)

    def with_(self, **changes: Any) -> SimConfig:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["target_rois"] = list(self.target_rois)
        return d
