"""Ports: the interfaces between the engine and the outside world.

Adapters (``storage/``, ``index/``, ``models/``, ``creative/``) implement these Protocols; the engine and the
service see only the Protocols. The simulator drives anything that satisfies :class:`MarketEngine`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from sitewide.domain.accounts import (
    Appeal,
    AppealKind,
    AppealStatus,
    AuditEntry,
    KeyInfo,
    LossSample,
    Merchant,
    Principal,
    Role,
)
from sitewide.domain.budget_lease import DayDraws, Draw
from sitewide.domain.creative import BrandKit, CopyDraft, CopyRequest, Creative
from sitewide.domain.eligibility import EligibilityDecision, PoolChange, ProductSignals
from sitewide.domain.experiments import Experiment
from sitewide.domain.guarantee import GuaranteeContract, GuaranteeEvaluation
from sitewide.domain.incrementality import HoldoutEntry
from sitewide.domain.ledger import LedgerLine
from sitewide.domain.settlement import DayFigures, SettlementRun
from sitewide.domain.shop_score import ShopMetrics
from sitewide.domain.terms import CampaignTerms
from sitewide.domain.types import (
    BoolArray,
    Campaign,
    Event,
    FloatArray,
    Int8Array,
    IntArray,
    LedgerEntry,
    ObjectArray,
    Product,
    Shop,
    Transaction,
)


@dataclass(frozen=True, slots=True)
class EventReceipt:
    """What happened to a batch of events: new rows stored, exact repeats ignored."""

    inserted: int
    duplicates: int
    inserted_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReportTotals:
    """One report group — a day, a campaign or a product — of the latest settled figures: impressions (the
    impression events), clicks, orders, charged spend, GMV net of refunds, and the compensation credited for
    guarantee windows ending in the range (by window end day; per campaign, so 0 for a product)."""

    key: str
    impressions: int = 0
    clicks: int = 0
    orders: int = 0
    spend_micros: int = 0
    gmv_micros: int = 0
    compensation_micros: int = 0


@dataclass(frozen=True, slots=True)
class ReportQuery:
    """Sums per ``group_by`` ("day", "campaign" or "product") over ``campaign_ids`` on days in
    ``[first_day, last_day]``; the groups ordered by key, ``offset``/``limit`` the page (all when None)."""

    campaign_ids: tuple[str, ...]
    group_by: str
    first_day: str = "0000-01-01"
    last_day: str = "9999-12-31"
    offset: int = 0
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class ReportPage:
    rows: tuple[ReportTotals, ...]  # the page, ordered by key
    total: ReportTotals  # key "total": every group, not only the page's
    total_rows: int


@dataclass(frozen=True, slots=True)
class LedgerQuery:
    """Which ledger legs to read: exact matches on the legs' structured columns (None: any)."""

    merchant_id: str | None = None
    campaign_id: str | None = None
    accounts: tuple[str, ...] | None = None

    def matches(self, e: LedgerEntry) -> bool:
        return (
            (self.merchant_id is None or e.merchant_id == self.merchant_id)
            and (self.campaign_id is None or e.campaign_id == self.campaign_id)
            and (self.accounts is None or e.account in self.accounts)
        )


@dataclass(frozen=True, slots=True)
class SettlementWrite:
    """What one settlement run writes, all or nothing: the run record, its transaction of differences (None:
    no money moved), the campaign-day figures that changed and the guarantee judgements that changed."""

    run: SettlementRun
    txn: Transaction | None
    days: Sequence[DayFigures]
    evaluations: Sequence[GuaranteeEvaluation]


class ChangeFeed(Protocol):
    """Pushed notice of another process's change (PostgreSQL LISTEN/NOTIFY): ``fired()`` says whether one
    came since the last call; ``close()`` stops listening."""

    def fired(self) -> bool: ...
    def close(self) -> None: ...


