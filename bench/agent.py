"""The merchant decision agent on simulated shops with planted problems.

    python bench/agent.py [--quick] [--seeds N]

Each seed builds one simulated market (``sitewide.simulator``: calibrated users, the packaged catalogue's
products, one campaign per shop) served by the real engine (``sitewide.wiring.make_engine``: in-memory store, exact index,
the priors scorer, the shipped bidder, the pool and the shop score on), with a simulated clock. Users arrive by
the story's hour-of-day curve, look, click and buy by the world's hidden model (``simulator.behaviour.respond``);
on a promoted slot that shows a creative the click probability is multiplied by the creative's hidden lift
(creative A of each product 1.0, creative B 0.3 — the engine never sees it). Click and order events go through
``Engine.record_events``, lost auctions through the service's ``record_losses``, and each day is settled.

* Day 0: every shop is clean — healthy service metrics, a target ROI of 2, a budget that does not bind, two
  approved creatives on each product, rotated by the engine's bandit.
* Day 1: problems are planted in ``2 × 5`` shops, two of each kind, through the same use cases a merchant or
  the operator would call: an over-high target ROI (5 × the market's median realised ROI of day 0, ``update_campaign``), a budget cut to a tenth of day 0's
  spend, the best seller of day 0 out of the pool (its rating signal falls to 3.0 over 40 reviews), the loser
  creative B pinned on the shop's most-clicked product, one shop-score factor gone bad (on-time share 0.80, 9
  delivery days). The clean shops pin their winner creative A (so that a pin alone is no problem).
* After day 1 the agent diagnoses every shop, offline (rules over the merchant's own data, through
  ``sitewide.agent.facts``). ``planted_problem_recall`` = planted (shop, kind) pairs it finds;
  ``false_alarm_rate`` = findings that name no planted problem ÷ all findings.
* Day 2 is run twice with common random numbers (same seeds for users, clicks and purchases): once doing
  nothing, once with each planted shop's top suggestion applied (one-click ones through ``sitewide.agent.apply``;
  "fix a factor" advice is simulated as the merchant following it: the signal or metric back to day 0's).
  ``suggestion_gmv_lift`` = (GMV with − without) ÷ without, GMV being what the planted shops' campaigns earned
  on day 2 as settled by the engine (its attribution, net); ``suggestion_all_orders_gmv_lift`` the same over
  every order of their products (organic too: noisier, a ranking change moves organic sales); how many of their
  campaigns met their (new) target ROI is printed for both arms. In-sample: the thresholds were set looking at
  these markets.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import _thread  # noqa: E402
import argparse  # noqa: E402
import copy  # noqa: E402
import copyreg  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field, replace  # noqa: E402
from decimal import Decimal  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sitewide.agent.apply import Journal, apply_suggestion  # noqa: E402
from sitewide.agent.facts import Scope, findings  # noqa: E402
from sitewide.agent.types import ActionKind, Finding, FindingKind  # noqa: E402
from sitewide.api.schemas import CampaignPatch  # noqa: E402
from sitewide.creative.generate import OfflineGenerator  # noqa: E402
from sitewide.creative.studio import CreativeStudio, facts_of  # noqa: E402
from sitewide.domain.accounts import Principal  # noqa: E402
from sitewide.domain.creative import BrandKit, Lang  # noqa: E402
from sitewide.domain.money import Micros  # noqa: E402
from sitewide.domain.shop_score import ShopMetrics  # noqa: E402
from sitewide.domain.time import DAY_MS, ManualClock, day_of  # noqa: E402
from sitewide.domain.types import Event, EventKind  # noqa: E402
from sitewide.engine import Engine, EngineConfig  # noqa: E402
from sitewide.ports import ReportQuery, RequestBatch, ServiceRecords  # noqa: E402
from sitewide.service.usecases import campaigns as campaigns_uc  # noqa: E402
from sitewide.service.usecases.serving import record_losses  # noqa: E402
from sitewide.simulator import SimConfig, World, build_world  # noqa: E402
from sitewide.simulator.behaviour import respond  # noqa: E402
from sitewide.simulator.story import daily_curve  # noqa: E402
from sitewide.simulator.world import SEARCH  # noqa: E402
from sitewide.storage.memory import MemoryStore  # noqa: E402
from sitewide.wiring import build_accounts, make_engine  # noqa: E402

KINDS = (
    FindingKind.TARGET_TOO_HIGH,
    FindingKind.BUDGET_EXHAUSTED,
    FindingKind.INELIGIBLE_BEST_SELLER,
    FindingKind.LOSING_CREATIVE,
    FindingKind.SHOP_SCORE_FACTOR,
)
LIFT_B = 0.3
DIAGNOSED = 1  # the day the agent diagnoses
LOSS_SAMPLE_EVERY = 1_000  # keep few whole-request loss samples: the agent reads the counts
VERBOSE = False
HEALTHY = {
    "on_time_share": 0.97, "delivery_days": 3.0, "response_hours": 4.0, "dispute_rate": 0.005,
    "avg_rating": 4.5, "review_count": 200, "return_rate": 0.08,
}  # fmt: skip


@dataclass
class Market:
    world: World
    engine: Engine
    accounts: ServiceRecords
    clock: ManualClock
    lift: dict[str, float]
    creatives: dict[str, tuple[str, str]]  # product → (A, B)
    e2w: np.ndarray
    merchant_of: np.ndarray  # world product row → merchant index
    gmv: dict[int, np.ndarray] = field(default_factory=dict)  # day → true GMV per merchant index


def build_market(seed: int, quick: bool) -> Market:
    cfg = SimConfig(
        users=4_000 if quick else 6_000,
        merchants=15,
        products=150 if quick else 300,
        seed=seed,
        ticks_per_day=24,
        campaign_share=1.0,
        target_rois=(2.0,),
        daily_budget_per_product=100_000_000,
        # not calibrated (as SimConfig.demo): higher rates so that two small days carry orders for every shop
        target_ctr_search=0.08,
        target_ctr_feed=0.02,
        target_cvr=0.08,
    )
    world = build_world(cfg)
    clock = ManualClock(world.base_ms)
    store = MemoryStore()
    store.upsert_shops(world.shops)
    store.upsert_products(world.product_list)
    for c in world.campaigns_starting(0):
        store.create_campaign(c)
    # the exact index (numpy): the market is copied after day 1 (``clone``), and every copy owns its own
    engine = make_engine(store, EngineConfig(scorer="priors", slots=cfg.slots), clock=clock, index="exact")
    accounts, _ = build_accounts(engine.store, engine.clock)
    accounts.ensure_merchants(s.merchant_id for s in world.shops)
    metrics = [ShopMetrics(s.id, **HEALTHY) for s in world.shops]
    sigs = world.product_signals()
    accounts.put_product_signals(sigs)
    accounts.put_shop_metrics(metrics)
    engine.set_quality(sigs, metrics)
    studio = CreativeStudio(OfflineGenerator())
    lift: dict[str, float] = {}
    made: dict[str, tuple[str, str]] = {}
    for p in world.product_list:
        res = studio.make(facts_of(p), [], BrandKit(p.shop_id), (Lang.EN,))
        if len(res.approved) < 2:
            continue
        a, b = res.approved[0], res.approved[1]
        engine.creatives.set_creatives(p.id, [a, b])
        lift[a.id], lift[b.id] = 1.0, LIFT_B
        made[p.id] = (a.id, b.id)
    index = {p.id: i for i, p in enumerate(world.product_list)}
    e2w = np.array([index[i] for i in engine.catalogue_ids()] + [-1], dtype=np.int64)
    return Market(world, engine, accounts, clock, lift, made, e2w, world.products.merchant.copy())


def run_day(m: Market, day: int, seed: int) -> None:
    w, eng, cfg = m.world, m.engine, m.world.config
    rng = np.random.default_rng([seed, 100, day])  # the same draws in every arm: common random numbers
    curve = daily_curve(cfg.ticks_per_day)
    tick_ms = DAY_MS // cfg.ticks_per_day
    gmv = np.zeros(len(w.merchants.shops), dtype=np.int64)
    price = w.products.price_micros
    pids = [p.id for p in w.product_list]
    n_ev = 0
    for t in range(cfg.ticks_per_day):
        start = w.base_ms + day * DAY_MS + t * tick_ms
        m.clock.now = start
        n = rng.poisson(w.users.activity * curve[t])
        users = np.repeat(np.arange(len(w.users), dtype=np.int64), n)
        if not len(users):
            continue
        r, s = len(users), cfg.slots
        kind = np.where(rng.random(r) < cfg.search_share, SEARCH, 1).astype(np.int64)
        intent, target = w.sample_intent(users, rng)
        queries = w.search_queries(target, kind, rng)
        rids = [f"r{day}-{t}-{i}" for i in range(r)]
        uids = [w.users.ids[u] for u in users.tolist()]
        sb = eng.serve_batch(RequestBatch(rids, uids, kind, queries, start, s))
        if day == DIAGNOSED:  # the report the agent reads (the SQL loss log is the slowest part of a tick)
            record_losses(eng, m.accounts, sb, rids, start, LOSS_SAMPLE_EVERY)
        eidx = np.asarray(sb.product_idx, dtype=np.int64)[:, :s]
        prod = m.e2w[np.where(eidx >= 0, eidx, -1)]
        promoted = np.asarray(sb.promoted, dtype=bool)[:, :s] & (prod >= 0)
        resp = respond(w, users, kind, intent, prod, rng)
        click, bot = resp.click.copy(), w.users.is_bot[users]
        lift = np.ones((r, s))
        if sb.creative is not None:
            ri, si = np.nonzero(sb.creative[:, :s] != None)  # noqa: E711
            lift[ri, si] = [m.lift.get(str(c), 1.0) for c in sb.creative[ri, si]]
        u_click = rng.random((r, s))
        p_click = np.where(bot[:, None], cfg.bot_click_prob, resp.pctr) * w.exam[None, :s]
        click = (u_click < np.minimum(p_click * lift, 1.0)) & (prod >= 0)
        buy = click & ~bot[:, None] & (rng.random((r, s)) < resp.pcvr)
        ts_all = start + rng.integers(
            0, tick_ms - 120_000, size=(r, s)
        )  # fixed-size draws keep the streams aligned
        cids = list(eng.campaign_ids())
        events: list[Event] = []
        ri, si = np.nonzero(click)
        ts = ts_all[ri, si]
        for k, (a, b) in enumerate(zip(ri.tolist(), si.tolist(), strict=True)):
            j = int(prod[a, b])
            ce = int(sb.campaign_idx[a, b]) if promoted[a, b] else -1
            cid = f"c{seed}-{day}-{n_ev}"
            n_ev += 1
            events.append(
                Event(
                    id=cid, kind=EventKind.CLICK, ts_ms=int(ts[k]), user_id=uids[a], product_id=pids[j],
                    request_id=rids[a], campaign_id=cids[ce] if ce >= 0 else None, position=b + 1,
                    price_micros=Micros(int(sb.price_cpc_micros[a, b]) if ce >= 0 else 0),
                )
            )  # fmt: skip
            if buy[a, b]:
                gmv[m.merchant_of[j]] += int(price[j])
                events.append(
                    Event(
                        id=f"o{cid}", kind=EventKind.ORDER, ts_ms=int(ts[k]) + 60_000, user_id=uids[a],
                        product_id=pids[j], order_value_micros=Micros(int(price[j])), click_id=cid,
                    )
                )  # fmt: skip
        events.sort(key=lambda e: e.ts_ms)
        for i in range(0, len(events), 1_000):
            eng.record_events(events[i : i + 1_000])
    m.clock.now = w.base_ms + (day + 1) * DAY_MS
    eng.settle_day(day_of(w.base_ms + day * DAY_MS))
    m.gmv[day] = gmv


def merchant_principal(m: Market, mi: int) -> Principal:
    return Principal("merchant", m.world.merchants.shops[mi].merchant_id)


def assign(m: Market, seed: int) -> dict[int, FindingKind]:
    """Two shops of each kind, in a seeded order, among the shops where the problem can show after day 0: a
    best seller needs ≥ 3 orders, a losing creative a product whose creatives got ≥ 15 clicks, a budget or a
    target problem some spend; the other shops stay clean."""
    store, shops = m.engine.store, m.world.merchants.shops
    day0 = day_of(m.world.base_ms)
    camp = {c.merchant_id: c for c in store.list_campaigns()}
    rows = {
        t.key: t
        for t in store.report(ReportQuery(tuple(c.id for c in camp.values()), "product", day0, day0)).rows
    }
    spend = {
        t.key: t.spend_micros
        for t in store.report(ReportQuery(tuple(c.id for c in camp.values()), "campaign", day0, day0)).rows
    }

    def ok(mi: int, kind: FindingKind) -> bool:
        c = camp[shops[mi].merchant_id]
        if kind is FindingKind.INELIGIBLE_BEST_SELLER:
            return max((rows[p].orders for p in c.product_ids if p in rows), default=0) >= 3
        if kind is FindingKind.LOSING_CREATIVE:
            return shown_product(m, mi) is not None
        if kind in (FindingKind.BUDGET_EXHAUSTED, FindingKind.TARGET_TOO_HIGH):
            return bool(spend.get(c.id, 0) >= 5_000_000)
        return True

    order = np.random.default_rng([seed, 200]).permutation(len(shops)).tolist()
    planted: dict[int, FindingKind] = {}
    for kind in (KINDS[2], KINDS[3], KINDS[1], KINDS[0], KINDS[4]):  # the scarcest first
        for mi in [x for x in order if x not in planted and ok(x, kind)][:2]:
            planted[mi] = kind
    return planted


def shown_product(m: Market, mi: int) -> str | None:
    """The shop's product whose creatives were clicked most so far (≥ 15 clicks), if any."""
    mid = m.world.merchants.shops[mi].merchant_id
    mine = [p for c in m.engine.store.list_campaigns(mid) for p in c.product_ids if p in m.creatives]
    clicks = {p: sum(a.clicks for a in m.engine.creatives.stats(p, draws=1)) for p in mine}
    best = max(clicks, key=lambda p: (clicks[p], p), default=None)
    return best if best is not None and clicks[best] >= 15 else None


