"""In-memory :class:`~sitewide.ports.Store` for tests and fast simulations. Same contract as SQL stores."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace

from sitewide.domain.budget_lease import DayDraws, RowChange, apply_changes
from sitewide.domain.creative import BrandKit, Creative
from sitewide.domain.experiments import Experiment
from sitewide.domain.guarantee import GuaranteeContract, GuaranteeEvaluation
from sitewide.domain.incrementality import HoldoutEntry
from sitewide.domain.ledger import LedgerLine, check_balanced, credit_account
from sitewide.domain.settlement import DayFigures, SettlementRun
from sitewide.domain.terms import CampaignTerms, initial_terms
from sitewide.domain.time import DAY_MS, check_day_boundary
from sitewide.domain.types import (
    Campaign,
    Conflict,
    Event,
    EventKind,
    Product,
    Shop,
    Transaction,
    ValidationError,
)
from sitewide.ports import (
    EventReceipt,
    LedgerQuery,
    ReportPage,
    ReportQuery,
    ReportTotals,
    SettlementWrite,
)
from sitewide.storage.event_batches import first_of_each_id
from sitewide.storage.leases import LeaseRows


class MemoryStore(LeaseRows):
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._shops: dict[str, Shop] = {}
        self._products: dict[str, Product] = {}
        self._campaigns: dict[str, Campaign] = {}
        self._versions: dict[str, int] = {}
        self._draws: dict[tuple[str, int], DayDraws] = {}
        self._events: dict[str, Event] = {}
        self._event_order: list[str] = []  # by seq; an id dropped by retention stays here (seq kept), not in _events
        self._horizon = 0  # retention: events before it are refused
        self._txns: dict[str, Transaction] = {}
        self._txn_order: list[str] = []
        self._seq: dict[str, int] = {}
        self._refunds: dict[str, list[str]] = {}
        self._runs: dict[int, SettlementRun] = {}
        self._days: dict[tuple[str, str], DayFigures] = {}
        self._evals: dict[tuple[str, str], GuaranteeEvaluation] = {}
        self._contracts: dict[str, list[GuaranteeContract]] = {}
        self._experiments: dict[str, Experiment] = {}
        self._kits: dict[str, list[BrandKit]] = {}
        self._creatives: dict[str, list[Creative]] = {}
        self._terms: dict[str, list[CampaignTerms]] = {}
        self._holdout_shares: dict[str, float] = {}
        self._holdout: dict[tuple[str, str], HoldoutEntry] = {}  # (campaign, request) → entry

    # catalogue -------------------------------------------------------------------------------------
    def upsert_shops(self, shops: Iterable[Shop]) -> None:
        with self._lock:
            for s in shops:
                self._shops[s.id] = s

    def upsert_products(self, products: Iterable[Product]) -> None:
        with self._lock:
            for p in products:
                self._products[p.id] = p

    def delete_products(self, product_ids: Iterable[str]) -> int:
        with self._lock:
            return sum(self._products.pop(p, None) is not None for p in set(product_ids))

    def get_product(self, product_id: str) -> Product | None:
        return self._products.get(product_id)

    def list_products(self) -> list[Product]:
        return list(self._products.values())

    def get_shop(self, shop_id: str) -> Shop | None:
        return self._shops.get(shop_id)

    def list_shops(self) -> list[Shop]:
        return list(self._shops.values())

    # campaigns -------------------------------------------------------------------------------------
    def create_campaign(self, campaign: Campaign) -> None:
        with self._lock:
            if campaign.id in self._campaigns:
                raise Conflict(f"campaign {campaign.id} already exists")
            self._campaigns[campaign.id] = campaign
            self._terms[campaign.id] = [initial_terms(campaign)]
            self._versions["campaigns"] = self._versions.get("campaigns", 0) + 1

    def update_campaign(self, campaign: Campaign, effective_ms: int) -> None:
        with self._lock:
            if campaign.id not in self._campaigns:
                raise Conflict(f"campaign {campaign.id} does not exist")
            self._campaigns[campaign.id] = campaign
            hist = self._terms.setdefault(campaign.id, [])
            last = hist[-1] if hist else None
            if last is None or not last.same_terms(campaign):
                v = last.version + 1 if last else 1
                eff = max(effective_ms, last.effective_ms if last else 0)
                hist.append(CampaignTerms.of(campaign, v, eff))
            self._versions["campaigns"] = self._versions.get("campaigns", 0) + 1

    # shared serving state (several engines over one store) ------------------------------------------
    def store_version(self, name: str) -> int:
        with self._lock:
            return self._versions.get(name, 0)

    def changes(self, name: str) -> None:
        """One process's memory: nobody else changes it."""
        return None

    def _change(
        self, day: int, changes: Mapping[str, RowChange], budgets: Mapping[str, int]
    ) -> dict[str, int]:
        with self._lock:
            rows = {cid: self._draws.get((cid, day), DayDraws(budgets.get(cid, 0))) for cid in changes}
            got, changed = apply_changes(rows, changes)
            self._draws.update({(cid, day): r for cid, r in (rows | changed).items()})
            return got

    def add_spend(self, day: int, spend: Mapping[str, int]) -> None:
        with self._lock:
            for cid, micros in spend.items():
                row = self._draws.get((cid, day), DayDraws(0))
                self._draws[(cid, day)] = replace(row, spent_micros=row.spent_micros + int(micros))

    def day_draws(self, day: int) -> dict[str, DayDraws]:
        with self._lock:
            return {cid: r for (cid, d), r in self._draws.items() if d == day}

    def campaign_terms(self, campaign_ids: Sequence[str] | None = None) -> dict[str, list[CampaignTerms]]:
        with self._lock:
            ids = self._terms if campaign_ids is None else [i for i in campaign_ids if i in self._terms]
            return {i: list(self._terms[i]) for i in ids}

    def get_campaign(self, campaign_id: str) -> Campaign | None:
        return self._campaigns.get(campaign_id)

    def list_campaigns(self, merchant_id: str | None = None) -> list[Campaign]:
        return [c for c in self._campaigns.values() if merchant_id is None or c.merchant_id == merchant_id]

    # events ----------------------------------------------------------------------------------------
    def _live(self, ids: Iterable[str]) -> Iterator[Event]:
        return (self._events[i] for i in ids if i in self._events)

    def append_events(self, events: Sequence[Event]) -> EventReceipt:
        with self._lock:
            if late := next((e for e in events if e.ts_ms < self._horizon), None):
                raise ValidationError(f"event {late.id}: ts_ms {late.ts_ms} is before the retention horizon")
            fresh, dups = first_of_each_id(events, self._events)
            self._events.update(fresh)
            for eid, e in fresh.items():
                self._event_order.append(eid)
                self._seq[eid] = len(self._event_order)
                if e.kind is EventKind.REFUND and e.order_id:
                    self._refunds.setdefault(e.order_id, []).append(eid)
            return EventReceipt(inserted=len(fresh), duplicates=dups, inserted_ids=tuple(fresh))

    def events_between(self, start_ms: int, end_ms: int, kinds: Sequence[str] | None = None) -> list[Event]:
        ks = set(kinds) if kinds is not None else None
        out = [
            e
            for e in self._live(self._event_order)
            if start_ms <= e.ts_ms < end_ms and (ks is None or e.kind.value in ks)
        ]
        out.sort(key=lambda e: (e.ts_ms, e.id))
        return out

    def report(self, q: ReportQuery) -> ReportPage:
        ids, group_by, first_day, last_day = set(q.campaign_ids), q.group_by, q.first_day, q.last_day
        acc: dict[str, list[int]] = {}

        def add(key: str, *figures: int) -> None:
            a = acc.setdefault(key, [0] * 6)
            for i, x in enumerate(figures):
                a[i] += x

        with self._lock:
            for (cid, day), f in self._days.items():
                if cid in ids and first_day <= day <= last_day:
                    if group_by == "product":
                        for p in f.products:
                            g = p.gross_gmv_micros - p.refunded_micros
                            add(p.product_id, p.impressions, p.clicks, p.orders, p.spend_micros, g)
                    else:
                        key = day if group_by == "day" else cid
                        add(key, f.impressions, f.clicks, f.orders, f.spend_micros, f.gmv_micros)
            for t in self._txns.values():
                for e in t.entries:
                    if (
                        group_by != "product"
                        and e.campaign_id in ids
                        and e.day is not None
                        and first_day <= e.day <= last_day
                        and e.window is not None
                        and e.account == credit_account(e.merchant_id or "")
                    ):
                        add(
                            e.day if group_by == "day" else e.campaign_id or "",
                            0,
                            0,
                            0,
                            0,
                            0,
                            e.amount_micros,
                        )
        keys = sorted(acc)
        page = keys[q.offset : None if q.limit is None else q.offset + q.limit]
        total = [sum(v[i] for v in acc.values()) for i in range(6)]
        return ReportPage(
            tuple(ReportTotals(k, *acc[k]) for k in page), ReportTotals("total", *total), len(keys)
        )

    def get_events(self, ids: Sequence[str]) -> dict[str, Event]:
        return {i: self._events[i] for i in ids if i in self._events}

    # ledger ----------------------------------------------------------------------------------------
    def append_transactions(self, txns: Sequence[Transaction]) -> bool:
        with self._lock:
            if any(t.id in self._txns for t in txns):
                return False
            check_balanced(txns)
            for t in txns:
                self._txns[t.id] = t
                self._txn_order.append(t.id)
            return True

    def list_transactions(self, kind: str | None = None, period: str | None = None) -> list[Transaction]:
        return [
            t
            for t in (self._txns[i] for i in self._txn_order)
            if (kind is None or t.kind == kind) and (period is None or t.period == period)
        ]

    def ledger_entries(self, where: LedgerQuery | None = None) -> list[LedgerLine]:
        w = where or LedgerQuery()
        with self._lock:
            return [
                LedgerLine(t.period, t.kind, e)
                for t in (self._txns[i] for i in self._txn_order)
                for e in t.entries
                if w.matches(e)
            ]

    def balances(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self._txns.values():
            for e in t.entries:
                out[e.account] = out.get(e.account, 0) + e.amount_micros
        return out

    # settlement ------------------------------------------------------------------------------------
    def prepare_event_days(self, start_ms: int, end_ms: int) -> list[int]:
        return []  # one list of events: no day storage to prepare

    def drop_events_before(self, before_ms: int) -> list[int]:
        check_day_boundary(before_ms, "retention horizon")
        with self._lock:
            if before_ms <= self._horizon:
                return []
            self._horizon = before_ms
            gone = [e for e in self._events.values() if e.ts_ms < before_ms]
            for e in gone:
                del self._events[e.id]
            for o in [o for o, ids in self._refunds.items() if not any(i in self._events for i in ids)]:
                del self._refunds[o]
            return sorted({e.ts_ms // DAY_MS for e in gone})

    def event_watermark(self) -> int:
        return len(self._event_order)

    def event_stamps_after(self, after: int, upto: int) -> list[tuple[int, str, str | None]]:
        with self._lock:
            ids = self._event_order[max(after, 0) : max(upto, 0)]
            return [(e.ts_ms, e.kind.value, e.order_id) for e in self._live(ids)]

    def event_stamps_between(self, start_ms: int, end_ms: int) -> list[tuple[int, str, str | None]]:
        with self._lock:
            evs = list(self._live(self._event_order))
        return [(e.ts_ms, e.kind.value, e.order_id) for e in evs if start_ms <= e.ts_ms < end_ms]

    def campaign_event_days(self, start_ms: int, end_ms: int) -> list[int]:
        with self._lock:
            evs = list(self._live(self._event_order))
        kinds = (EventKind.CLICK, EventKind.IMPRESSION)
        return sorted(
            {
                e.ts_ms // DAY_MS
                for e in evs
                if start_ms <= e.ts_ms < end_ms and e.campaign_id is not None and e.kind in kinds
            }
        )

    def refunds_for(self, order_ids: Sequence[str]) -> dict[str, list[Event]]:
        with self._lock:
            return {
                o: list(self._live(self._refunds[o])) for o in set(order_ids) if o in self._refunds
            }

    def last_run(self) -> SettlementRun | None:
        with self._lock:
            return self._runs[max(self._runs)] if self._runs else None

    def runs_for_period(self, period: str) -> list[SettlementRun]:
        with self._lock:
            return [r for _, r in sorted(self._runs.items()) if r.period == period]

    def day_figures(
        self, first_day: str, last_day: str, campaign_id: str | None = None, *, products: bool = True
    ) -> dict[tuple[str, str], DayFigures]:
        with self._lock:
            return {
                k: f if products else replace(f, products=())
                for k, f in self._days.items()
                if first_day <= k[1] <= last_day and (campaign_id is None or k[0] == campaign_id)
            }

    def guarantee_evaluations(
        self, first_day: str, last_day: str, campaign_id: str | None = None
    ) -> dict[tuple[str, str], GuaranteeEvaluation]:
        with self._lock:
            return {
                k: g
                for k, g in self._evals.items()
                if first_day <= g.first_day <= last_day and (campaign_id is None or k[0] == campaign_id)
            }

    def commit_settlement(self, write: SettlementWrite) -> bool:
        run, txn = write.run, write.txn
        with self._lock:
            if run.seq in self._runs or (txn is not None and txn.id in self._txns):
                return False
            if txn is not None:
                check_balanced([txn])
            self._runs[run.seq] = run
            if txn is not None:
                self._txns[txn.id] = txn
                self._txn_order.append(txn.id)
            for f in write.days:
                self._days[(f.campaign_id, f.day)] = f
            for g in write.evaluations:
                self._evals[(g.campaign_id, g.window)] = g
            return True

    def put_guarantee(self, contract: GuaranteeContract) -> GuaranteeContract:
        if contract.campaign_id is None:
            raise Conflict("a stored guarantee contract needs a campaign_id")
        with self._lock:
            versions = self._contracts.setdefault(contract.campaign_id, [])
            c = replace(contract, version=len(versions) + 1)
            versions.append(c)
            return c

    def guarantees(self) -> dict[str, GuaranteeContract]:
        with self._lock:
            return {cid: v[-1] for cid, v in self._contracts.items() if v}

    # creatives --------------------------------------------------------------------------------------
    def put_brand_kit(self, kit: BrandKit) -> BrandKit:
        with self._lock:
            versions = self._kits.setdefault(kit.shop_id, [])
            k = replace(kit, version=len(versions) + 1)
            versions.append(k)
            return k

    def brand_kit_versions(self, shop_id: str) -> list[BrandKit]:
        with self._lock:
            return list(self._kits.get(shop_id, []))

    def put_creatives(self, product_id: str, creatives: Sequence[Creative]) -> None:
        if any(c.product_id != product_id for c in creatives):
            raise Conflict(f"creatives of another product given for {product_id}")
        with self._lock:
            self._creatives[product_id] = list(creatives)

    def list_creatives(self, product_id: str | None = None) -> list[Creative]:
        with self._lock:
            if product_id is not None:
                return list(self._creatives.get(product_id, []))
            return [c for _, cs in sorted(self._creatives.items()) for c in cs]

    # merchant experiments ---------------------------------------------------------------------------
    def put_experiment(self, experiment: Experiment) -> None:
        with self._lock:
            self._experiments[experiment.id] = experiment

    def get_experiment(self, experiment_id: str) -> Experiment | None:
        return self._experiments.get(experiment_id)

    def list_experiments(self, merchant_id: str | None = None) -> list[Experiment]:
        with self._lock:
            return [
                e
                for _, e in sorted(self._experiments.items())
                if merchant_id is None or e.merchant_id == merchant_id
            ]

    # ghost-bid holdouts ----------------------------------------------------------------------------------
    def put_holdout_share(self, campaign_id: str, share: float) -> None:
        with self._lock:
            self._holdout_shares[campaign_id] = float(share)

    def holdout_shares(self) -> dict[str, float]:
        with self._lock:
            return dict(self._holdout_shares)

    def append_holdout_entries(self, entries: Sequence[HoldoutEntry]) -> None:
        with self._lock:
            for e in entries:
                self._holdout.setdefault((e.campaign_id, e.request_id), e)

    def holdout_entries(self, campaign_id: str, start_ms: int, end_ms: int) -> list[HoldoutEntry]:
        with self._lock:
            got = [
                e for (c, _), e in self._holdout.items() if c == campaign_id and start_ms <= e.ts_ms < end_ms
            ]
        return sorted(got, key=lambda e: (e.ts_ms, e.request_id))

    def prune_holdout_entries(self, before_ms: int) -> int:
        with self._lock:
            old = [k for k, e in self._holdout.items() if e.ts_ms < before_ms]
            for k in old:
                del self._holdout[k]
        return len(old)