@runtime_checkable
class Store(Protocol):
    """Persistence for merchants' objects, events and the ledger. Every write is atomic."""

    # catalogue
    def upsert_shops(self, shops: Iterable[Shop]) -> None: ...
    def upsert_products(self, products: Iterable[Product]) -> None: ...
    def delete_products(self, product_ids: Iterable[str]) -> int:
        """Delete products from the catalogue (their events, ledger and reports stay); returns how many."""
        ...

    def get_product(self, product_id: str) -> Product | None: ...
    def list_products(self) -> list[Product]: ...
    def get_shop(self, shop_id: str) -> Shop | None: ...
    def list_shops(self) -> list[Shop]: ...

    # campaigns. Their money terms (target ROI, budget, status, products) are effective-dated: creating a
    # campaign stores terms version 1 in force from ``created_ms``; an update that changes any term appends
    # version n + 1 in force from ``effective_ms`` (clamped to be ≥ the previous version's); a name-only edit
    # appends nothing. ``campaign_terms`` returns every version per campaign, oldest first — settlement and the
    # guarantee read the terms of each day from it (sitewide.domain.terms.terms_for_day).
    def create_campaign(self, campaign: Campaign) -> None: ...
    def update_campaign(self, campaign: Campaign, effective_ms: int) -> None: ...
    def get_campaign(self, campaign_id: str) -> Campaign | None: ...
    def list_campaigns(self, merchant_id: str | None = None) -> list[Campaign]: ...
    def campaign_terms(self, campaign_ids: Sequence[str] | None = None) -> dict[str, list[CampaignTerms]]: ...

    # events: idempotent by id; a repeated id with a different body raises Conflict and stores nothing
    def append_events(self, events: Sequence[Event]) -> EventReceipt: ...
    def events_between(self, start_ms: int, end_ms: int, kinds: Sequence[str] | None = None) -> list[Event]:
        """Events with ``start_ms ≤ ts_ms < end_ms`` by (ts_ms, id), of ``kinds`` (all when None)."""

    def report(self, q: ReportQuery) -> ReportPage:
        """The latest settled figures of the query's campaigns with the compensation credited to them in the
        ledger — aggregated, ordered and paged by the store. Every grouping reads the same rows, so their
        totals agree."""

    def get_events(self, ids: Sequence[str]) -> dict[str, Event]: ...

    # ledger: append-only; a transaction is stored whole or not at all; (kind, period, scope) is unique
    def append_transactions(self, txns: Sequence[Transaction]) -> bool: ...
    def list_transactions(self, kind: str | None = None, period: str | None = None) -> list[Transaction]: ...
    def balances(self) -> dict[str, int]: ...
    def ledger_entries(self, where: LedgerQuery | None = None) -> list[LedgerLine]:
        """Stored legs selected by their structured columns (exact matches, never memo or account prefixes),
        in booking order, each with its transaction's period and kind."""
        ...

    # settlement (issue 7). Events carry an ingestion sequence; ``event_watermark`` is the highest one below
    # which every event is committed, ``event_stamps_after(a, b)`` the (ts_ms, kind, order_id) of events with
    # a < seq ≤ b, ``event_stamps_between(lo, hi)`` those of events with lo ≤ ts_ms < hi (stored earlier, let
    # in by an advance of as_of), ``campaign_event_days(lo, hi)`` the UTC day indices in [lo, hi) holding a
    # campaign's click or impression (only those days can have figures). Figures and guarantee judgements
    # are append-only; the readers return the latest per key. The settler's housekeeping: ``prepare_event_days``
    # makes storage for the events of [lo, hi) ahead (PostgreSQL's day partitions); ``drop_events_before(t)``
    # (retention) drops the days before t, forgets their ids and refuses any later event before t (422).
    def prepare_event_days(self, start_ms: int, end_ms: int) -> list[int]: ...
    def drop_events_before(self, before_ms: int) -> list[int]: ...
    def event_watermark(self) -> int: ...
    def event_stamps_after(self, after: int, upto: int) -> list[tuple[int, str, str | None]]: ...
    def event_stamps_between(self, start_ms: int, end_ms: int) -> list[tuple[int, str, str | None]]: ...
    def campaign_event_days(self, start_ms: int, end_ms: int) -> list[int]: ...
    def refunds_for(self, order_ids: Sequence[str]) -> dict[str, list[Event]]: ...
    def last_run(self) -> SettlementRun | None: ...
    def runs_for_period(self, period: str) -> list[SettlementRun]: ...
    # shared serving state (issue 24): several serving processes over one store. ``store_version(name)``:
    # a counter bumped with every change of ``name`` ("campaigns"), polled to reload; budget leases
    # (sitewide.domain.budget_lease): ``draw_budgets`` grants each draw up to its ``want`` of what is left
    # of the campaign-day's budget, ``return_budgets`` gives back the unused parts (negative: an overdraft),
    # each batch in one transaction; ``add_spend`` adds the cost of ingested clicks per campaign,
    # ``day_draws`` reads a day's rows. ``changes(name)``: a feed that fires when another process bumps
    # ``name`` (None where the store cannot push: the poll is then the only path).
    def store_version(self, name: str) -> int: ...
    def changes(self, name: str) -> ChangeFeed | None: ...
    def draw_budgets(self, day: int, draws: Sequence[Draw]) -> dict[str, int]: ...
    def return_budgets(self, day: int, unused: Mapping[str, int]) -> None: ...
    def add_spend(self, day: int, spend: Mapping[str, int]) -> None: ...
    def day_draws(self, day: int) -> dict[str, DayDraws]: ...
    def day_figures(
        self, first_day: str, last_day: str, campaign_id: str | None = None, *, products: bool = True
    ) -> dict[tuple[str, str], DayFigures]:
        """The latest figures per campaign-day; ``products=False``: without their product rows (totals only,
        what judging windows needs: a tenth of the rows)."""
        ...

    def guarantee_evaluations(
        self, first_day: str, last_day: str, campaign_id: str | None = None
    ) -> dict[tuple[str, str], GuaranteeEvaluation]: ...
    def commit_settlement(self, write: SettlementWrite) -> bool:
        """Store the run, its transaction, figures and judgements in one atomic write; False (nothing
        written) when a run with ``run.seq`` exists (a concurrent run won: recompute and retry)."""
        ...

    # ROI-guarantee contracts: append-only versions per campaign
    def put_guarantee(self, contract: GuaranteeContract) -> GuaranteeContract:
        """Store a new version for ``contract.campaign_id`` (version = previous + 1) and return it."""
        ...

    def guarantees(self) -> dict[str, GuaranteeContract]:
        """The latest version per campaign."""
        ...

    # creatives (issue 22): brand kits are append-only versions per shop (version = previous + 1); a product's
    # creatives (every generated one, with its check verdict) are replaced as a set
    def put_brand_kit(self, kit: BrandKit) -> BrandKit: ...
    def brand_kit_versions(self, shop_id: str) -> list[BrandKit]: ...
    def put_creatives(self, product_id: str, creatives: Sequence[Creative]) -> None: ...
    def list_creatives(self, product_id: str | None = None) -> list[Creative]: ...

    # merchant experiments (issue 20): one document per experiment, replaced whole on every change
    def put_experiment(self, experiment: Experiment) -> None: ...
    def get_experiment(self, experiment_id: str) -> Experiment | None: ...
    def list_experiments(self, merchant_id: str | None = None) -> list[Experiment]: ...

    # ghost-bid holdouts (issue 21): each campaign's holdout share (the latest put), and the would-win log —
    # idempotent by (campaign, request): a request logged again keeps its first entry
    def put_holdout_share(self, campaign_id: str, share: float) -> None: ...
    def holdout_shares(self) -> dict[str, float]: ...
    def append_holdout_entries(self, entries: Sequence[HoldoutEntry]) -> None: ...
    def holdout_entries(self, campaign_id: str, start_ms: int, end_ms: int) -> list[HoldoutEntry]:
        """The campaign's entries with ``start_ms ≤ ts_ms < end_ms``, by (ts_ms, request id)."""
        ...

    def prune_holdout_entries(self, before_ms: int) -> int:
        """Delete every campaign's entries with ``ts_ms < before_ms`` (retention); returns how many."""
        ...


