"""``sitewide demo``'s run: the demo market (:mod:`sitewide.simulator.demo`) against the real service.

The API starts over a fresh SQLite store; the market's merchants, shops, products and campaigns are registered
through it. Six days of history are then simulated in-process against the served app's engine — requests and
events handed to it as its routes hand them (lost auctions recorded, the server's campaign ids), each day
settled through the API — and the seventh, the live day, runs entirely through the HTTP API. History is
in-process only because HTTP would take minutes for what the engine does in seconds; the figures, the ledger
and the pages are the same.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from fastapi import FastAPI

from sitewide.client import SitewideClient
from sitewide.domain.reports import StatementWindow
from sitewide.domain.settlement import SettlementPolicy
from sitewide.domain.types import Campaign, Event
from sitewide.engine import Engine, EngineConfig
from sitewide.http_engine import HttpMarketEngine, HttpSettlement
from sitewide.i18n import translator
from sitewide.ports import EventReceipt, RequestBatch, ServedBatch, ServiceRecords
from sitewide.service.app import create_app
from sitewide.service.diagnosis import explain_campaign
from sitewide.service.usecases.serving import SAMPLE_EVERY, record_losses
from sitewide.settings import Settings
from sitewide.simulator import World, build_world
from sitewide.simulator.config import SimConfig
from sitewide.simulator.demo import DEMO_CONTRACT, DemoCampaign, apply_demo_campaigns, coupon
from sitewide.simulator.relay import MarketRelay
from sitewide.simulator.story import Story
from sitewide.wiring import build_engine


class LocalMarket(MarketRelay[Engine]):
    """The ``MarketEngine`` port for the demo's history: requests and events go straight to the served app's
    engine, as its ``/serve/batch`` and ``/events`` routes hand them (lost auctions recorded; campaign ids the
    server's, mapped as ``HttpMarketEngine`` maps them); each day is settled through the API."""

    def __init__(self, engine: Engine, accounts: ServiceRecords, http: HttpMarketEngine) -> None:
        super().__init__(engine)
        self.accounts, self.http = accounts, http

    def campaign_ids(self) -> Sequence[str]:
        return self.http.campaign_ids()

    def serve_batch(self, batch: RequestBatch) -> ServedBatch:
        sb = self.engine.serve_batch(batch)
        record_losses(self.engine, self.accounts, sb, list(batch.request_ids), batch.ts_ms, SAMPLE_EVERY)
        return sb

    def record_events(self, events: Sequence[Event]) -> EventReceipt:
        sid = self.http.server_id
        return self.engine.record_events(
            [e if not e.campaign_id else replace(e, campaign_id=sid(e.campaign_id)) for e in events]
        )

    def settle(self, start_ms: int, end_ms: int) -> HttpSettlement:
        return self.http.settle(start_ms, end_ms)


@dataclass(frozen=True)
class DemoCampaignResult:
    """One staged campaign after the run: its server id, what it was set up to show, what limits it now
    (the campaign page's words) and what the guarantee judged and paid, window by window."""

    campaign_id: str
    spec: DemoCampaign
    primary: str | None  # the limit that speaks first on its page
    primary_words: str  # the same, as the page names it
    limits: list[str]
    limit_text: str  # the figure behind the primary limit
    advice: str
    windows: list[StatementWindow]  # the guarantee's windows judged so far
    credited_micros: int  # the campaign report's compensation (the ledger)

    @property
    def windows_paid(self) -> int:
        return sum(1 for w in self.windows if w.triggered)

    @property
    def paid_micros(self) -> int:
        return sum(w.compensation_micros for w in self.windows)


@dataclass
class DemoRun:
    config: SimConfig
    world: World
    http: HttpMarketEngine
    staged: list[tuple[Campaign, DemoCampaign]]
    story: Story


def build(settings: Settings, config: SimConfig) -> tuple[FastAPI, Engine, str]:
    """The demo's service over ``settings``' data dir: the engine under the demo's guarantee contract and
    page size, the app around it, and the operator key (generated at the store's first start; a reused data
    dir gets a fresh one)."""
    engine = build_engine(
        settings,
        config=EngineConfig(slots=config.slots, settlement=SettlementPolicy(default_contract=DEMO_CONTRACT)),
    )
    api = create_app(settings, engine, announce=None)
    key = api.state.bootstrap_operator_key or api.state.accounts.issue_key("operator")
    return api, engine, key


def run_market(
    client: SitewideClient,
    engine: Engine,
    accounts: ServiceRecords,
    config: SimConfig,
    on_tick: Callable[[str], None] | None = None,
) -> DemoRun:
    """Register the demo market through the API, simulate its history in-process and its last day over HTTP.
    ``on_tick(phase)`` is called after every simulated tick (``phase``: ``history`` or ``live``)."""
    world = build_world(config)
    staged = apply_demo_campaigns(world)
    http = HttpMarketEngine.register(client, world.shops, world.product_list, world.campaigns_starting(0))
    http.set_quality(world.product_signals(), world.shop_metrics())  # eligibility pool and shop scores
    phase = ["history"]
    story = Story(world, LocalMarket(engine, accounts, http), on_tick=lambda: on_tick and on_tick(phase[0]))
    couponed = next(c for c, spec in staged if spec.kind == "guarantee")
    for day in range(config.days):
        if day == config.days - 1:
            phase[0] = "live"
            story.engine = http  # the live day: every request, event and the settlement over HTTP
        coupon(story, couponed, on=day < DEMO_CONTRACT.window_days)  # the first window's orders are cheap
        story.run_day(day)
    return DemoRun(config, world, http, staged, story)


def results(
    run: DemoRun, engine: Engine, accounts: ServiceRecords, lang: str = "en"
) -> list[DemoCampaignResult]:
    """What each staged campaign shows now, in the words of its page (``lang``)."""
    t = translator(lang)
    out = []
    for c, spec in run.staged:
        cid = run.http.server_id(c.id)
        camp = engine.store.get_campaign(cid)
        assert camp is not None
        d = explain_campaign(t, "USD", engine, engine.store, camp, accounts.losses(cid))
        rep = engine.campaign_report(cid)
        out.append(
            DemoCampaignResult(
                campaign_id=cid,
                spec=spec,
                primary=d.primary,
                primary_words=t.code("limit", d.primary) if d.primary else "nothing",
                limits=[lim.kind for lim in d.limits],
                limit_text=d.limits[0].figure if d.limits else "",
                advice=d.advice,
                windows=engine.statement(cid).guarantee_windows,
                credited_micros=rep.total.compensation_micros,
            )
        )
    return out


def rates(config: SimConfig) -> str:
    """What the demo's market runs at, in one paragraph."""
    return (
        f"Market: {config.days} days ({config.days - 1} of history simulated in-process against the served "
        f"engine, the last one through the HTTP API), {config.users:,} shoppers (about "
        f"{config.sessions_per_user_day:g} visits a day each), {config.merchants} merchants, {config.products} "
        f"products, {config.slots} slots a page, at the calibrated rates: search CTR "
        f"{config.target_ctr_search:.2%} (Ali-CCP), feed CTR {config.target_ctr_feed:.2%} (Open Bandit), "
        f"conversion {config.target_cvr:.2%} of clicks (Ali-CCP); orders arrive ~{config.order_delay_median_min:g} "
        f"min after the click; {config.refund_rate:.0%} base refund rate."
    )


def guarantee_terms() -> str:
    from sitewide.domain.time import DAY_MS

    g = DEMO_CONTRACT
    return (
        f"ROI guarantee (the demo's contract): {g.window_days}-day windows from each campaign's start, paid when "
        f"ROI < {g.trigger_roi_factor} × target with ≥ {g.min_orders} order, capped at {g.cap_ratio_of_spend} × "
        f"the window's spend, judged {g.observation_lag_ms // DAY_MS} day after a window closes (and again when "
        "late orders or refunds arrive). The platform default judges 7-day windows with ≥ 30 orders, which a "
        "market this small does not reach."
    )


def explain(r: DemoCampaignResult, name: str, currency: str, fmt: Callable[[int], str]) -> str:
    """The demo's lines for one staged campaign (rich markup): how it was set up, what its page says limits it
    and would help most, and each guarantee window as judged."""
    meant = {"budget": "budget-bound", "roi_target": "ROI-bound", "guarantee": "misses ROI, compensated"}
    lines = [
        f"[bold]{name}[/bold] ({meant[r.spec.kind]}): set up with {r.spec.setup}.",
        f"  limited now by: {r.primary_words}" + (f" — {r.limit_text}" if r.limit_text else ""),
        f"  the change that would help most: {r.advice}",
    ]
    trigger = float(DEMO_CONTRACT.trigger_roi_factor)
    for w in r.windows:
        roi = "–" if w.roi is None else f"{w.roi:.2f}"
        head = (
            f"  guarantee window {w.first_day} ({w.days} days): spend {fmt(w.spend_micros)}, GMV "
            f"{fmt(w.gmv_micros)} on {w.orders} order(s), ROI {roi} against a trigger of "
            f"{trigger * float(w.target_roi):.2f} ({trigger:g} × target {w.target_roi})"
        )
        if w.orders < DEMO_CONTRACT.min_orders:
            lines.append(f"{head}: too few orders to judge")
        elif w.triggered:
            chance = (
                "" if r.spec.kind == "guarantee" else f" (not staged: {w.orders} order(s) is a small sample)"
            )
            lines.append(f"{head}: missed, paid {fmt(w.compensation_micros)} {currency}{chance}")
        else:
            lines.append(f"{head}: met")
    lines.append(f"  compensation credited in the ledger: {fmt(r.credited_micros)} {currency}")
    return "\n".join(lines)


__all__ = [
    "DemoCampaignResult",
    "DemoRun",
    "LocalMarket",
    "build",
    "explain",
    "guarantee_terms",
    "rates",
    "results",
    "run_market",
]
