"""The SQL store's ledger, settlement runs and guarantee contracts (a part of :class:`SqlStore`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import TypeVar

from sqlalchemy import (
    Table,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from sitewide.domain.guarantee import GuaranteeContract, GuaranteeEvaluation
from sitewide.domain.ledger import LedgerLine, check_balanced
from sitewide.domain.settlement import DayFigures, ProductFigures, SettlementRun
from sitewide.domain.time import DAY_MS
from sitewide.domain.types import (
    Conflict,
    Event,
    EventKind,
    LedgerEntry,
    Transaction,
)
from sitewide.ports import LedgerQuery, SettlementWrite
from sitewide.storage.schema import Tables
from sitewide.storage.sql_rows import WINDOW_KEY, append_version, from_row, to_row

T = TypeVar("T")


class SqlLedger:
    """Append-only: transactions are stored whole or not at all; runs, figures and judgements in one write."""

    engine: Engine
    t: Tables

    # ledger ----------------------------------------------------------------------------------------
    def append_transactions(self, txns: Sequence[Transaction]) -> bool:
        check_balanced(txns)
        try:
            with self.engine.begin() as conn:
                ids = [t.id for t in txns]
                if (
                    ids
                    and conn.execute(
                        select(self.t.transactions.c.id).where(self.t.transactions.c.id.in_(ids))
                    ).first()
                ):
                    return False
                for t in txns:
                    self._insert_txn(conn, t)
        except IntegrityError:  # a concurrent writer stored the same id first
            return False
        return True

    def list_transactions(self, kind: str | None = None, period: str | None = None) -> list[Transaction]:
        q = select(self.t.transactions).order_by(self.t.transactions.c.seq)
        if kind is not None:
            q = q.where(self.t.transactions.c.kind == kind)
        if period is not None:
            q = q.where(self.t.transactions.c.period == period)
        with self.engine.connect() as conn:
            txs = list(conn.execute(q))
            by: dict[str, list[LedgerEntry]] = {t.id: [] for t in txs}
            ids = list(by)
            for i in range(0, len(ids), 500):
                for r in conn.execute(
                    select(self.t.entries)
                    .where(self.t.entries.c.txn_id.in_(ids[i : i + 500]))
                    .order_by(self.t.entries.c.seq)
                ):
                    by[r.txn_id].append(from_row(LedgerEntry, r, WINDOW_KEY))
        return [Transaction(t.id, t.kind, t.period, int(t.ts_ms), tuple(by[t.id])) for t in txs]

    def ledger_entries(self, where: LedgerQuery | None = None) -> list[LedgerLine]:
        w = where or LedgerQuery()
        q = (
            select(self.t.entries, self.t.transactions.c.period, self.t.transactions.c.kind)
            .join(self.t.transactions, self.t.transactions.c.id == self.t.entries.c.txn_id)
            .order_by(self.t.entries.c.seq)
        )
        if w.merchant_id is not None:
            q = q.where(self.t.entries.c.merchant_id == w.merchant_id)
        if w.campaign_id is not None:
            q = q.where(self.t.entries.c.campaign_id == w.campaign_id)
        if w.accounts is not None:
            q = q.where(self.t.entries.c.account.in_(list(w.accounts)))
        with self.engine.connect() as conn:
            return [
                LedgerLine(r.period, r.kind, from_row(LedgerEntry, r, WINDOW_KEY)) for r in conn.execute(q)
            ]

    def balances(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(self.t.entries.c.account, func.sum(self.t.entries.c.amount_micros)).group_by(
                    self.t.entries.c.account
                )
            )
            return {r[0]: int(r[1]) for r in rows}

    # settlement ------------------------------------------------------------------------------------
    def event_watermark(self) -> int:
        """The highest ingestion seq below which every event is committed. On PostgreSQL a sequence value
        can commit after a higher one, so the read waits, under a brief SHARE ROW EXCLUSIVE lock, for the
        inserts in flight to finish; SQLite has one writer at a time."""
        with self.engine.begin() as conn:
            if self.engine.dialect.name == "postgresql":
                conn.execute(text("LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE"))
            v = conn.execute(select(func.max(self.t.events.c.seq))).scalar()
        return int(v or 0)

    def event_stamps_after(self, after: int, upto: int) -> list[tuple[int, str, str | None]]:
        q = select(self.t.events.c.ts_ms, self.t.events.c.kind, self.t.events.c.order_id).where(
            self.t.events.c.seq > after, self.t.events.c.seq <= upto
        )
        with self.engine.connect() as conn:
            return [(int(r[0]), str(r[1]), r[2]) for r in conn.execute(q)]

    def event_stamps_between(self, start_ms: int, end_ms: int) -> list[tuple[int, str, str | None]]:
        ev = self.t.events
        q = select(ev.c.ts_ms, ev.c.kind, ev.c.order_id).where(ev.c.ts_ms >= start_ms, ev.c.ts_ms < end_ms)
        with self.engine.connect() as conn:
            return [(int(r[0]), str(r[1]), r[2]) for r in conn.execute(q)]

    def campaign_event_days(self, start_ms: int, end_ms: int) -> list[int]:
        """One range scan of the ts_ms index; ``//`` is integer (floor) division on both dialects."""
        ev = self.t.events
        day = (ev.c.ts_ms // DAY_MS).label("d")
        q = (
            select(day)
            .where(
                ev.c.ts_ms >= start_ms,
                ev.c.ts_ms < end_ms,
                ev.c.campaign_id.is_not(None),
                ev.c.kind.in_([EventKind.CLICK.value, EventKind.IMPRESSION.value]),
            )
            .distinct()
        )
        with self.engine.connect() as conn:
            return sorted(int(r[0]) for r in conn.execute(q))

    def refunds_for(self, order_ids: Sequence[str]) -> dict[str, list[Event]]:
        ids = sorted(set(order_ids))
        out: dict[str, list[Event]] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(ids), 500):
                q = select(self.t.events).where(
                    self.t.events.c.kind == EventKind.REFUND.value,
                    self.t.events.c.order_id.in_(ids[i : i + 500]),
                )
                for r in conn.execute(q):
                    e = from_row(Event, r)
                    out.setdefault(e.order_id or "", []).append(e)
        return out

    def last_run(self) -> SettlementRun | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(self.t.runs).order_by(self.t.runs.c.seq.desc()).limit(1)).first()
        return from_row(SettlementRun, r) if r is not None else None

    def runs_for_period(self, period: str) -> list[SettlementRun]:
        with self.engine.connect() as conn:
            q = select(self.t.runs).where(self.t.runs.c.period == period).order_by(self.t.runs.c.seq)
            return [from_row(SettlementRun, r) for r in conn.execute(q)]

    def day_figures(
        self, first_day: str, last_day: str, campaign_id: str | None = None, *, products: bool = True
    ) -> dict[tuple[str, str], DayFigures]:
        """The latest figures per campaign-day, each with its product rows (of the same run) unless
        ``products=False``."""
        t, p = self.t.day_figures, self.t.product_figures
        latest: dict[tuple[str, str], object] = {}
        rows: dict[tuple[str, str, int], list[ProductFigures]] = {}
        q = select(t).where(t.c.day >= first_day, t.c.day <= last_day).order_by(t.c.run_seq)
        qp = select(p).where(p.c.day >= first_day, p.c.day <= last_day).order_by(p.c.product_id)
        if campaign_id is not None:
            q, qp = q.where(t.c.campaign_id == campaign_id), qp.where(p.c.campaign_id == campaign_id)
        with self.engine.connect() as conn:
            for r in conn.execute(q):
                latest[(r.campaign_id, r.day)] = r
            want = {(k[0], k[1], r.run_seq) for k, r in latest.items()}  # type: ignore[attr-defined]
            for r in conn.execute(qp) if products else ():  # only the latest run's rows are decoded
                pk = (r.campaign_id, r.day, r.run_seq)
                if pk in want:
                    rows.setdefault(pk, []).append(from_row(ProductFigures, r))
        return {
            k: from_row(DayFigures, r, products=tuple(rows.get((*k, r.run_seq), ())))  # type: ignore[attr-defined]
            for k, r in latest.items()
        }

    def guarantee_evaluations(
        self, first_day: str, last_day: str, campaign_id: str | None = None
    ) -> dict[tuple[str, str], GuaranteeEvaluation]:
        t = self.t.evals
        got = self._latest(
            t, t.c.first_day, GuaranteeEvaluation, first_day, last_day, campaign_id, WINDOW_KEY
        )
        return {(g.campaign_id, g.window): g for g in got}

    def _latest(
        self,
        t: Table,
        day: ColumnElement[str],
        cls: type[T],
        first_day: str,
        last_day: str,
        campaign_id: str | None,
        renamed: dict[str, str] | None = None,
    ) -> list[T]:
        """Rows with ``first_day ≤ day ≤ last_day`` in run order (a later run's row replaces an earlier one)."""
        q = select(t).where(day >= first_day, day <= last_day).order_by(t.c.run_seq)
        if campaign_id is not None:
            q = q.where(t.c.campaign_id == campaign_id)
        with self.engine.connect() as conn:
            return [from_row(cls, r, renamed) for r in conn.execute(q)]

    def commit_settlement(self, write: SettlementWrite) -> bool:
        run, txn, days, evaluations = write.run, write.txn, write.days, write.evaluations
        if txn is not None:
            check_balanced([txn])
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(self.t.runs), [to_row(run)])
                if txn is not None:
                    self._insert_txn(conn, txn)
                if days:
                    figs = [to_row(f, skip=("products",), run_seq=run.seq) for f in days]
                    conn.execute(insert(self.t.day_figures), figs)
                    per_product = [
                        to_row(p, campaign_id=f.campaign_id, day=f.day, run_seq=run.seq)
                        for f in days
                        for p in f.products
                    ]
                    if per_product:
                        conn.execute(insert(self.t.product_figures), per_product)
                if evaluations:
                    conn.execute(
                        insert(self.t.evals), [to_row(g, WINDOW_KEY, run_seq=run.seq) for g in evaluations]
                    )
        except IntegrityError:  # another run committed this seq (or transaction id) first
            return False
        return True

    def put_guarantee(self, contract: GuaranteeContract) -> GuaranteeContract:
        if contract.campaign_id is None:
            raise Conflict("a stored guarantee contract needs a campaign_id")

        def make(version: int) -> tuple[GuaranteeContract, str]:
            c = replace(contract, version=version)
            return c, json.dumps(c.to_dict(), sort_keys=True)

        return append_version(self.engine, self.t.contracts, ("campaign_id", contract.campaign_id), make)

    def guarantees(self) -> dict[str, GuaranteeContract]:
        out: dict[str, GuaranteeContract] = {}
        with self.engine.connect() as conn:
            for r in conn.execute(select(self.t.contracts).order_by(self.t.contracts.c.version)):
                out[r.campaign_id] = GuaranteeContract.from_dict(json.loads(r.document))
        return out

    def _insert_txn(self, conn: Connection, t: Transaction) -> None:
        conn.execute(
            insert(self.t.transactions), [{"id": t.id, "kind": t.kind, "period": t.period, "ts_ms": t.ts_ms}]
        )
        if t.entries:
            conn.execute(insert(self.t.entries), [to_row(e, WINDOW_KEY, txn_id=t.id) for e in t.entries])