@runtime_checkable
class Accounts(Protocol):
    """Merchants and their API keys. Keys look like ``sw_<prefix>_<secret>``; only a hash is kept and a key is
    returned once, when it is issued. Timestamps come from the adapter's :class:`Clock`."""

    def create_merchant(self, merchant_id: str, name: str) -> Merchant: ...
    def ensure_merchants(self, ids: Iterable[str]) -> None:
        """Register merchants named by imported shops (name = id) that are not known yet."""
        ...

    def get_merchant(self, merchant_id: str) -> Merchant | None: ...
    def list_merchants(self) -> list[Merchant]: ...
    def issue_key(
        self, role: Role, merchant_id: str | None = None, source: str = "issued", label: str = ""
    ) -> str: ...
    def register_key(
        self, key: str, role: Role, merchant_id: str | None = None, source: str = "issued"
    ) -> None: ...
    def has_operator_key(self) -> bool: ...
    def authenticate(self, key: str) -> Principal | None: ...
    def authenticated(self, key: str) -> Principal | None:
        """The principal of a key accepted moments ago, without I/O (None: call :meth:`authenticate`)."""
        ...

    def revoke_keys(self, merchant_id: str) -> int: ...


@runtime_checkable
class KeyAdmin(Protocol):
    """Operator keys: create, list, revoke, rotate, each change in an audit log; the last active operator key
    cannot be revoked. ``configure`` registers the configured key and revokes earlier configured ones."""

    def configure(self, key: str) -> None: ...
    def create(self, actor: str, label: str = "") -> str: ...
    def keys(self) -> list[KeyInfo]: ...
    def revoke(self, actor: str, prefix: str) -> None: ...
    def rotate(self, actor: str, prefix: str) -> str: ...
    def audit(self, limit: int = 100) -> list[AuditEntry]: ...


