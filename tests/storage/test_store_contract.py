"""One contract, run against every Store adapter."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from scripts.pg import ENV_URL, throwaway_schema, unreachable_reason
from sqlalchemy import create_engine, inspect, text

from sitewide.domain.guarantee import GuaranteeContract, GuaranteeEvaluation
from sitewide.domain.money import Micros
from sitewide.domain.settlement import DayFigures, ProductFigures, SettlementRun
from sitewide.domain.types import Conflict, Event, EventKind, LedgerEntry, Transaction, ValidationError
from sitewide.ports import LedgerQuery, ReportQuery, ReportTotals, SettlementWrite, Store
from sitewide.storage import migrate
from sitewide.storage.memory import MemoryStore
from sitewide.storage.sql import SqlStore

PG_URL = os.environ.get(ENV_URL)
PG_SKIP = unreachable_reason(PG_URL)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
    elif request.param == "sqlite":
        yield SqlStore.sqlite(tmp_path / "sub" / "s.sqlite")
    else:
        if PG_SKIP:
            pytest.skip(PG_SKIP)
        assert PG_URL is not None
        with throwaway_schema(PG_URL) as eng:
            yield SqlStore(eng)


def click(i: str, ts: int = 1_000, price: int = 50_000) -> Event:
    return Event(
        i, EventKind.CLICK, ts, user_id="u", product_id="p00", campaign_id="c1", price_micros=Micros(price)
    )


def test_repeated_event_id_is_counted_once(store: Store) -> None:
    r1 = store.append_events([click("e1"), click("e2"), click("e1")])
    r2 = store.append_events([click("e2"), click("e3")])
    assert (r1.inserted, r1.duplicates) == (2, 1)
    assert (r2.inserted, r2.duplicates) == (1, 1)
    assert r2.inserted_ids == ("e3",)
    assert len(store.events_between(0, 10**13)) == 3


def test_same_id_different_body_is_a_conflict_and_stores_nothing(store: Store) -> None:
    store.append_events([click("e1")])
    with pytest.raises(Conflict):
        store.append_events([click("e9"), click("e1", price=60_000)])
    assert [e.id for e in store.events_between(0, 10**13)] == ["e1"]


def test_money_is_stored_and_returned_as_int(store: Store) -> None:
    store.append_events([click("e1", price=123_456_789_012)])
    (e,) = store.events_between(0, 10**13)
    assert type(e.price_micros) is int and e.price_micros == 123_456_789_012
    t = Transaction(
        "t1",
        "settlement",
        "d",
        1,
        (LedgerEntry("t1", "a", Micros(7), ""), LedgerEntry("t1", "b", Micros(-7), "")),
    )
    store.append_transactions([t])
    assert all(type(v) is int for v in store.balances().values())


def test_unbalanced_transaction_is_refused_whole(store: Store) -> None:
    good = Transaction(
        "t1", "k", "d", 1, (LedgerEntry("t1", "a", Micros(5), ""), LedgerEntry("t1", "b", Micros(-5), ""))
    )
    bad = Transaction("t2", "k", "d", 1, (LedgerEntry("t2", "a", Micros(5), ""),))
    with pytest.raises(Conflict):
        store.append_transactions([good, bad])
    assert store.list_transactions() == []
    assert store.balances() == {}


def test_transaction_ids_are_idempotent(store: Store) -> None:
    t = Transaction(
        "t1", "k", "d", 1, (LedgerEntry("t1", "a", Micros(5), ""), LedgerEntry("t1", "b", Micros(-5), ""))
    )
    assert store.append_transactions([t]) is True
    assert store.append_transactions([t]) is False
    assert store.balances() == {"a": 5, "b": -5}
    assert [x.id for x in store.list_transactions(kind="k", period="d")] == ["t1"]


def test_sqlite_file_is_created_on_first_use_and_persists(tmp_path: Path) -> None:
    path = tmp_path / "data" / "x.sqlite"
    s = SqlStore.sqlite(path)
    s.append_events([click("e1")])
    assert path.exists()
    assert len(SqlStore.sqlite(path).events_between(0, 10**13)) == 1


def txn(tid: str, a: int) -> Transaction:
    return Transaction(
        tid,
        "settlement",
        "p",
        1,
        (LedgerEntry(tid, "x", Micros(a), "m"), LedgerEntry(tid, "y", Micros(-a), "m")),
    )


def fig(day: str, spend: int, rules: tuple[tuple[str, int], ...] = ()) -> DayFigures:
    return DayFigures(
        "c1",
        "m1",
        day,
        1_000_000,
        clicks=3,
        invalid_clicks=len(rules),
        invalid_by_rule=rules,
        billable_clicks=2,
        raw_spend_micros=spend,
        spend_micros=spend,
        orders=1,
        gross_gmv_micros=5 * spend,
        refunded_micros=spend,
    )


def ev(window: str, due: int) -> GuaranteeEvaluation:
    return GuaranteeEvaluation(
        "c1", "m1", window, window[:10], 1, 1, "{}", Decimal("2.5"), 100, 50, 1, due > 0, due, "why"
    )


def run(seq: int) -> SettlementRun:
    return SettlementRun(seq, "p", 0, 10, 10 * seq, seq, 5)


def test_events_carry_an_ingestion_sequence(store: Store) -> None:
    assert store.event_watermark() == 0
    store.append_events([click("e1", ts=500), click("e2", ts=100)])
    w1 = store.event_watermark()
    store.append_events([click("e2", ts=100), click("e3", ts=50)])
    w2 = store.event_watermark()
    assert w2 > w1 > 0
    assert sorted(store.event_stamps_after(0, w1)) == [(100, "click", None), (500, "click", None)]
    assert store.event_stamps_after(w1, w2) == [(50, "click", None)]


def test_refunds_are_found_by_order(store: Store) -> None:
    r1 = Event("r1", EventKind.REFUND, 9, order_value_micros=Micros(5), order_id="o1")
    r2 = Event("r2", EventKind.REFUND, 9, order_value_micros=Micros(7), order_id="o1")
    store.append_events([r1, r2, Event("r3", EventKind.REFUND, 9, order_id="o2")])
    got = store.refunds_for(["o1", "o9"])
    assert set(got) == {"o1"} and sorted(e.id for e in got["o1"]) == ["r1", "r2"]


def test_commit_settlement_is_atomic_and_serialised_by_run_seq(store: Store) -> None:
    assert store.commit_settlement(
        SettlementWrite(run(1), txn("s1", 5), [fig("2026-01-01", 10)], [ev("2026-01-01+1d", 3)])
    )
    # the same seq again (a concurrent run that lost): nothing at all is written
    assert not store.commit_settlement(
        SettlementWrite(run(1), txn("s1b", 9), [fig("2026-01-01", 99)], [ev("2026-01-01+1d", 9)])
    )
    assert store.balances() == {"x": 5, "y": -5}
    assert store.day_figures("2026-01-01", "2026-01-01")[("c1", "2026-01-01")].spend_micros == 10
    # an unbalanced transaction is refused whole
    bad = Transaction("s2", "settlement", "p", 1, (LedgerEntry("s2", "x", Micros(1), ""),))
    with pytest.raises(Conflict):
        store.commit_settlement(SettlementWrite(run(2), bad, [fig("2026-01-01", 77)], []))
    last = store.last_run()
    assert last is not None and last.seq == 1 and last.as_of_ms == 10
    # a correction is a new version; readers return the latest per key, with exact round-trips
    f2 = fig("2026-01-01", 12, (("bot_user", 1), ("click_flood", 2)))
    assert store.commit_settlement(
        SettlementWrite(run(2), txn("s2", 2), [f2, fig("2026-01-03", 4)], [ev("2026-01-01+1d", 0)])
    )
    figs = store.day_figures("2026-01-01", "2026-01-02")
    assert figs == {("c1", "2026-01-01"): f2}
    assert store.guarantee_evaluations("2026-01-01", "2026-01-01") == {
        ("c1", "2026-01-01+1d"): ev("2026-01-01+1d", 0)
    }
    assert store.balances() == {"x": 7, "y": -7}
    assert [r.seq for r in store.runs_for_period("p")] == [1, 2]
    assert store.commit_settlement(SettlementWrite(run(3), None, [], []))


def test_guarantee_contracts_are_versioned(store: Store) -> None:
    a = store.put_guarantee(GuaranteeContract(campaign_id="c1", window_days=3, repeat=False))
    b = store.put_guarantee(GuaranteeContract(campaign_id="c1", min_orders=10))
    store.put_guarantee(GuaranteeContract(campaign_id="c2"))
    assert (a.version, b.version) == (1, 2)
    got = store.guarantees()
    assert got["c1"] == b and got["c2"].version == 1


def test_a_database_from_before_migrations_is_upgraded_in_place(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    eng = create_engine(url)
    migrate.upgrade(eng, migrate.BASELINE)
    with eng.begin() as c:  # the pre-migration schema, with an event, and no alembic_version table
        c.execute(
            text(
                "INSERT INTO events (id, kind, ts_ms, user_id, product_id, request_id, price_micros, "
                "order_value_micros) VALUES ('old1', 'click', 7, 'u', 'p00', '', 5, 0)"
            )
        )
        c.execute(text("DROP TABLE alembic_version"))
    s = SqlStore(eng)
    assert migrate.current_revision(eng) == migrate.HEAD
    assert [e.id for e in s.events_between(0, 100)] == ["old1"]
    assert s.event_watermark() == 1 and "settlement_runs" in inspect(eng).get_table_names()
    s.append_events([click("e2")])
    assert s.event_watermark() == 2


def test_experiments_are_stored_whole_replaced_on_change_and_scoped_by_merchant(store: Store) -> None:
    from dataclasses import replace

    from sitewide.domain.experiments import Arm, Experiment, ExperimentKind, Guardrails, stop

    exp = Experiment(
        id="x1",
        merchant_id="m1",
        name="title test",
        kind=ExperimentKind.CREATIVE,
        campaign_id="c1",
        product_ids=("p1",),
        arms=(
            Arm("A", title="Red shoe"),
            Arm("B", title="Light red running shoe", spend_cap_micros=Micros(5)),
        ),
        salt="s1",
        guardrails=Guardrails(min_roi=1.2),
        created_ms=7,
    )
    other = replace(exp, id="x2", merchant_id="m2", arms=(Arm("A"), Arm("B", target_roi=Decimal("2.5"))))
    assert store.get_experiment("x1") is None
    store.put_experiment(exp)
    store.put_experiment(other)
    assert store.get_experiment("x1") == exp
    assert [e.id for e in store.list_experiments()] == ["x1", "x2"]
    assert store.list_experiments("m2") == [other]
    done = stop(exp, 99, "B", "significant")
    store.put_experiment(done)
    assert store.get_experiment("x1") == done
    assert len(store.list_experiments("m1")) == 1


def test_brand_kits_are_append_only_versions_and_creatives_replace_per_product(store: Store) -> None:
    from sitewide.domain.creative import Angle, BrandKit, CheckResult, CopyDraft, Creative, Lang, Violation

    assert store.brand_kit_versions("s1") == []
    k1 = store.put_brand_kit(BrandKit("s1", tone_words=("bold",), required_terms=("Acme",)))
    k2 = store.put_brand_kit(BrandKit("s1", version=7, colours=("#000000", "#ffffff"), logo_text="ACME"))
    assert (k1.version, k2.version) == (1, 2)
    assert store.brand_kit_versions("s1") == [k1, k2]
    assert store.put_brand_kit(BrandKit("s2")).version == 1

    def cr(cid: str, pid: str, ok: bool = True) -> Creative:
        chk = CheckResult(
            ok, () if ok else (Violation("price_mismatch", "quotes 9.00, catalogue price is 12.00"),)
        )
        draft = CopyDraft(f"Acme {cid}", ("一", "two"), Lang.ZH, Angle.PRICE, "offline")
        return Creative(cid, pid, "s1", 2, draft, chk, f"{cid}.png" if ok else None)

    store.put_creatives("p1", [cr("cr-b", "p1"), cr("cr-a", "p1", ok=False)])
    store.put_creatives("p2", [cr("cr-c", "p2")])
    assert store.list_creatives("p1") == [cr("cr-b", "p1"), cr("cr-a", "p1", ok=False)]  # order kept
    store.put_creatives("p1", [cr("cr-d", "p1")])
    assert [c.id for c in store.list_creatives()] == ["cr-d", "cr-c"]
    with pytest.raises(Conflict):
        store.put_creatives("p1", [cr("cr-e", "p2")])
    assert [c.id for c in store.list_creatives("p1")] == ["cr-d"]


def test_campaign_terms_are_versioned_from_their_effective_time(store: Store) -> None:
    from dataclasses import replace

    from sitewide.domain.types import Campaign, CampaignStatus

    c = Campaign("c1", "m1", "n", ("p00",), Decimal("2.00"), Micros(30_000_000), created_ms=1_000)
    store.create_campaign(c)
    store.update_campaign(replace(c, name="renamed"), effective_ms=2_000)  # not a money term: no version
    store.update_campaign(replace(c, daily_budget_micros=Micros(100)), effective_ms=5_000)
    store.update_campaign(replace(c, status=CampaignStatus.PAUSED), effective_ms=4_000)  # clock behind
    hist = store.campaign_terms()["c1"]
    assert [(t.version, t.effective_ms, t.daily_budget_micros) for t in hist] == [
        (1, 1_000, 30_000_000),
        (2, 5_000, 100),
        (3, 5_000, 30_000_000),
    ]
    assert hist[2].status is CampaignStatus.PAUSED and hist[0].target_roi == Decimal("2.00")
    assert store.campaign_terms(["c9"]) == {}


def test_ledger_legs_are_selected_by_their_structured_columns(store: Store) -> None:
    from sitewide.domain.ledger import EntryKeys, TransactionBuilder

    tb = TransactionBuilder("s1")
    tb.charge(5, "charge", EntryKeys("tA", "ca", "2026-01-02"))
    tb.charge(7, "charge", EntryKeys("tA:eu", "cb", "2026-01-02"))
    tb.compensate(2, "comp", EntryKeys("tA", "ca", "2026-01-04", "2026-01-02+3d"))
    t = tb.build("settlement", "2026-01-05", 1)
    assert t is not None and store.append_transactions([t])
    mine = store.ledger_entries(LedgerQuery(merchant_id="tA"))
    assert {ln.entry.account for ln in mine} == {
        "platform:revenue",
        "merchant:tA:cash",
        "merchant:tA:ad_credit",
        "platform:compensation",
    }
    assert all(ln.period == "2026-01-05" and ln.kind == "settlement" for ln in mine)
    (comp,) = store.ledger_entries(LedgerQuery(campaign_id="ca", accounts=("merchant:tA:ad_credit",)))
    assert (comp.entry.amount_micros, comp.entry.day, comp.entry.window) == (2, "2026-01-04", "2026-01-02+3d")
    assert store.list_transactions()[0].entries == t.entries


def test_events_between_selects_by_time_and_kind_in_time_order(store: Store) -> None:
    other = Event(
        "x1", EventKind.CLICK, 1_500, user_id="u", product_id="p09", campaign_id="c9", price_micros=Micros(9)
    )
    imp = Event("i1", EventKind.IMPRESSION, 1_200, user_id="u", product_id="p00", campaign_id="c1")
    store.append_events([click("e1", price=5), click("e2", price=7), click("e3", ts=9_000), other, imp])
    assert [e.id for e in store.events_between(0, 10_000, ["click"])] == ["e1", "e2", "x1", "e3"]
    assert [e.id for e in store.events_between(0, 5_000, ["impression", "order"])] == ["i1"]


def test_reports_sum_the_latest_figures_per_key_and_every_grouping_agrees(store: Store) -> None:
    def f(cid: str, day: str, spend: int, *products: ProductFigures) -> DayFigures:
        return DayFigures(
            cid,
            "m1",
            day,
            10**9,
            clicks=sum(p.clicks for p in products),
            orders=sum(p.orders for p in products),
            spend_micros=spend,
            gross_gmv_micros=sum(p.gross_gmv_micros for p in products),
            refunded_micros=sum(p.refunded_micros for p in products),
            impressions=sum(p.impressions for p in products),
            products=products,
        )

    def pf(pid: str, spend: int, imps: int = 10) -> ProductFigures:
        return ProductFigures(
            pid,
            impressions=imps,
            clicks=2,
            spend_micros=spend,
            orders=1,
            gross_gmv_micros=3 * spend,
            refunded_micros=spend // 2,
        )

    store.commit_settlement(
        SettlementWrite(
            run(1), None, [f("c1", "2026-01-01", 10, pf("pa", 10)), f("c2", "2026-01-01", 5, pf("pb", 5))], []
        )
    )
    later = [
        f("c1", "2026-01-01", 12, pf("pa", 8), pf("pb", 4)),
        f("c1", "2026-01-02", 7, pf("pa", 7, imps=40)),
    ]
    store.commit_settlement(SettlementWrite(run(2), None, later, []))  # replaces c1's first day
    store.commit_settlement(
        SettlementWrite(run(3), None, [f("c9", "2026-01-01", 99, pf("pa", 99))], [])
    )  # not the caller's
    t = Transaction(
        "t1",
        "settlement",
        "p",
        1,
        (
            LedgerEntry(
                "t1", "merchant:m1:ad_credit", Micros(6), "", "m1", "c1", "2026-01-02", "2026-01-01+2d"
            ),
            LedgerEntry(
                "t1", "platform:compensation", Micros(-6), "", "m1", "c1", "2026-01-02", "2026-01-01+2d"
            ),
            LedgerEntry(
                "t1", "merchant:m9:ad_credit", Micros(5), "", "m9", "c9", "2026-01-02", "2026-01-01+2d"
            ),
            LedgerEntry(
                "t1", "platform:compensation", Micros(-5), "", "m9", "c9", "2026-01-02", "2026-01-01+2d"
            ),
        ),
    )
    assert store.append_transactions([t])
    mine, lo, hi = ("c1", "c2"), "2026-01-01", "2026-01-31"
    by_day = store.report(ReportQuery(mine, "day", lo, hi))
    assert [(r.key, r.spend_micros, r.impressions, r.compensation_micros) for r in by_day.rows] == [
        ("2026-01-01", 17, 30, 0),  # latest c1 (8 + 4) + c2 (5)
        ("2026-01-02", 7, 40, 6),
    ]
    by_product = store.report(ReportQuery(mine, "product", lo, hi))
    assert [(r.key, r.spend_micros, r.orders) for r in by_product.rows] == [("pa", 15, 2), ("pb", 9, 2)]
    by_campaign = store.report(ReportQuery(mine, "campaign", lo, hi))
    assert [(r.key, r.spend_micros, r.gmv_micros) for r in by_campaign.rows] == [
        ("c1", 19, 48),
        ("c2", 5, 13),
    ]
    totals = {
        g: replace(p.total, compensation_micros=0)
        for g, p in (("d", by_day), ("p", by_product), ("c", by_campaign))
    }
    assert totals["d"] == totals["p"] == totals["c"] == ReportTotals("total", 70, 8, 4, 24, 61)
    assert by_day.total.compensation_micros == by_campaign.total.compensation_micros == 6
    page = store.report(
        ReportQuery(mine, "product", lo, hi, offset=1, limit=1)
    )  # paged by the store, totals over all
    assert ([r.key for r in page.rows], page.total_rows, page.total) == (["pb"], 2, by_product.total)
    assert store.report(ReportQuery(mine, "day", "2026-01-02", "2026-01-02")).total.spend_micros == 7
    assert store.report(ReportQuery((), "day", lo, hi)).total_rows == 0


def test_holdout_shares_and_entries(store: Store) -> None:
    from sitewide.domain.incrementality import HoldoutEntry

    assert store.holdout_shares() == {}
    store.put_holdout_share("c1", 0.3)
    store.put_holdout_share("c1", 0.25)
    store.put_holdout_share("c2", 0.0)
    assert store.holdout_shares() == {"c1": 0.25, "c2": 0.0}
    e1 = HoldoutEntry("r2", "c1", True, 2_000, 1_500)
    e2 = HoldoutEntry("r1", "c1", False, 2_000, 700)
    store.append_holdout_entries([e1, e2, HoldoutEntry("r1", "c2", True, 1_000, 9)])
    store.append_holdout_entries([HoldoutEntry("r2", "c1", False, 5_000, 1)])  # logged again: the first stays
    store.append_holdout_entries([])
    assert store.holdout_entries("c1", 0, 10_000) == [e2, e1]  # by (ts_ms, request id)
    assert store.holdout_entries("c1", 0, 2_000) == []
    assert store.holdout_entries("c2", 1_000, 1_001) == [HoldoutEntry("r1", "c2", True, 1_000, 9)]
    assert store.prune_holdout_entries(2_000) == 1  # c2's entry at 1,000; those at 2,000 stay
    assert store.holdout_entries("c2", 0, 10_000) == []
    assert store.holdout_entries("c1", 0, 10_000) == [e2, e1]
    assert store.prune_holdout_entries(2_000) == 0


def test_an_id_is_stored_once_whatever_day_its_retry_names(store: Store) -> None:
    """On PostgreSQL the events are partitioned by day and a unique (id, ts_ms) would let an id in twice, on two
    days: the id alone is the key (``event_ids``)."""
    d1 = 20_458 * 86_400_000  # 2026-01-05
    d2 = d1 + 86_400_000
    assert store.append_events([click("e1", d1)]).inserted == 1
    store.prepare_event_days(d1, d2 + 86_400_000)  # e1's day gets its partition (PostgreSQL)
    again = store.append_events([click("e1", d1), click("e2", d2)])
    assert (again.inserted, again.duplicates, again.inserted_ids) == (1, 1, ("e2",))
    with pytest.raises(Conflict):  # the same id on another day (another partition) is another body
        store.append_events([click("e3", d2), click("e1", d2)])
    assert sorted(e.id for e in store.events_between(0, 10**13)) == ["e1", "e2"]  # e3 rolled back with it
    assert store.append_events([click("e3", d2)]).inserted == 1


def test_retention_drops_the_old_days_forgets_their_ids_and_refuses_events_before_it(store: Store) -> None:
    """``drop_events_before(t)``: the days before t go (PostgreSQL: their partitions, and their ids from
    ``event_ids``), later days stay, and any event before t is refused with nothing of its batch stored — so an
    id is an idempotency key exactly as long as its day is kept."""
    day = 86_400_000
    d0 = 20_458 * day  # 2026-01-05
    store.append_events([click("old1", d0 + 5), click("old2", d0 + day + 5), click("new1", d0 + 2 * day + 5)])
    store.prepare_event_days(d0, d0 + 3 * day)  # the three days get their partitions (PostgreSQL)
    store.append_events([click("stray", d0 + 9 * day)])  # a day without a partition: the default one
    with pytest.raises(ValidationError):
        store.drop_events_before(d0 + 2 * day + 1)  # not a day boundary
    assert store.drop_events_before(d0 + 2 * day) == [20_458, 20_459]
    assert sorted(e.id for e in store.events_between(0, 10**13)) == ["new1", "stray"]
    assert store.get_events(["old1", "old2", "new1"]).keys() == {"new1"}
    with pytest.raises(ValidationError, match="retention"):  # a retry of a forgotten id is refused
        store.append_events([click("fresh", d0 + 3 * day), click("old1", d0 + 5)])
    assert store.get_events(["fresh"]) == {}  # its whole batch
    again = store.append_events([click("new1", d0 + 2 * day + 5), click("fresh", d0 + 3 * day)])
    assert (again.inserted, again.duplicates) == (1, 1)  # a kept day's id is still remembered
    assert store.drop_events_before(d0 + day) == []  # an earlier horizon changes nothing
    with pytest.raises(ValidationError):
        store.append_events([click("old3", d0 + day + 5)])
    assert store.drop_events_before(d0 + 10 * day) == [20_460, 20_461, 20_467]  # default partition's rows too
    assert store.events_between(0, 10**13) == []
    assert store.append_events([click("later", d0 + 10 * day)]).inserted == 1
