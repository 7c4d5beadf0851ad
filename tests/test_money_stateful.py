"""Stateful test of the money path (issue 14): random interleavings of campaign edits, event batches (with
duplicates, late orders and refunds, and events that break a rule), settles of random ended periods and
restarts, against the engine over SQLite and over PostgreSQL. Edits change target, budget, status and the
products a campaign promotes (a click on a product the campaign did not promote at that time is refused).

After every step: every transaction balances; no campaign-day is charged above the budget in force that day;
each judged guarantee window's compensation equals what its contract says under the terms in force on its
days; a batch with a bad event stores nothing. At the end: the ledger equals settling the same events once.

The model keeps its own copy of the campaigns' term versions and folds them per day (highest budget, lowest
target) without the engine's code, so a settlement that used the current terms, or any other version, fails.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from scripts.pg import ENV_URL, drop_schema, isolated_engine, unreachable_reason
from sqlalchemy import create_engine

from sitewide.domain.guarantee import payout_due
from sitewide.domain.money import Micros
from sitewide.domain.settlement import DayFigures, zero_figures
from sitewide.domain.time import ManualClock, day_bounds, day_index, day_str
from sitewide.domain.types import (
    Campaign,
    CampaignStatus,
    Event,
    EventKind,
    Product,
    Shop,
    ValidationError,
)
from sitewide.engine import Engine, EngineConfig
from sitewide.ports import LedgerQuery, Store
from sitewide.storage.memory import MemoryStore
from sitewide.storage.sql import SqlStore
from sitewide.wiring import make_engine

H = 3_600_000
DAY = 86_400_000
CNY = 1_000_000
BASE = day_bounds("2026-02-01")[0]
LAST_DAY = 6  # the story runs over days 0..6
SHOPS = [Shop("s1", "m1", "one"), Shop("s2", "m2", "two")]
PRODUCTS = [Product(f"p{i}", f"s{1 + i % 2}", f"thing {i}", "cat", Micros(20 * CNY)) for i in range(4)]
CAMPAIGNS = {
    "c1": Campaign("c1", "m1", "one", ("p0",), Decimal("2"), Micros(5 * CNY), created_ms=BASE),
    "c2": Campaign("c2", "m2", "two", ("p1",), Decimal("3"), Micros(3 * CNY), created_ms=BASE + 8 * H),
}
OWN_PRODUCTS = {"c1": ("p0", "p2"), "c2": ("p1", "p3")}  # s1 (m1) holds p0, p2; s2 (m2) p1, p3
PG_URL = os.environ.get(ENV_URL)


class MoneyMachine(RuleBasedStateMachine):
    backend = "sqlite"

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock(BASE + 9 * H)
        self.tmp = tempfile.mkdtemp(prefix="sitewide-money-")
        self.schema = f"m_{uuid.uuid4().hex[:12]}"
        self.store = self._open()
        self.store.upsert_shops(SHOPS)
        self.store.upsert_products(PRODUCTS)
        for c in CAMPAIGNS.values():
            self.store.create_campaign(c)
        self.engine = self._engine(self.store)
        # the model: term versions (effective_ms, campaign), accepted events, how far settlement reached
        self.versions: dict[str, list[tuple[int, Campaign]]] = {
            k: [(c.created_ms, c)] for k, c in CAMPAIGNS.items()
        }
        self.events: dict[str, Event] = {}
        self.settled_to = 0
        self.n = 0

    # plumbing ---------------------------------------------------------------------------------------------
    def _open(self) -> SqlStore:
        if self.backend == "postgres":
            assert PG_URL is not None
            if not hasattr(self, "_pg_ready"):
                isolated_engine(PG_URL, self.schema).dispose()
                self._pg_ready = True
            return SqlStore(create_engine(PG_URL, connect_args={"options": f"-csearch_path={self.schema}"}))
        return SqlStore.sqlite(os.path.join(self.tmp, "money.sqlite"))

    def _engine(self, store: Store) -> Engine:
        return make_engine(store, EngineConfig(scorer="priors", use_eligibility=False), clock=self.clock)

    def teardown(self) -> None:
        try:
            self._final_equals_settling_once()
        finally:
            self.store.engine.dispose()
            if self.backend == "postgres" and PG_URL is not None:
                drop_schema(PG_URL, self.schema)
            shutil.rmtree(self.tmp, ignore_errors=True)

    # the model's own reading of the terms -----------------------------------------------------------------
    def _in_force(self, cid: str, ts: int) -> Campaign | None:
        got = [c for eff, c in self.versions[cid] if eff <= ts]
        return got[-1] if got else None

    def _during(self, cid: str, day: int) -> list[Campaign]:
        start, end = BASE + day * DAY, BASE + (day + 1) * DAY
        first = self._in_force(cid, start) or self.versions[cid][0][1]
        return [first, *(c for eff, c in self.versions[cid] if start < eff < end)]

    def _budget(self, cid: str, day: int) -> int:
        return max(int(c.daily_budget_micros) for c in self._during(cid, day))

    def _target(self, cid: str, day: int) -> Decimal:
        return min(c.target_roi for c in self._during(cid, day))

    def _live(self, e: Event) -> bool:
        c = self._in_force(e.campaign_id or "", e.ts_ms)
        return c is not None and c.status is CampaignStatus.ACTIVE and e.product_id in c.product_ids

    def _day(self, ts: int) -> int:
        return (ts - BASE) // DAY

    # rules --------------------------------------------------------------------------------------------------
    @rule(hours=st.integers(1, 30))
    def advance(self, hours: int) -> None:
        self.clock.now = min(self.clock.now + hours * H, BASE + (LAST_DAY + 1) * DAY + H)

    @rule(
        cid=st.sampled_from(sorted(CAMPAIGNS)),
        roi=st.sampled_from(["1.5", "2", "4", "20"]),
        budget=st.sampled_from([1, 2, 5, 10]),
        paused=st.booleans(),
        rename=st.booleans(),
        products=st.sampled_from(["first", "second", "both"]),
    )
    def edit(self, cid: str, roi: str, budget: int, paused: bool, rename: bool, products: str) -> None:
        cur = self.versions[cid][-1][1]
        own = OWN_PRODUCTS[cid]  # the merchant's own products: a campaign may promote either or both
        new = replace(
            cur,
            target_roi=Decimal(roi),
            daily_budget_micros=Micros(budget * CNY),
            status=CampaignStatus.PAUSED if paused else CampaignStatus.ACTIVE,
            name=f"n{self.n}" if rename else cur.name,
            product_ids={"first": own[:1], "second": own[1:], "both": own}[products],
        )
        self.n += 1
        self.engine.update_campaign(new)
        if (new.target_roi, new.daily_budget_micros, new.status, new.product_ids) != (
            cur.target_roi,
            cur.daily_budget_micros,
            cur.status,
            cur.product_ids,
        ):
            self.versions[cid].append((self.clock.now, new))
        else:
            self.versions[cid][-1] = (self.versions[cid][-1][0], new)

    @rule(data=st.data())
    def send(self, data: st.DataObject) -> None:
        now = self.clock.now
        batch: list[Event] = []
        fresh: dict[str, Event] = {}
        for _ in range(data.draw(st.integers(1, 8), label="size")):
            kind = data.draw(st.sampled_from(["click", "click", "order", "refund", "repeat"]), label="kind")
            self.n += 1
            if kind == "click":
                cid = data.draw(st.sampled_from(sorted(CAMPAIGNS)), label="campaign")
                ts = max(BASE, now - data.draw(st.integers(0, 3 * DAY), label="age"))
                promoted = (self._in_force(cid, ts) or CAMPAIGNS[cid]).product_ids
                other = data.draw(st.integers(0, 9), label="other") == 0  # now and then any product
                pool = sorted(p.id for p in PRODUCTS) if other else sorted(promoted)
                e = Event(
                    f"k{self.n}",
                    EventKind.CLICK,
                    ts,
                    user_id=f"u{data.draw(st.integers(0, 40), label='user')}",
                    product_id=data.draw(st.sampled_from(pool), label="product"),
                    campaign_id=cid,
                    price_micros=Micros(
                        data.draw(st.sampled_from([300_000, 700_000, 1_100_000]), label="price")
                    ),
                )
            elif kind == "order":
                clicks = sorted(i for i, x in {**self.events, **fresh}.items() if x.kind is EventKind.CLICK)
                click = data.draw(st.sampled_from(clicks), label="click") if clicks else None
                src = {**self.events, **fresh}.get(click or "")
                base_ts = src.ts_ms if src else max(BASE, now - DAY)
                ts = min(now, base_ts + data.draw(st.integers(0, 2 * DAY), label="delay"))
                ghost = data.draw(st.integers(0, 14), label="ghost") == 0  # names a click nobody sent
                e = Event(
                    f"o{self.n}",
                    EventKind.ORDER,
                    ts,
                    user_id=src.user_id if src else "u0",
                    product_id=src.product_id if src else "p0",
                    order_value_micros=Micros(
                        data.draw(st.sampled_from([500_000, 2 * CNY, 6 * CNY]), label="v")
                    ),
                    click_id="ghost" if ghost else click,
                )
            elif kind == "refund":
                orders = sorted(i for i, x in {**self.events, **fresh}.items() if x.kind is EventKind.ORDER)
                if not orders:
                    continue
                o = {**self.events, **fresh}[data.draw(st.sampled_from(orders), label="order")]
                e = Event(
                    f"r{self.n}",
                    EventKind.REFUND,
                    min(now, o.ts_ms + data.draw(st.integers(0, 3 * DAY), label="rdelay")),
                    order_id=o.id,
                    order_value_micros=Micros(int(o.order_value_micros) // 2),
                )
            else:
                if not self.events:
                    continue
                e = self.events[data.draw(st.sampled_from(sorted(self.events)), label="repeat")]
            batch.append(e)
            if e.id not in self.events:
                fresh[e.id] = e
        if not batch:
            return
        known = {**self.events, **fresh}
        valid = all(
            (e.kind is not EventKind.CLICK or self._live(e))
            and (e.kind is not EventKind.ORDER or e.click_id is None or e.click_id in known)
            for e in fresh.values()
        )
        if valid:
            receipt = self.engine.record_events(batch)
            assert receipt.inserted == len(fresh)
            self.events.update(fresh)
        else:
            with pytest.raises(ValidationError):
                self.engine.record_events(batch)
            assert self.store.get_events(sorted(fresh)) == {}, "a rejected batch stored something"

    @rule(data=st.data())
    def settle(self, data: st.DataObject) -> None:
        ended = self._day(self.clock.now)  # days 0 .. ended-1 have ended
        if ended < 1:
            return
        if data.draw(st.booleans(), label="whole day"):
            d = data.draw(st.integers(0, ended - 1), label="day")
            start, end = BASE + d * DAY, BASE + (d + 1) * DAY
        else:
            end = data.draw(st.integers(BASE + H, self.clock.now), label="end")
            start = data.draw(st.integers(BASE, end - 1), label="start")
        self.engine.settle(start, end)
        self.settled_to = max(self.settled_to, end)

    @rule(data=st.data())
    def settle_too_early(self, data: st.DataObject) -> None:
        end = self.clock.now + data.draw(st.integers(1, DAY), label="ahead")
        with pytest.raises(ValidationError):
            self.engine.settle(end - DAY, end)

    @rule()
    def restart(self) -> None:
        self.store.engine.dispose()
        self.store = self._open()
        self.engine = self._engine(self.store)

    # invariants -------------------------------------------------------------------------------------------
    @invariant()
    def every_transaction_balances(self) -> None:
        for t in self.store.list_transactions():
            assert t.balanced(), t.id

    @invariant()
    def no_day_is_charged_above_its_budget_and_charges_match_the_figures(self) -> None:
        charged: dict[tuple[str, str], int] = {}
        for ln in self.store.ledger_entries(LedgerQuery(accounts=("merchant:m1:cash", "merchant:m2:cash"))):
            e = ln.entry
            assert e.campaign_id is not None and e.day is not None
            charged[(e.campaign_id, e.day)] = charged.get((e.campaign_id, e.day), 0) - int(e.amount_micros)
        figs = self.store.day_figures("0000-01-01", "9999-12-31")
        for (cid, day), amount in charged.items():
            assert 0 <= amount <= self._budget(cid, self._day(day_bounds(day)[0])), (cid, day, amount)
            assert amount == figs[(cid, day)].spend_micros

    @invariant()
    def compensation_per_window_is_what_the_contract_says_under_the_terms_of_its_days(self) -> None:
        credit: dict[tuple[str, str], int] = {}
        for ln in self.store.ledger_entries(LedgerQuery(accounts=("merchant:m1:ad_credit", "merchant:m2:ad_credit"))):
            e = ln.entry
            assert e.window is not None and e.campaign_id is not None
            credit[(e.campaign_id, e.window)] = credit.get((e.campaign_id, e.window), 0) + int(
                e.amount_micros
            )
        figs = self.store.day_figures("0000-01-01", "9999-12-31")
        for (cid, window), g in self.store.guarantee_evaluations("0000-01-01", "9999-12-31").items():
            contract = self.engine.guarantee(cid)
            days = [day_str(day_index(g.first_day) + i) for i in range(g.days)]
            fs = [figs[(cid, d)] for d in days if (cid, d) in figs]
            spend = sum(f.spend_micros for f in fs)
            need = sum(
                (f.spend_micros * self._target(cid, self._day(day_bounds(f.day)[0])) for f in fs), Decimal(0)
            )
            if contract.target_roi is not None:
                target = contract.target_roi
            elif spend:
                target = need / spend
            else:
                target = g.target_roi
            _, due, _ = payout_due(
                contract, target, spend, sum(f.gmv_micros for f in fs), sum(f.orders for f in fs)
            )
            assert abs(g.target_roi - target) < Decimal("0.000001"), (cid, window, g.target_roi, target)
            assert abs(g.due_micros - due) <= 1, (cid, window, g.due_micros, due)
            assert credit.get((cid, window), 0) == g.due_micros, (cid, window)

    # the end: the same events settled once --------------------------------------------------------------------
    def _final_equals_settling_once(self) -> None:
        end = max(self.settled_to, BASE + self._day(self.clock.now) * DAY)
        if end <= BASE:
            return
        self.engine.settle(BASE, end)
        once = MemoryStore()
        once.upsert_shops(SHOPS)
        once.upsert_products(PRODUCTS)
        for vs in self.versions.values():
            once.create_campaign(vs[0][1])
            for eff, c in vs[1:]:
                once.update_campaign(c, effective_ms=eff)
        once.append_events(list(self.events.values()))
        self._engine(once).settle(BASE, end)
        assert once.balances() == {
            k: v for k, v in self.store.balances().items() if v or k in once.balances()
        }

        def active(s: Store) -> dict[tuple[str, str], DayFigures]:
            return {
                k: f for k, f in s.day_figures("0000-01-01", "9999-12-31").items() if f != zero_figures(f)
            }

        assert active(once) == active(self.store)


MONEY_SETTINGS = settings(
    max_examples=8,
    stateful_step_count=18,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


class SqliteMoney(MoneyMachine):
    backend = "sqlite"


class PostgresMoney(MoneyMachine):
    backend = "postgres"


TestMoneyOnSqlite = SqliteMoney.TestCase
TestMoneyOnSqlite.settings = MONEY_SETTINGS


@pytest.mark.skipif(unreachable_reason(PG_URL) is not None, reason=str(unreachable_reason(PG_URL)))
class TestMoneyOnPostgres(PostgresMoney.TestCase):  # type: ignore[misc, valid-type]
    settings = MONEY_SETTINGS


class SqliteMoneyLong(MoneyMachine):
    backend = "sqlite"


TestMoneyOnSqliteLong = pytest.mark.slow(SqliteMoneyLong.TestCase)
TestMoneyOnSqliteLong.settings = settings(MONEY_SETTINGS, max_examples=150, stateful_step_count=40)
