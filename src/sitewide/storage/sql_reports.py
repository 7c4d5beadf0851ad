"""The SQL store's reports (a part of :class:`SqlStore`): one query over the latest settled figures, by day,
campaign or product, with the compensation the ledger credited — summed, ordered and paged by the database."""

from __future__ import annotations

from sqlalchemy import BigInteger, cast, distinct, func, literal, literal_column, select, union_all
from sqlalchemy.engine import Engine
from sqlalchemy.sql import Select

from sitewide.ports import ReportPage, ReportQuery, ReportTotals
from sitewide.storage.schema import Tables

FIGURES = ("imps", "clicks", "orders", "spend", "gmv", "comp")


class SqlReports:
    engine: Engine
    t: Tables

    def report(self, q: ReportQuery) -> ReportPage:
        """``UNION ALL`` of the latest figures (``settlement_days``, or ``settlement_products`` by product, of
        the highest run per campaign-day) and the merchants' compensation credit legs (by leg day = window end
        day), then ``GROUP BY`` key with ``ORDER BY``/``OFFSET``/``LIMIT``; the total is the same union summed."""
        ids = list(q.campaign_ids)
        if not ids:
            return ReportPage((), ReportTotals("total"), 0)
        u = union_all(*self._parts(ids, q.group_by, q.first_day, q.last_day)).subquery()
        sums = [func.coalesce(func.sum(u.c[f]), 0) for f in FIGURES]
        page = select(u.c.k, *sums).group_by(u.c.k).order_by(u.c.k).offset(q.offset).limit(q.limit)
        with self.engine.connect() as conn:
            rows = tuple(ReportTotals(str(r[0]), *(int(x) for x in r[1:])) for r in conn.execute(page))
            tot = conn.execute(select(func.count(distinct(u.c.k)), *sums)).one()
        return ReportPage(rows, ReportTotals("total", *(int(x) for x in tot[1:])), int(tot[0]))

    def _parts(
        self, ids: list[str], group_by: str, first_day: str, last_day: str
    ) -> list[Select[tuple[object, ...]]]:
        t, p, e = self.t.day_figures, self.t.product_figures, self.t.entries
        zero = cast(literal_column("0"), BigInteger)
        latest = (
            select(t.c.campaign_id, t.c.day, func.max(t.c.run_seq).label("rs"))
            .where(t.c.campaign_id.in_(ids), t.c.day >= first_day, t.c.day <= last_day)
            .group_by(t.c.campaign_id, t.c.day)
            .subquery()
        )
        src = p if group_by == "product" else t
        key = {"product": p.c.product_id, "day": t.c.day}.get(group_by, t.c.campaign_id)
        figures = select(
            key.label("k"),
            src.c.impressions.label("imps"),
            src.c.clicks.label("clicks"),
            src.c.orders.label("orders"),
            src.c.spend_micros.label("spend"),
            (src.c.gross_gmv_micros - src.c.refunded_micros).label("gmv"),
            zero.label("comp"),
        ).select_from(
            src.join(
                latest,
                (src.c.campaign_id == latest.c.campaign_id)
                & (src.c.day == latest.c.day)
                & (src.c.run_seq == latest.c.rs),
            )
        )
        if group_by == "product":
            return [figures]
        credit = literal("merchant:") + e.c.merchant_id + literal(":ad_credit")  # the merchant's own leg
        compensation = select(
            (e.c.day if group_by == "day" else e.c.campaign_id).label("k"),
            *(zero.label(f) for f in FIGURES[:-1]),
            e.c.amount_micros.label("comp"),
        ).where(
            e.c.campaign_id.in_(ids),
            e.c.day >= first_day,
            e.c.day <= last_day,
            e.c.window_key.is_not(None),
            e.c.account == credit,
        )
        return [figures, compensation]
