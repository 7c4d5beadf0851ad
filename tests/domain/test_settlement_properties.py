"""Settlement is convergent: any delivery order (with duplicates and late refunds), settled in any grouping
of periods, ends with the same ledger as settling everything once; every transaction balances; no campaign
is charged beyond its daily budget; compensation per guarantee window is booked exactly once (net)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sitewide.domain.guarantee import DAILY_CONTRACT, GuaranteeContract
from sitewide.domain.invalid_traffic import IvtPolicy
from sitewide.domain.money import Micros
from sitewide.domain.settlement import SettlementPolicy
from sitewide.domain.time import DAY_MS
from sitewide.domain.types import Campaign, Event, EventKind, Product, Shop
from sitewide.engine import Engine, EngineConfig
from sitewide.ports import Store
from sitewide.storage.memory import MemoryStore
from sitewide.storage.sql import SqlStore
from sitewide.wiring import seeded_engine

T0 = 1_767_225_600_000  # 2026-01-01
DAYS = 6
T_END = T0 + DAYS * DAY_MS
SHOPS = [Shop("s1", "m1", "One"), Shop("s2", "m2", "Two")]
PRODUCTS = [
    Product(
        f"p{i}", "s1" if i < 3 else "s2", f"usb drive model {i}", "usb", Micros(20_000_000 + i * 1_000_000)
    )
    for i in range(6)
]
CAMPAIGNS = [
    Campaign("c1", "m1", "one", ("p0", "p1", "p2"), Decimal("8"), Micros(2_000_000)),
    Campaign("c2", "m2", "two", ("p3", "p4", "p5"), Decimal("1.5"), Micros(5_000_000)),
]
# the daily contract pays out often, which is what convergence must hold under (reserve on: provisions and
# releases must converge too)
POLICY = SettlementPolicy(
    ivt=IvtPolicy(bot_user_ids=frozenset({"bot"}), flood_max_clicks=4), default_contract=DAILY_CONTRACT
)
WINDOWED = GuaranteeContract(
    start_day="2026-01-02",
    window_days=3,
    repeat=False,
    min_orders=2,
    trigger_roi_factor=Decimal("0.9"),
    observation_lag_ms=2 * DAY_MS,
)


def make_engine(store: Store) -> Engine:
    eng = seeded_engine(store, SHOPS, PRODUCTS, CAMPAIGNS, EngineConfig(settlement=POLICY))
    eng.set_guarantee("c2", WINDOWED)
    return eng


def random_events(rng: np.random.Generator, n: int) -> list[Event]:
    """About ``n`` events over DAYS days: impressions, clicks (some naming impressions, some ghosts, floods,
    a bot), orders (naming clicks or by user/product, some organic) and refunds (some after the end)."""
    out: list[Event] = []
    users = [f"u{i}" for i in range(max(10, n // 40))] + ["bot"]
    clicks: list[Event] = []
    orders: list[Event] = []
    k = 0
    while len(out) < n:
        k += 1
        r = rng.random()
        u = users[int(rng.integers(len(users)))]
        pi = int(rng.integers(len(PRODUCTS)))
        camp = "c1" if pi < 3 else "c2"
        ts = T0 + int(rng.integers(0, DAYS * DAY_MS))
        if r < 0.25:
            imp = Event(
                f"i{k}",
                EventKind.IMPRESSION,
                ts,
                user_id=u,
                product_id=f"p{pi}",
                campaign_id=camp,
                price_micros=Micros(100_000),
            )
            out.append(imp)
            if rng.random() < 0.5:
                c = Event(
                    f"k{k}",
                    EventKind.CLICK,
                    ts + int(rng.integers(1, 60_000)),
                    user_id=u,
                    product_id=f"p{pi}",
                    campaign_id=camp,
                    impression_id=imp.id,
                    price_micros=Micros(int(rng.integers(50_000, 600_000))),
                )
                out.append(c)
                clicks.append(c)
        elif r < 0.65:
            burst = 6 if rng.random() < 0.05 else 1
            for b in range(burst):
                c = Event(
                    f"k{k}-{b}",
                    EventKind.CLICK,
                    ts + b * 1_000,
                    user_id=u,
                    product_id=f"p{pi}",
                    campaign_id=camp if rng.random() < 0.9 else None,
                    impression_id=f"ghost{k}" if rng.random() < 0.05 else None,
                    price_micros=Micros(int(rng.integers(50_000, 600_000))),
                )
                out.append(c)
                clicks.append(c)
        elif r < 0.78 and clicks:
            c = clicks[int(rng.integers(len(clicks)))]
            ots = c.ts_ms + int(rng.integers(1, 3 * DAY_MS))
            o = Event(
                f"o{k}",
                EventKind.ORDER,
                ots,
                user_id=c.user_id,
                product_id=c.product_id,
                click_id=c.id if rng.random() < 0.5 else None,
                order_value_micros=Micros(int(rng.integers(100_000, 3_000_000))),
            )
            out.append(o)
            orders.append(o)
        elif r < 0.83:
            out.append(
                Event(
                    f"o{k}",
                    EventKind.ORDER,
                    ts,
                    user_id=u,
                    product_id=f"p{pi}",
                    order_value_micros=Micros(int(rng.integers(100_000, 3_000_000))),
                )
            )
        elif orders:
            o = orders[int(rng.integers(len(orders)))]
            amt = int(o.order_value_micros) * (2 if rng.random() < 0.1 else 1) // int(rng.integers(1, 4))
            out.append(
                Event(
                    f"r{k}",
                    EventKind.REFUND,
                    o.ts_ms + int(rng.integers(1, 4 * DAY_MS)),
                    order_id=o.id,
                    order_value_micros=Micros(amt),
                )
            )
    return out


def causal(events: list[Event]) -> list[Event]:
    """``events`` in their order, except that an order waits for the click it names and a refund for its
    order (the engine refuses references to events it does not know)."""
    seen: set[str] = set()
    waiting: dict[str, list[Event]] = {}
    out: list[Event] = []

    def emit(e: Event) -> None:
        out.append(e)
        if e.id not in seen:
            seen.add(e.id)
            for w in waiting.pop(e.id, []):
                emit(w)

    for e in events:
        ref = e.click_id if e.kind is EventKind.ORDER else e.order_id if e.kind is EventKind.REFUND else None
        if ref and ref not in seen:
            waiting.setdefault(ref, []).append(e)
        else:
            emit(e)
    assert not waiting
    return out


def deliveries(rng: np.random.Generator, events: list[Event]) -> list[list[Event]]:
    """Shuffled (each reference after what it names), with ~10% repeated, in batches of at most 1,000."""
    dup = [events[i] for i in rng.choice(len(events), size=len(events) // 10, replace=False)]
    allv = events + [replace(e) for e in dup]
    order = rng.permutation(len(allv))
    shuffled = causal([allv[i] for i in order])
    out: list[list[Event]] = []
    i = 0
    while i < len(shuffled):
        n = int(rng.integers(1, 1001))
        out.append(shuffled[i : i + n])
        i += n
    return out


def partition(rng: np.random.Generator) -> list[tuple[int, int]]:
    """Random contiguous periods covering [T0, T_END), on hour boundaries, in random order."""
    cuts = sorted({int(x) for x in rng.integers(1, DAYS * 24, size=int(rng.integers(0, 8)))})
    edges = [T0] + [T0 + c * 3_600_000 for c in cuts] + [T_END]
    groups = list(zip(edges[:-1], edges[1:], strict=True))
    return [groups[i] for i in rng.permutation(len(groups))]


def ledger_checks(eng: Engine) -> None:
    txns = eng.store.list_transactions()
    assert all(t.balanced() for t in txns)
    charged: dict[tuple[str, str], int] = {}
    comp: dict[tuple[str, str], int] = {}
    for t in txns:  # the ledger's structured columns, not its memos
        for e in t.entries:
            if e.account.endswith(":cash") and e.campaign_id and e.day:
                charged[(e.campaign_id, e.day)] = charged.get((e.campaign_id, e.day), 0) - int(e.amount_micros)
            if e.account.endswith(":ad_credit") and e.campaign_id and e.window:
                comp[(e.campaign_id, e.window)] = comp.get((e.campaign_id, e.window), 0) + int(e.amount_micros)
    budgets = {c.id: int(c.daily_budget_micros) for c in CAMPAIGNS}
    figs = eng.store.day_figures("0000-01-01", "9999-12-31")
    for k, v in charged.items():
        assert 0 <= v <= budgets[k[0]], k  # never beyond the day's budget
        assert v == figs[k].spend_micros
    evals = eng.store.guarantee_evaluations("0000-01-01", "9999-12-31")
    for k, v in comp.items():  # net compensation per window = what is due now: never paid twice
        assert v == evals[k].due_micros >= 0
        assert v <= evals[k].spend_micros
    assert {k for k, g in evals.items() if g.due_micros} <= set(comp)


def check_convergence(seed: int, n: int, grouped_store: Store) -> tuple[Engine, Engine]:
    rng = np.random.default_rng(seed)
    events = random_events(rng, n)
    once = make_engine(MemoryStore())
    for i in range(0, len(events), 1000):
        once.record_events(events[i : i + 1000])
    once.settle(T0, T_END)
    grouped = make_engine(grouped_store)
    groups = partition(rng)
    for batch in deliveries(rng, events):
        grouped.record_events(batch)
        if rng.random() < 0.3:  # settle some period while events are still arriving
            s, e = groups[int(rng.integers(len(groups)))]
            grouped.settle(s, e)
    for s, e in groups:  # then every period of the grouping, in random order
        grouped.settle(s, e)
    nonzero = lambda b: {k: v for k, v in b.items() if v}  # noqa: E731
    assert nonzero(grouped.store.balances()) == nonzero(once.store.balances())
    assert grouped.store.day_figures("0", "9") == once.store.day_figures("0", "9")
    ledger_checks(once)
    ledger_checks(grouped)
    again = grouped.settle(T0, T_END)
    assert again.already_settled and again.transactions == []
    return once, grouped


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1))
def test_any_grouping_of_periods_converges_to_settling_once(seed: int) -> None:
    once, _ = check_convergence(seed, 2_500, MemoryStore())
    bal = once.store.balances()
    assert bal.get("merchant:m1:cash", 0) < 0 and sum(bal.values()) == 0


def test_convergence_holds_on_sqlite_too(tmp_path: Path) -> None:
    once, grouped = check_convergence(7, 3_000, SqlStore.sqlite(tmp_path / "g.sqlite"))
    assert any(g.due_micros for g in grouped.store.guarantee_evaluations("0", "9").values())


@pytest.mark.slow
def test_convergence_with_100k_events() -> None:
    check_convergence(2026, 100_000, MemoryStore())