@runtime_checkable
class Signals(Protocol):
    """Quality signals that drive eligibility and the shop score; a put replaces the rows of its ids."""

    def put_product_signals(self, signals: Sequence[ProductSignals]) -> None: ...
    def put_shop_metrics(self, metrics: Sequence[ShopMetrics]) -> None: ...
    def product_signals(self) -> list[ProductSignals]: ...
    def shop_metrics(self) -> list[ShopMetrics]: ...


@runtime_checkable
class Appeals(Protocol):
    """Merchants' appeals against eligibility decisions; an appeal is resolved once (Conflict after)."""

    def create_appeal(self, kind: AppealKind, object_id: str, merchant_id: str, message: str) -> Appeal: ...
    def get_appeal(self, appeal_id: str) -> Appeal | None: ...
    def list_appeals(
        self, merchant_id: str | None = None, status: str | None = None, object_id: str | None = None
    ) -> list[Appeal]: ...
    def resolve_appeal(self, appeal_id: str, status: AppealStatus, resolution: str) -> Appeal: ...


@runtime_checkable
class AuctionLosses(Protocol):
    """Why campaigns' products lost auctions: counts per (day, campaign, product, reason) and recent samples."""

    def add_losses(
        self, day: str, counts: dict[tuple[str, str, str], int], samples: Sequence[LossSample]
    ) -> None: ...
    def losses(self, campaign_id: str) -> list[tuple[str, str, str, int]]:
        """``(day, product_id, reason, count)`` rows of one campaign."""
        ...

    def loss_samples(self, campaign_id: str, limit: int = 50) -> list[LossSample]: ...
    def close(self) -> None:
        """Write what is buffered (loss counts are buffered per process) and stop background work."""
        ...


@runtime_checkable
class PoolHistory(Protocol):
    """When products left the eligibility pool and came back: one row per change, stamped by the adapter's
    :class:`Clock` when the pool was recomputed."""

    def add_pool_changes(self, decisions: Sequence[EligibilityDecision]) -> list[PoolChange]:
        """Record that each product's pool membership changed to ``decision.eligible`` (failed rules kept)."""
        ...

    def pool_changes(self, product_ids: Sequence[str] | None = None, limit: int = 200) -> list[PoolChange]:
        """The changes of ``product_ids`` (all products: None), newest first."""
        ...


@runtime_checkable
class ServiceRecords(Accounts, Signals, Appeals, AuctionLosses, PoolHistory, Protocol):
    """What the service keeps beside the :class:`Store`: one adapter (``storage.accounts.AccountStore``, SQL
    on the store's database or a private in-memory SQLite) implements the five ports."""


@runtime_checkable
class VectorIndex(Protocol):
    """Nearest-neighbour search over product vectors (inner product on L2-normalised vectors = cosine)."""

    def build(self, ids: IntArray, vectors: FloatArray) -> None: ...
    def search(
        self, queries: FloatArray, k: int, allowed: BoolArray | None = None
    ) -> tuple[IntArray, FloatArray]:
        """Return ``(ids [Q, k], scores [Q, k])``; ``-1`` ids pad rows with fewer than k allowed items.
        ``allowed`` is a bool mask indexed by id."""
        ...

    def upsert(self, ids: IntArray, vectors: FloatArray) -> None:
        """Add products or change their vectors, without a rebuild."""
        ...

    def remove(self, ids: IntArray) -> None:
        """Take products out of the index, without a rebuild."""
        ...

    def tune(self, queries: FloatArray, k: int, target: float = 0.97) -> float:
        """Set the search effort so that the top ``k`` of sample ``queries`` reaches ``target`` recall against
        exact search; returns the recall reached (exact indexes: 1.0)."""
        ...


@runtime_checkable
class LexicalIndex(Protocol):
    """Keyword search over product texts (BM25)."""

    def build(self, ids: IntArray, texts: Sequence[str]) -> None: ...
    def search(
        self, queries: Sequence[str], k: int, allowed: BoolArray | None = None
    ) -> tuple[IntArray, FloatArray]:
        """Return ``(ids [Q, k], scores [Q, k])``; ``-1`` ids pad rows with fewer than k matches."""
        ...