def plant(m: Market, seed: int) -> dict[int, FindingKind]:
    """Day 1's problems (see the module doc), through the use cases and the engine's calls."""
    w, eng, store = m.world, m.engine, m.engine.store
    shops = w.merchants.shops
    planted = assign(m, seed)
    day0 = day_of(w.base_ms)
    by_shop = {c.merchant_id: c for c in store.list_campaigns()}
    ids = tuple(c.id for c in by_shop.values())
    prod_rows = store.report(ReportQuery(ids, "product", day0, day0)).rows
    prod_gmv = {t.key: t.gmv_micros for t in prod_rows}
    prod_orders = {t.key: t.orders for t in prod_rows}
    rois = [
        t.gmv_micros / t.spend_micros
        for t in store.report(ReportQuery(ids, "campaign", day0, day0)).rows
        if t.spend_micros
    ]
    too_high = Decimal(str(round(5 * float(np.median(rois)), 1)))
    sigs = {s.product_id: s for s in w.product_signals()}
    for mi, s in enumerate(shops):
        who = merchant_principal(m, mi)
        camp = by_shop[s.merchant_id]
        shown = shown_product(m, mi)
        kind = planted.get(mi)
        if kind is FindingKind.TARGET_TOO_HIGH:
            campaigns_uc.update_campaign(eng, store, who, camp.id, CampaignPatch(target_roi=too_high))
        elif kind is FindingKind.BUDGET_EXHAUSTED:
            spent = store.report(ReportQuery((camp.id,), "day", day0, day0)).total.spend_micros
            cut = max(spent // 10 // 1_000_000 * 1_000_000, 1_000_000)
            campaigns_uc.update_campaign(eng, store, who, camp.id, CampaignPatch(daily_budget_micros=cut))
        elif kind is FindingKind.INELIGIBLE_BEST_SELLER:
            best = max(camp.product_ids, key=lambda p: (prod_orders.get(p, 0), prod_gmv.get(p, 0), p))
            bad = replace(sigs[best], rating=3.0, review_count=40)
            m.accounts.put_product_signals([bad])
            eng.set_quality([bad], [])
        elif kind is FindingKind.LOSING_CREATIVE and shown is not None:
            eng.creatives.pin(shown, m.creatives[shown][1])
        elif kind is FindingKind.SHOP_SCORE_FACTOR:
            bad_m = ShopMetrics(s.id, **{**HEALTHY, "on_time_share": 0.80, "delivery_days": 9.0})
            m.accounts.put_shop_metrics([bad_m])
            eng.set_quality([], [bad_m])
        elif kind is None and shown is not None:
            eng.creatives.pin(shown, m.creatives[shown][0])
    return planted


def clone(m: Market) -> Market:
    """A copy of the market after day 1 (engine, store, clock, bandit state): the arm that applies. The
    accounts (an in-memory SQLite) are rebuilt: serving only adds auction losses to them from here on."""
    copyreg.pickle(_thread.LockType, lambda _: (threading.Lock, ()))  # a copied lock is a new, free lock
    copyreg.pickle(_thread.RLock, lambda _: (threading.RLock, ()))
    c = copy.deepcopy(m, {id(m.accounts): None})
    c.accounts, _ = build_accounts(c.engine.store, c.engine.clock)
    c.accounts.ensure_merchants(s.merchant_id for s in c.world.shops)
    return c


def follow_advice(m: Market, mi: int, f: Finding) -> None:
    """What the merchant does for advice the agent cannot apply: puts the signal or metric back."""
    shop = m.world.merchants.shops[mi]
    if f.kind is FindingKind.SHOP_SCORE_FACTOR:
        good = ShopMetrics(shop.id, **HEALTHY)
        m.accounts.put_shop_metrics([good])
        m.engine.set_quality([], [good])
    elif f.kind is FindingKind.INELIGIBLE_BEST_SELLER:
        sig = next(s for s in m.world.product_signals() if s.product_id == f.subject)
        m.accounts.put_product_signals([sig])
        m.engine.set_quality([sig], [])


def diagnose_all(m: Market) -> dict[int, list[Finding]]:
    out = {}
    day1 = day_of(m.world.base_ms + DAY_MS)
    for mi in range(len(m.world.merchants.shops)):
        scope = Scope.of(m.engine, m.engine.store, m.accounts, merchant_principal(m, mi))
        out[mi] = findings(scope, day1)[1]
    return out


@dataclass
class SeedResult:
    planted: int = 0
    found: int = 0
    alarms: int = 0
    false_alarms: int = 0
    gmv_none: int = 0  # every order of the planted shops' products on day 2 (organic and promoted)
    gmv_apply: int = 0
    camp_none: int = 0  # the planted shops' campaigns' settled GMV on day 2 (the engine's attribution)
    camp_apply: int = 0
    roi_ok_none: int = 0  # campaigns (with spend) at or above their target ROI on day 2
    roi_ok_apply: int = 0
    roi_n_none: int = 0
    roi_n_apply: int = 0
    by_kind: dict[str, list[int]] = field(default_factory=dict)


def run_seed(seed: int, quick: bool) -> SeedResult:
    res = SeedResult()
    m = build_market(seed, quick)
    run_day(m, 0, seed)
    planted = plant(m, seed)
    run_day(m, 1, seed)
    got = diagnose_all(m)
    for mi, fs in got.items():
        kinds = {f.kind for f in fs}
        want = planted.get(mi)
        if want is not None:
            res.planted += 1
            res.found += want in kinds
            res.by_kind.setdefault(want.value, [0, 0])[0] += want in kinds
            res.by_kind[want.value][1] += 1
        res.alarms += len(fs)
        res.false_alarms += sum(1 for f in fs if f.kind is not want)
    a = clone(m)
    journal = Journal()
    for mi in planted:
        top = next((f for f in got[mi] if f.suggestion is not None), None)
        if top is None or top.suggestion is None:
            continue
        if top.suggestion.action.kind is ActionKind.FIX_FACTOR:
            follow_advice(a, mi, top)
        else:
            scope = Scope.of(a.engine, a.engine.store, a.accounts, merchant_principal(a, mi))
            apply_suggestion(scope, top.suggestion, journal, actor=f"bench:{mi}")
    run_day(m, 2, seed)
    run_day(a, 2, seed)
    idx = list(planted)
    if VERBOSE:
        for mi, fs in got.items():
            sid = fs[0].suggestion.id if fs and fs[0].suggestion else "-"
            print(
                f"  shop {mi}: planted {planted.get(mi)} found {[f.kind.value for f in fs]} top {sid} "
                f"GMV day 2 nothing {m.gmv[2][mi] / 1e6:,.0f} applied {a.gmv[2][mi] / 1e6:,.0f}"
            )
    res.gmv_none = int(m.gmv[2][idx].sum())
    res.gmv_apply = int(a.gmv[2][idx].sum())
    day2 = day_of(a.world.base_ms + 2 * DAY_MS)
    for arm, mk in (("none", m), ("apply", a)):
        for mi in idx:
            for c in mk.engine.store.list_campaigns(mk.world.merchants.shops[mi].merchant_id):
                t = mk.engine.store.report(ReportQuery((c.id,), "day", day2, day2)).total
                setattr(res, f"camp_{arm}", getattr(res, f"camp_{arm}") + t.gmv_micros)
                if t.spend_micros > 0:
                    setattr(res, f"roi_n_{arm}", getattr(res, f"roi_n_{arm}") + 1)
                    ok = t.gmv_micros / t.spend_micros >= float(c.target_roi)
                    setattr(res, f"roi_ok_{arm}", getattr(res, f"roi_ok_{arm}") + ok)
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    global VERBOSE
    VERBOSE = args.verbose
    seeds = args.seeds or (1 if args.quick else 3)
    t0 = time.perf_counter()
    tot = SeedResult()
    for seed in range(seeds):
        r = run_seed(seed, args.quick)
        print(
            f"seed {seed}: planted {r.planted} found {r.found}; findings {r.alarms} (false {r.false_alarms}); "
            f"day 2, planted shops: campaign GMV nothing {r.camp_none / 1e6:,.0f} applied {r.camp_apply / 1e6:,.0f}; "
            f"all orders nothing {r.gmv_none / 1e6:,.0f} applied {r.gmv_apply / 1e6:,.0f}"
        )
        for k in SeedResult.__dataclass_fields__:
            if k == "by_kind":
                continue
            setattr(tot, k, getattr(tot, k) + getattr(r, k))
        for k, (a, b) in r.by_kind.items():
            x = tot.by_kind.setdefault(k, [0, 0])
            x[0] += a
            x[1] += b
    for k, (a, b) in sorted(tot.by_kind.items()):
        print(f"  {k}: found {a}/{b}")
    recall = tot.found / max(tot.planted, 1)
    fa = tot.false_alarms / max(tot.alarms, 1)
    lift = (tot.camp_apply - tot.camp_none) / max(tot.camp_none, 1)
    all_lift = (tot.gmv_apply - tot.gmv_none) / max(tot.gmv_none, 1)
    print(
        "planted shops' campaigns at or above their target ROI on day 2: nothing "
        f"{tot.roi_ok_none}/{tot.roi_n_none}, applied {tot.roi_ok_apply}/{tot.roi_n_apply}"
    )
    print(f"metric: planted_problem_recall={recall:.3f} baseline=0 target=0.90")
    print(f"metric: false_alarm_rate={fa:.3f} target=0.10")
    print(f"metric: suggestion_gmv_lift={lift:.4f} baseline=0 target=0")
    print(f"metric: suggestion_all_orders_gmv_lift={all_lift:.4f} baseline=0")
    print(f"metric: wall_s={time.perf_counter() - t0:.1f}")
    print(f"metric: peak_rss_mb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}")


if __name__ == "__main__":
    main()
