"""The engine's parts over one store, wired to one another, and their loading: what :class:`~sitewide.engine.Engine`
(the facade) is made of."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from sitewide.domain.creative_bandit import CreativeRotation
from sitewide.domain.time import SystemClock
from sitewide.domain.types import Product
from sitewide.engine.auctions import AuctionDesk
from sitewide.engine.campaigns import CampaignBook
from sitewide.engine.catalogue import Catalogue
from sitewide.engine.config import EngineConfig
from sitewide.engine.events import EventIntake
from sitewide.engine.forecast import Forecaster
from sitewide.engine.holdout import Holdout, window_incremental_roi
from sitewide.engine.locks import ReadWriteLock
from sitewide.engine.pacing import MakeBidder
from sitewide.engine.reports import Reports
from sitewide.engine.retrieval import Retrieval, ScorerFactory
from sitewide.engine.serving import Serving
from sitewide.engine.settlement import Settlement
from sitewide.engine.value import ValueBook
from sitewide.ports import Clock, LexicalIndex, Scorer, Store, TextEncoder, VectorIndex


class EngineParts:
    """The catalogue, campaigns, retrieval, values, holdouts, serving, forecasts, auctions, events, settlement
    and reports over ``store``, loaded from it (or from ``snapshot``) on construction."""

    def __init__(
        self,
        store: Store,
        config: EngineConfig | None = None,
        *,
        encoder: TextEncoder,
        index: VectorIndex,
        scorer_for: ScorerFactory,
        make_bidder: MakeBidder,
        lexical: LexicalIndex | None = None,
        clock: Clock | None = None,
        creatives: CreativeRotation | None = None,
        snapshot: Path | None = None,
        snapshot_index: bool = False,
    ) -> None:
        self.store = store
        self.config = cfg = config or EngineConfig()
        self.clock = clock or SystemClock()
        self.creatives = creatives or CreativeRotation()  # approved creatives per product, Thompson sampling
        self._lock = threading.RLock()  # changes, one at a time
        self._rw = ReadWriteLock()  # requests read; catalogue/index replacements write
        self.catalogue = Catalogue(cfg)
        self.campaigns = CampaignBook(store, cfg, self.clock, self.catalogue, make_bidder)
        self.retrieval = Retrieval(cfg, self.catalogue, encoder, index, scorer_for, lexical)
        self.values = ValueBook(cfg, self.catalogue, store)
        self.holdout = Holdout(store, cfg.holdout_share, cfg.holdout_seed)  # ghost-bid holdouts, in the store
        self.serving = Serving(
            store,
            cfg,
            self.catalogue,
            self.retrieval,
            self.campaigns,
            self.values,
            self.creatives,
            self.holdout,
        )
        self.forecaster = Forecaster(
            cfg,
            self.catalogue,
            self.retrieval,
            self.campaigns,
            self.values,
            self.serving.traffic,
            self.holdout,
        )
        self.auction_desk = AuctionDesk(self.catalogue, self.retrieval, self.campaigns, self.serving)
        self.events = EventIntake(
            store, self.catalogue, self.campaigns, self.retrieval, self.values, self.creatives
        )
        self.settlement = Settlement(
            store, cfg, self.clock, window_incremental_roi(store, self.holdout, cfg.attribution_window_ms)
        )
        self.reports = Reports(store)
        if snapshot is None:
            self.reload()
        else:
            self.restore(snapshot, index_loaded=snapshot_index)
        self.campaigns.pacer.aim = self.values.aim  # bidders aim at what their guarantee window still needs
        if cfg.pacing.background and cfg.pacing.leases is not None and cfg.pacing.campaign_poll_ms is not None:
            follower = self.campaigns.follow_in_background(self.serving.state_lock)  # no store I/O per request
            self.holdout.deferred = True  # its log written by the follower too
            follower.writes.append(self.holdout.flush)
            self.values.refresh(self.campaigns.serving_day())  # at start-up, before any request
            self.values.background = True  # then read by the follower too
            follower.reads.append(self.values.refresh)

    @property
    def encoder(self) -> TextEncoder:
        return self.retrieval.encoder

    @property
    def index(self) -> VectorIndex:
        return self.retrieval.index

    @property
    def scorer(self) -> Scorer:
        return self.retrieval.scorer

    def reload(self) -> None:
        """(Re)load the catalogue and campaigns from the store and rebuild the index."""
        with self._lock, self._rw.write(), self.serving.state_lock:
            self._load()

    def _load(self) -> None:
        self.catalogue.load(self.store.list_products(), self.retrieval.encoder)
        self.retrieval.rebuild()
        self.values.reset()
        self.campaigns.reload()

    def upsert_products(self, products: Sequence[Product]) -> None:
        """Serve added or changed products (already in the store) without a rebuild: their vectors are encoded
        and upserted into the index, the pool and the shop multipliers recomputed, the scorer re-bound, the
        candidate cache emptied, and campaigns re-read (their bidders keep today's spend). A product in a
        category the engine has not seen reloads everything (the value calibrator is sized by category)."""
        with self._lock, self._rw.write(), self.serving.state_lock:
            rows = self.catalogue.upsert(products, self.retrieval.encoder)
            if rows is None:
                self._load()
                return
            self.retrieval.upserted(rows)
            self.campaigns.reload()

    def remove_products(self, product_ids: Sequence[str]) -> int:
        """Stop serving products (already deleted from the store, or delisted) without a rebuild: they leave
        the vector and lexical indexes and the pool, cached candidate rows are forgotten; their catalogue rows
        stay until the next reload, so no other row moves. Returns how many were removed."""
        with self._lock, self._rw.write(), self.serving.state_lock:
            rows = self.catalogue.remove(product_ids)
            if len(rows):
                self.retrieval.removed(rows)
            return len(rows)

    def restore(self, snapshot: Path, *, index_loaded: bool = False) -> None:
        """Warm start: the catalogue from a snapshot (:meth:`Catalogue.save`, ``sitewide.wiring.save_snapshot``)
        whose products are the store's; the vector index is built from its vectors unless ``index_loaded`` (the
        index was loaded from the snapshot too); campaigns from the store."""
        with self._lock, self._rw.write(), self.serving.state_lock:
            self.catalogue.restore(snapshot)
            self.retrieval.rebuild(build_index=not index_loaded)
            self.values.reset()
            self.campaigns.reload()