@runtime_checkable
class TextEncoder(Protocol):
    dim: int

    def encode(self, texts: Sequence[str]) -> FloatArray:
        """``[len(texts), dim]`` L2-normalised float vectors."""
        ...


@dataclass(frozen=True, slots=True)
class ScoreInput:
    """Features of R requests × N candidates (padded with ``product == -1``)."""

    product: IntArray  # [R, N] catalogue row index
    request_kind: IntArray  # [R] RequestKind codes: 0 = search, 1 = feed
    user: IntArray  # [R] user row index (-1 unknown)
    similarity: FloatArray  # [R, N] retrieval score
    position: IntArray | None = None  # [R, N] training only


@runtime_checkable
class Scorer(Protocol):
    """Predicts pCTR and pCVR (conversion given click) for candidates."""

    def score(self, x: ScoreInput) -> tuple[FloatArray, FloatArray]: ...


@runtime_checkable
class Clock(Protocol):
    def now_ms(self) -> int: ...


@dataclass(frozen=True, slots=True)
class RequestBatch:
    """R user requests served together (``serve_batch``)."""

    request_ids: Sequence[str]
    user_ids: Sequence[str]
    kinds: IntArray  # [R] RequestKind codes (RequestKind.SEARCH = 0, RequestKind.FEED = 1)
    queries: Sequence[str]  # "" for feed
    ts_ms: int
    slots: int = 10


@dataclass(frozen=True, slots=True)
class ServedBatch:
    """The engine's answer to a :class:`RequestBatch`; ``product_idx`` indexes ``MarketEngine.catalogue_ids()``.

    The first six fields are what any engine returns. The rest describe the auction per candidate (``[R, K]``,
    K = the candidates retrieved) and the creatives shown; an engine that does not report them leaves None."""

    product_idx: IntArray  # [R, S], -1 = empty slot
    promoted: BoolArray  # [R, S]
    campaign_idx: IntArray  # [R, S] index into MarketEngine.campaign_ids(), -1 = organic
    price_cpc_micros: IntArray  # [R, S] price per click, 0 for organic
    pctr: FloatArray  # [R, S] the engine's own estimates
    pcvr: FloatArray  # [R, S]
    candidates: IntArray | None = None  # [R, K] catalogue rows retrieved, -1 = padding
    candidate_campaign: IntArray | None = None  # [R, K] the campaign each candidate bid for, -1 = none
    reason: Int8Array | None = None  # [R, K] sitewide.domain.auction.Reason code per candidate
    shortfall: FloatArray | None = None  # [R, K] extra per-impression bid an outbid candidate needed
    bid: FloatArray | None = None  # [R, K] per-impression bids as the auction saw them (× delivery)
    bid_pctr: FloatArray | None = None  # [R, K] pCTR as the auction saw it (× delivery)
    variant: list[list[str | None]] | None = None  # [R][S] creative-experiment label shown, None = none
    creative: ObjectArray | None = None  # [R, S] creative id shown on a promoted slot, None elsewhere


class SettledCampaign(Protocol):
    """One campaign's row of a settlement, as the simulator reads it."""

    @property
    def campaign_id(self) -> str: ...
    @property
    def spend_micros(self) -> int: ...
    @property
    def gmv_micros(self) -> int: ...
    @property
    def compensation_micros(self) -> int: ...


class Settlement(Protocol):
    """What settling a period returns, as the simulator reads it."""

    @property
    def campaigns(self) -> Sequence[SettledCampaign]: ...


class MarketEngine(Protocol):
    """What the simulator needs from an engine: batched serving, event intake, settlement."""

    def catalogue_ids(self) -> Sequence[str]: ...
    def campaign_ids(self) -> Sequence[str]: ...
    def serve_batch(self, batch: RequestBatch) -> ServedBatch: ...
    def record_events(self, events: Sequence[Event]) -> EventReceipt: ...
    def settle(self, start_ms: int, end_ms: int) -> Settlement:
        """Settle ``[start_ms, end_ms)``."""
        ...


@runtime_checkable
class TextGenerator(Protocol):
    """Writes ad copy (titles and selling points) for one product in one language. The default is offline
    templates (``sitewide.creative.generate.OfflineGenerator``); an LLM backend may replace it. Drafts are
    checked before use (``sitewide.domain.creative.check_draft``), whatever wrote them."""

    name: str

    def generate(self, req: CopyRequest) -> list[CopyDraft]: ...
