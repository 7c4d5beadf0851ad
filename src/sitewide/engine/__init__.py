"""The engine: one request is retrieve → score → bid → auction → log; ``settle`` turns events into money.

:class:`Engine` is a facade over :mod:`.catalogue` (products, pool, shop score), :mod:`.campaigns` (who bids,
pacing, experiments), :mod:`.retrieval`, :mod:`.serving`, :mod:`.value`, :mod:`.events`, :mod:`.settlement` and
:mod:`.reports`; they see adapters only through ``ports`` (``sitewide.wiring`` picks them). In memory: what
serving needs per request; everything that matters for money is in the Store."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sitewide.domain.eligibility import EligibilityDecision, ProductSignals
from sitewide.domain.forecast import CampaignDraft, CampaignForecast
from sitewide.domain.guarantee import GuaranteeContract
from sitewide.domain.incrementality import Incrementality
from sitewide.domain.reports import CampaignReport, CampaignStatement
from sitewide.domain.settlement import SettlementReport
from sitewide.domain.shop_score import ShopMetrics, ShopScore
from sitewide.domain.time import day_bounds
from sitewide.domain.types import Campaign, Event, FloatArray, IntArray, ServeRequest, ServeResult
from sitewide.engine.assembly import EngineParts
from sitewide.engine.auctions import AuctionOutcome, AuctionRequest
from sitewide.engine.config import EngineConfig
from sitewide.engine.holdout import campaign_incrementality
from sitewide.engine.retrieval import Rows
from sitewide.ports import EventReceipt, RequestBatch, ServedBatch


class Engine(EngineParts):
    """Serving and settlement over the catalogue and campaigns the store holds (``sitewide.wiring`` builds
    one with the production adapters).

    Locking: requests (``serve``, ``serve_batch``, ``retrieve``, ``candidates``) share a read lock and run
    retrieval and scoring side by side; only their pacing/auction/accounting step is one at a time
    (``Serving.state_lock``, well under a millisecond). Changes are serialised by ``_lock``: campaign edits and
    events also take the state lock while they change pacing state; what replaces the catalogue or the index
    (reload, restore, quality signals) takes the write lock, waiting for requests in flight. The parts, how
    they are wired, and their loading (``reload``, ``restore``) are :class:`~.assembly.EngineParts`."""

    # catalogue, pool and shop score ---------------------------------------------------------------
    def set_quality(
        self, product_signals: Sequence[ProductSignals], shop_metrics: Sequence[ShopMetrics]
    ) -> list[EligibilityDecision]:
        """Take new signals and metrics and recompute the pool; returns the decisions of the products whose
        membership changed (left the pool or came back), for the pool's history."""
        with self._lock, self._rw.write():
            return self.catalogue.set_quality(product_signals, shop_metrics)

    def eligibility(self, product_id: str) -> EligibilityDecision:
        return self.catalogue.eligibility(product_id)

    def shop_score(self, shop_id: str) -> ShopScore | None:
        return self.catalogue.shop_score(shop_id)

    def catalogue_ids(self) -> Sequence[str]:
        return self.catalogue.ids

    # campaigns --------------------------------------------------------------------------------------
    def campaign_ids(self) -> Sequence[str]:
        return self.campaigns.ids

    def product_campaigns(self) -> IntArray:
        """``[P]`` index into :meth:`campaign_ids` of the campaign that bids for each catalogue product (the
        active one with the highest bid multiplier), ``-1`` for none."""
        return self.campaigns.product_campaign.copy()

    def campaigns_of(self, product_ids: Sequence[str]) -> list[str | None]:
        """The campaign bidding for each product (as :meth:`product_campaigns`), None for none or unknown;
        work in the number of ids, not the catalogue's size."""
        row, pc, ids = self.catalogue.row, self.campaigns.product_campaign, self.campaigns.ids
        out: list[str | None] = []
        for p in product_ids:
            r = row.get(p)
            c = int(pc[r]) if r is not None and r < len(pc) else -1
            out.append(ids[c] if c >= 0 else None)
        return out

    def add_campaign(self, campaign: Campaign) -> None:
        with self._lock, self.serving.state_lock:
            self.campaigns.add(campaign)

    def update_campaign(self, campaign: Campaign) -> None:
        with self._lock, self.serving.state_lock:
            self.campaigns.update(campaign)

    def reload_experiments(self) -> None:
        with self._lock, self.serving.state_lock:
            self.campaigns.reload_experiments()

    def close(self) -> None:
        """Before this process stops serving (the app's shutdown): return its unused budget leases to the
        store, write the holdout entries buffered for the follower and stop listening for other processes'
        changes."""
        self.campaigns.stop_following()  # its thread takes the state lock: not while it is held here
        with self._lock, self.serving.state_lock:
            self.holdout.deferred = False  # later batches write their own holdout entries
            self.values.background = False  # and read the aims' facts themselves
            self.campaigns.close()
        self.holdout.flush()  # what the follower could not write at its stop (the database away): raised

    # serving ----------------------------------------------------------------------------------------
    def retrieve(self, batch: RequestBatch) -> tuple[IntArray, FloatArray]:
        with self._rw.read():
            return self.retrieval.retrieve(batch)

    def candidates(self, batch: RequestBatch) -> Rows:
        with self._rw.read():
            return self.retrieval.candidates(batch)

    def remember_click(self, user_id: str, product_id: str) -> None:
        with self._lock, self.serving.state_lock:
            self.retrieval.remember_click(user_id, product_id)

    def serve_batch(self, batch: RequestBatch) -> ServedBatch:
        with self._rw.read():
            return self.serving.serve_batch(batch)

    def serve(self, request: ServeRequest) -> ServeResult:
        with self._rw.read():
            return self.serving.serve(request, self.clock)

    def serve_many(self, requests: Sequence[ServeRequest]) -> list[ServeResult]:
        """Each request answered as :meth:`serve` answers it, those that share a time and a slot count served as
        one batch (much less CPU per request; see ``Serving.serve_many``)."""
        with self._rw.read():
            return self.serving.serve_many(requests, self.clock)

    def auctions(self, requests: Sequence[AuctionRequest]) -> list[AuctionOutcome]:
        """The auction-only path (:mod:`.auctions`): 1–5 auctions over the caller's candidates (ids, a category
        or a query), priced like ``serve``; the winners, ranked, per auction."""
        with self._rw.read():  # like serve: requests side by side, pricing under the state lock
            return self.auction_desk.run(requests, self.clock)

    def value_report(self) -> dict[str, float]:
        """Per campaign: the expected GMV (micros, as valued when served: calibrated when
        ``calibrate_value``) of the promoted impressions served since the engine started."""
        with self.serving.state_lock:
            return dict(self.values.predicted)

    def value_factors(self) -> tuple[FloatArray, FloatArray]:
        with self.serving.state_lock:
            return self.values.factors()

    # events -----------------------------------------------------------------------------------------
    def record_events(self, events: Sequence[Event]) -> EventReceipt:
        """Store a batch (≤ 1,000) idempotently; repeated ids with the same body are ignored. A batch with an
        event that breaks a rule raises ValidationError naming the event and the rule; nothing is stored."""
        self.events.check(events)
        receipt = self.events.store_batch(events)  # its I/O holds no engine lock: requests go on meanwhile
        with self._lock, self.serving.state_lock:
            return self.events.feed(events, receipt)

    # settlement and reports -------------------------------------------------------------------------
    def settle(
        self, start_ms: int, end_ms: int, period: str | None = None, *, preview: bool = False
    ) -> SettlementReport:
        report = self.settlement.settle(start_ms, end_ms, period, preview=preview)
        if not preview:  # the forecasts' calibration learns from what settled (sitewide.engine.forecast)
            self.forecaster.settled(self.store, end_ms, self._reading)
            self.holdout.prune(end_ms)
        return report

    def settle_day(self, day: str, *, preview: bool = False) -> SettlementReport:
        start, end = day_bounds(day)
        return self.settle(start, end, day, preview=preview)

    def set_guarantee(self, campaign_id: str, contract: GuaranteeContract) -> GuaranteeContract:
        return self.settlement.set_guarantee(campaign_id, contract)

    def guarantee(self, campaign_id: str) -> GuaranteeContract:
        return self.settlement.guarantee(campaign_id)

    def campaign_report(self, campaign_id: str) -> CampaignReport:
        return self.reports.campaign_report(campaign_id)

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """The engine's lock with the request read lock: a forecast's replay sees one consistent state."""
        with self._lock, self._rw.read():
            yield

    def forecast(self, draft: CampaignDraft) -> CampaignForecast:
        """The draft's day: spend → GMV and orders with a band, by replaying recent requests through the
        auction with its bids (``sitewide.engine.forecast``)."""
        with self._lock, self._rw.read():  # requests keep being served meanwhile
            return self.forecaster.forecast(draft)

    def incrementality(
        self, campaign_id: str, start_ms: int, end_ms: int, level: float = 0.95
    ) -> Incrementality:
        """What the campaign's ads added in ``[start_ms, end_ms)`` by its ghost-bid holdout (exposed vs ghost
        wins; orders counted up to the attribution window after the end). See ``sitewide.engine.holdout``."""
        with self._lock:
            return campaign_incrementality(
                self.store,
                self.holdout,
                campaign_id,
                start_ms,
                end_ms,
                self.config.attribution_window_ms,
                level,
            )

    def statement(self, campaign_id: str, period: str | None = None) -> CampaignStatement:
        return self.reports.statement(campaign_id, self.guarantee(campaign_id), period)


__all__ = ["Engine", "EngineConfig"]
