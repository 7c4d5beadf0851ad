"""Campaign forecasts and incrementality holdouts, judged on simulated markets with the real engine in-process.

**Forecast calibration** (the production path). A market runs day by day (``Story.run_day``). When a day
settles, the engine forecasts every campaign's own draft (its products, target ROI, budget) for the next day
(``Forecaster.settled``: the day's logged requests replayed through the auction with the draft's bids), pairs the
forecasts of settled days with what settled, and refits the level (shop → category → market) and the 80 % band
on them. The bench reads each campaign-day's forecast, calibrated as the engine had it when the day began (fitted
only on campaign-days settled before it: rolling origin, no day in its own calibration); the first ``history``
days are not scored; on the rest (held out): ``forecast_band_coverage`` = share of held-out campaign-days
whose settled GMV lies inside the band (target 0.75–0.85: too wide fails too), ``forecast_mape`` = median
absolute percentage error of the point forecast (the expected day) over held-out campaign-days with GMV > 0. Baseline: the power law the campaign page used before (``sitewide.service.forecast``) fitted on the same history.
``forecast_category_coverage_gap`` = |coverage − 0.8| per product category over its held-out campaign-days,
averaged weighted by days (categories with ≥ 10 held-out days), with the bands the engine serves vs the same fit
with one σ and level for every forecast size (baseline). ``forecast_size_coverage_min/max``: coverage per bucket
of the forecast's expected orders (0–1, 1–3, 3–10, 10–30, 30+; judged where a bucket has ≥ 30 held-out days).

**Incrementality.** Every campaign runs a ghost-bid holdout of share ``--share`` (default 0.3) for market days
driven through the engine (requests drawn from the world, clicks and purchases from its true probabilities,
sent as events). The estimate is ``Engine.incrementality`` per campaign-day (95 % interval). The truth comes
from the world's ground truth on common random numbers: for every exposed win the engine also records
(``Holdout.shadow``, evaluation only) the slate the same request — same user, intent and query — would have
shown without the campaign's ad; the true incremental GMV is the world's expected GMV of the campaign's products
(examination × true pCTR × true pCVR × price × quantity) over those requests with the ad minus without it.
``incrementality_coverage`` = share of campaign-days whose interval covers the truth (target ≥ 0.90);
``holdout_cost_share`` = expected ad revenue given up on ghost wins ÷ the campaign's spend.

Markets: ``target_cvr`` 0.1 (≈ 20 × Ali-CCP's) so that a campaign-day has orders at
all — not calibrated; the scorer is the similarity priors (fast; the learned ranker is the default in serving).

    .venv/bin/python bench/forecast.py [--quick]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, replace  # noqa: E402

import numpy as np  # noqa: E402

from sitewide.domain.forecast import Band, CurvePoint  # noqa: E402
from sitewide.domain.money import Micros  # noqa: E402
from sitewide.domain.time import DAY_MS, day_of  # noqa: E402
from sitewide.domain.types import Event, EventKind  # noqa: E402
from sitewide.engine import Engine, EngineConfig  # noqa: E402
from sitewide.engine.forecast import DayForecast  # noqa: E402
from sitewide.ports import RequestBatch  # noqa: E402
from sitewide.service import forecast as powerlaw  # noqa: E402
from sitewide.simulator.config import SimConfig  # noqa: E402
from sitewide.simulator.story import Story, daily_curve  # noqa: E402
from sitewide.simulator.world import SEARCH, World, build_world  # noqa: E402
from sitewide.wiring import world_engine  # noqa: E402

ENGINE = EngineConfig(scorer="priors")
FORECAST_ENGINE = replace(ENGINE, forecast_calibration_campaigns=100_000)  # every campaign, every day


# ---- forecast calibration ---------------------------------------------------------------------------------
@dataclass
class DayCheck:
    seed: int
    day: int
    campaign_id: str
    observed: int
    expected: CurvePoint  # the engine's forecast of the day, calibrated, with its band
    market_band: Band  # the same day's band with one σ and level for every forecast size (the baseline)
    basis: str
    baseline: float
    raw: DayForecast  # uncalibrated, for the in-sample comparison


def forecast_market(quick: bool) -> tuple[SimConfig, list[int], int]:
    """(market, seeds, history days): the first day has no logged traffic (no forecast); days 1 … history − 1
    only calibrate; the rest are held out (each calibrated on all the days settled before it)."""
    if quick:
        cfg = SimConfig(
            days=8,
            users=1_500,
            merchants=50,
            products=400,
            ticks_per_day=12,
            campaign_share=1.0,
            target_cvr=0.1,
        )
        return cfg, [0, 1], 3
    cfg = SimConfig(
        days=10, users=5_000, merchants=60, products=800, ticks_per_day=48, campaign_share=1.0, target_cvr=0.1
    )
    return cfg, [0, 1, 2], 4


def run_forecasts(cfg: SimConfig, seed: int, history: int) -> tuple[list[DayCheck], list[DayCheck], Engine]:
    """(history checks, held-out checks): per campaign-day the forecast the engine made for it when the day
    before settled (``Forecaster.settled``), calibrated as the engine had it at the day's start, and the GMV that
    settled for it."""
    world = build_world(cfg.with_(seed=seed))
    engine = world_engine(world, FORECAST_ENGINE)
    fc = engine.forecaster
    story = Story(world, engine)
    camps = {c.id: c for c in world.campaigns}
    past: dict[str, list[tuple[int, int]]] = defaultdict(list)
    hist: list[DayCheck] = []
    held: list[DayCheck] = []
    for day in range(cfg.days):
        today = day_of(world.base_ms + day * DAY_MS)
        pred: dict[str, tuple[CurvePoint, Band, str, DayForecast]] = {}
        base: dict[str, float] = {}
        market_days = [p for v in past.values() for p in v]
        for cid in engine.campaign_ids():
            rec = fc.day_forecasts.get((cid, today))
            if rec is None:
                continue
            point = fc.calibrated(rec.point, rec.shop_id, rec.category)
            cal = fc.calibration
            pooled = replace(cal, size_sigma=(), size_level=())  # one σ and level for every size (baseline)
            pred[cid] = (
                point,
                pooled.calibrated(rec.point, rec.shop_id, rec.category).band,
                cal.factor(rec.shop_id, rec.category)[1],
                rec,
            )
            c = camps[cid]
            base[cid] = powerlaw.forecast(
                float(c.target_roi), int(c.daily_budget_micros), past[cid], [], market_days
            ).expected_gmv_micros
        n_before = len(story.campaign_rows)
        story.run_day(day)
        settled = {r["campaign_id"]: r for r in story.campaign_rows[n_before:]}
        for cid, (point, market_band, basis, rec) in pred.items():
            row = settled.get(cid)
            obs = int(row["gmv_micros"]) if row else 0
            check = DayCheck(seed, day, cid, obs, point, market_band, basis, base[cid], rec)
            (hist if day < history else held).append(check)
        for cid, row in settled.items():
            past[cid].append((int(row["spend_micros"]), int(row["gmv_micros"])))
    return hist, held, engine


def category_coverage_gap(held: list[DayCheck], level: float = 0.8) -> tuple[float, float, int]:
    """(served, baseline, categories): day-weighted mean |coverage − level| over the categories with ≥ 10
    held-out campaign-days, with the bands as served and with one σ and level for every forecast size."""
    by: dict[str, list[DayCheck]] = defaultdict(list)
    for c in held:
        by[c.raw.category].append(c)
    big = {k: v for k, v in by.items() if len(v) >= 10}
    if not big:
        return float("nan"), float("nan"), 0
    n = sum(len(v) for v in big.values())

    def gap(b: Callable[[DayCheck], Band]) -> float:
        return (
            sum(
                len(v) * abs(float(np.mean([b(c).gmv_low <= c.observed <= b(c).gmv_high for c in v])) - level)
                for v in big.values()
            )
            / n
        )

    return gap(lambda c: c.expected.band), gap(lambda c: c.market_band), len(big)


SIZE_BUCKETS = (1.0, 3.0, 10.0, 30.0)  # expected orders of a campaign-day: how coverage is reported and judged
MIN_BUCKET_DAYS = 30  # buckets with fewer held-out days are printed, not judged


def size_coverage(
    held: list[DayCheck], band_of: Callable[[DayCheck], Band], buckets: tuple[float, ...] = SIZE_BUCKETS
) -> list[tuple[str, int, float]]:
    """(bucket, held-out days, coverage) per bucket of the forecast's expected orders."""
    edges = (0.0, *buckets, float("inf"))
    out = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        days = [c for c in held if lo <= c.expected.orders < hi]
        if days:
            inside = [band_of(c).gmv_low <= c.observed <= band_of(c).gmv_high for c in days]
            out.append((f"{lo:g}–{hi:g}", len(days), float(np.mean(inside))))
    return out


def _mape(pred: list[float], obs: list[int]) -> float:
    e = [abs(p - o) / o for p, o in zip(pred, obs, strict=True) if o > 0]
    return float(np.median(e)) if e else float("nan")


# ---- incrementality -----------------------------------------------------------------------------------------
@dataclass
class Served:
    user: int
    kind: int
    intent: int
    slate: np.ndarray  # world product rows, -1 = empty


def expected_gmv(world: World, req: Served, slate: np.ndarray, products: np.ndarray) -> float:
    """The world's expected GMV of ``products`` (a boolean mask over world rows) from ``slate`` shown to the
    request's user: examination × true pCTR × true pCVR × price × mean quantity (bots never buy)."""
    if world.users.is_bot[req.user]:
        return 0.0
    s = len(slate)
    shown = (slate >= 0) & products[np.maximum(slate, 0)]
    if not shown.any():
        return 0.0
    p = np.maximum(slate, 0)
    u = np.full(s, req.user)
    intent = np.full(s, req.intent if req.kind == SEARCH else -1)
    pctr = world.true_pctr(u, p, np.full(s, req.kind), intent)
    pcvr = world.true_pcvr(u, p)
    g = (
        world.exam[:s]
        * pctr
        * pcvr
        * world.products.price_micros[p]
        * (1.0 + world.config.extra_quantity_mean)
    )
    return float(g[shown].sum())


def drive_day(world: World, engine: Engine, day: int) -> dict[str, Served]:
    """One day of requests through ``engine``; clicks and purchases drawn from the world's true probabilities
    and sent as events. Returns what each request was and saw."""
    cfg = world.config
    s = cfg.slots
    curve = daily_curve(cfg.ticks_per_day)
    tick_ms = DAY_MS // cfg.ticks_per_day
    start_day = world.base_ms + day * DAY_MS
    index = {p.id: i for i, p in enumerate(world.product_list)}
    eng2world = np.asarray([index.get(p, -1) for p in engine.catalogue_ids()] + [-1], dtype=np.int64)
    pids = [p.id for p in world.product_list]
    price = world.products.price_micros
    seen: dict[str, Served] = {}
    for t in range(cfg.ticks_per_day):
        rng = np.random.default_rng([cfg.seed, day, t, 1])
        n = rng.poisson(world.users.activity * curve[t])
        users = np.repeat(np.arange(len(world.users), dtype=np.int64), n)
        r = len(users)
        if r == 0:
            continue
        kind = np.where(rng.random(r) < cfg.search_share, SEARCH, 1).astype(np.int64)
        intent, target = world.sample_intent(users, rng)
        queries = world.search_queries(target, kind, rng)
        ts = start_day + t * tick_ms
        req_ids = [f"r{day}-{t}-{i}" for i in range(r)]
        user_ids = [world.users.ids[u] for u in users.tolist()]
        out = engine.serve_batch(RequestBatch(req_ids, user_ids, kind, queries, ts, s))
        eidx = np.asarray(out.product_idx, dtype=np.int64)[:, :s]
        prod = eng2world[np.where(eidx >= 0, eidx, -1)]
        for i in range(r):
            seen[req_ids[i]] = Served(int(users[i]), int(kind[i]), int(intent[i]), prod[i])
        shown = prod >= 0
        pj = np.where(shown, prod, 0)
        intent_col = np.where(kind == SEARCH, intent, -1)[:, None]
        pctr = world.true_pctr(users[:, None], pj, kind[:, None], intent_col)
        pcvr = world.true_pcvr(users[:, None], pj)
        bot = world.users.is_bot[users][:, None]
        click = shown & (
            rng.random((r, s)) < np.where(bot, cfg.bot_click_prob, pctr) * world.exam[:s][None, :]
        )
        buy = click & ~bot & (rng.random((r, s)) < pcvr)
        qty = 1 + rng.poisson(cfg.extra_quantity_mean, size=(r, s))
        promoted = np.asarray(out.promoted, dtype=bool)[:, :s]
        camp = np.asarray(out.campaign_idx, dtype=np.int64)[:, :s]
        cpc = np.asarray(out.price_cpc_micros, dtype=np.int64)[:, :s]
        cids = engine.campaign_ids()
        events: list[Event] = []
        for a, b in zip(*np.nonzero(click), strict=True):
            a, b = int(a), int(b)
            cid = f"c{day}-{t}-{a}-{b}"
            j = int(prod[a, b])
            ad = bool(promoted[a, b])
            events.append(
                Event(
                    id=cid,
                    kind=EventKind.CLICK,
                    ts_ms=ts + 1_000 * b,
                    user_id=user_ids[a],
                    product_id=pids[j],
                    request_id=req_ids[a],
                    campaign_id=cids[int(camp[a, b])] if ad else None,
                    position=b + 1,
                    price_micros=Micros(int(cpc[a, b]) if ad else 0),
                )
            )
            if buy[a, b]:
                events.append(
                    Event(
                        id=f"o{day}-{t}-{a}-{b}",
                        kind=EventKind.ORDER,
                        ts_ms=ts + 60_000 + 1_000 * b,
                        user_id=user_ids[a],
                        product_id=pids[j],
                        order_value_micros=Micros(int(price[j]) * int(qty[a, b])),
                        click_id=cid,
                    )
                )
        for i in range(0, len(events), 1_000):
            engine.record_events(events[i : i + 1_000])
    return seen


def incrementality_runs(quick: bool, share: float) -> list[dict[str, float]]:
    """Per (world, day, campaign): the holdout estimate against the truth. Every campaign runs a holdout of
    ``share``; for each exposed win the engine also records (``Holdout.shadow``, evaluation only) the slate the
    same request would have shown without the campaign: the truth is the world's expected GMV of the campaign's
    products over the exposed requests with the ad minus without it — the same requests, users and intents
    (common random numbers), only the campaign's ad removed."""
    cfg = SimConfig(
        users=1_200, merchants=12, products=300, ticks_per_day=6, campaign_share=1.0, target_cvr=0.1
    )
    worlds, days = ([0], 2) if quick else ([0, 1, 2, 3, 4, 5], 3)
    rows: list[dict[str, float]] = []
    for seed in worlds:
        world = build_world(cfg.with_(seed=seed))
        engine = world_engine(world, replace(ENGINE, holdout_share=share, holdout_seed=seed))
        engine.holdout.shadow = True
        index = {p.id: i for i, p in enumerate(world.product_list)}
        eng2world = np.asarray([index.get(p, -1) for p in engine.catalogue_ids()] + [-1], dtype=np.int64)
        masks = {}
        for c in world.campaigns:
            m = np.zeros(len(world.products), dtype=bool)
            m[[index[p] for p in c.product_ids]] = True
            masks[c.id] = m
        for day in range(days):
            engine.holdout.shadow_log.clear()
            seen = drive_day(world, engine, day)
            truth: dict[str, float] = defaultdict(float)
            for rid, cid, cf in engine.holdout.shadow_log:
                req = seen[rid]
                cf_world = eng2world[np.where(cf >= 0, cf, -1)]
                truth[cid] += expected_gmv(world, req, req.slate, masks[cid]) - expected_gmv(
                    world, req, cf_world, masks[cid]
                )
            start = world.base_ms + day * DAY_MS
            for c in world.campaigns:
                est = engine.incrementality(c.id, start, start + DAY_MS)
                gmv = est.incremental_gmv_micros
                if gmv is None or gmv.high is None:
                    continue
                lo, hi = gmv.low, gmv.high
                t = truth.get(c.id, 0.0)
                rows.append(
                    {
                        "truth": t,
                        "estimate": float(gmv.value),
                        "low": float(lo),
                        "high": float(hi),
                        "covered": float(lo <= t <= hi),
                        "spend": float(est.spend_micros),
                        "cost": float(est.holdout_cost_micros),
                        "exposed": float(est.exposed_wins),
                        "ghosts": float(est.ghost_wins),
                    }
                )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small markets, under a minute on two cores")
    ap.add_argument("--share", type=float, default=0.3, help="holdout share of the focal campaign")
    ap.add_argument("--seeds", type=int, default=0, help="forecast markets (seeds 0 … N − 1; default 2 quick, 3 full)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    cfg, seeds, history = forecast_market(args.quick)
    seeds = list(range(args.seeds)) if args.seeds else seeds
    hist: list[DayCheck] = []
    held: list[DayCheck] = []
    in_sample: list[tuple[DayCheck, CurvePoint]] = []
    for seed in seeds:
        h, e, engine = run_forecasts(cfg, seed, history)
        hist += h
        held += e
        # the same held-out days forecast with the last fit, which has seen them (in sample)
        fc = engine.forecaster
        in_sample += [(c, fc.calibrated(c.raw.point, c.raw.shop_id, c.raw.category)) for c in e]
    t_fc = time.perf_counter() - t0
    inside = [c.expected.band.gmv_low <= c.observed <= c.expected.band.gmv_high for c in held]
    cover = float(np.mean(inside)) if inside else float("nan")
    mape = _mape([c.expected.gmv for c in held], [c.observed for c in held])
    mape_base = _mape([c.baseline for c in held], [c.observed for c in held])
    width = float(
        np.median(
            [(c.expected.band.gmv_high - c.expected.band.gmv_low) / max(c.expected.gmv, 1.0) for c in held]
        )
    )
    bases = defaultdict(int)
    for c in held:
        bases[c.basis] += 1
    print(
        f"forecast: {len(seeds)} markets × {cfg.days} days ({history} history), {cfg.users} users, "
        f"{cfg.merchants} merchants, {cfg.ticks_per_day} ticks/day; {len(hist)} history and {len(held)} held-out "
        f"campaign-days; calibration basis {dict(bases)}; {t_fc:.1f} s"
    )
    print(f"  median band width ÷ point: {width:.2f}")
    cover_in = float(np.mean([p.band.gmv_low <= c.observed <= p.band.gmv_high for c, p in in_sample]))
    mape_in = _mape([p.gmv for _, p in in_sample], [c.observed for c, _ in in_sample])
    print(
        f"  in sample (the held-out days under the last fit, which saw them): coverage {cover_in:.3f}, "
        f"MAPE {mape_in:.3f}; out of sample (the metric lines): coverage {cover:.3f}, MAPE {mape:.3f}"
    )
    gap, gap_market, n_cats = category_coverage_gap(held)
    print(
        f"  per category ({n_cats} categories with ≥ 10 held-out days): mean |coverage − 0.8| {gap:.3f} as "
        f"served, {gap_market:.3f} with one σ and level for every size"
    )
    by_size = size_coverage(held, lambda c: c.expected.band)
    pooled = dict((k, v) for k, _, v in size_coverage(held, lambda c: c.market_band))
    print("  coverage by the forecast's expected orders (out of sample; in brackets: one σ and level for all sizes):")
    for k, n, v in by_size:
        print(f"    {k:>9} orders: {v:.3f} over {n} campaign-days ({pooled[k]:.3f})")
    judged = [v for _, n, v in by_size if n >= MIN_BUCKET_DAYS]
    (_, n_tiny, tiny), *_ = size_coverage(held, lambda c: c.expected.band, (0.3,))
    print(
        f"    of which under 0.3 orders: {tiny:.3f} over {n_tiny} campaign-days (where no order is likelier than "
        "0.8 the band is [0, 0], and holds every day that sells nothing: such days cover more than 0.8)"
    )
    t1 = time.perf_counter()
    runs = incrementality_runs(args.quick, args.share)
    t_inc = time.perf_counter() - t1
    covered = float(np.mean([r["covered"] for r in runs]))
    spend = sum(r["spend"] for r in runs)
    cost = sum(r["cost"] for r in runs)
    rel = [abs(r["estimate"] - r["truth"]) / max(abs(r["truth"]), 1.0) for r in runs]
    half = [(r["high"] - r["low"]) / 2 / max(abs(r["truth"]), 1.0) for r in runs if r["high"] == r["high"]]
    print(
        f"incrementality: {len(runs)} campaign-days (holdout share {args.share}); "
        f"median |error| ÷ truth {float(np.median(rel)):.2f}, median half-width ÷ truth "
        f"{float(np.median(half)):.2f}; truth mean {np.mean([r['truth'] for r in runs]) / 1e6:.1f} CNY/day; "
        f"{t_inc:.1f} s"
    )
    # sample size: the half-width shrinks as 1/sqrt(wins) (both arms grow with the days at a fixed share), so
    # a campaign-day with half-width ÷ |truth| = r needs (2r)² as many would-win auctions for a half-width of
    # half the effect (an interval that excludes zero with room)
    need = [
        (2 * (r["high"] - r["low"]) / 2 / abs(r["truth"])) ** 2
        for r in runs
        if r["high"] == r["high"] and abs(r["truth"]) > 0
    ]
    wins = [r["exposed"] + r["ghosts"] for r in runs]
    if need:
        print(
            f"  sample size: median {float(np.median(wins)):.0f} would-win auctions a campaign-day (exposed + "
            f"ghost); a half-width of half the effect needs {float(np.median(need)):,.0f}× as many (median; "
            f"quartiles {np.percentile(need, 25):,.0f}–{np.percentile(need, 75):,.0f}×), i.e. about "
            f"{float(np.median(wins)) * float(np.median(need)):,.0f} would-win auctions per estimate"
        )
    print(f"metric: forecast_band_coverage={cover:.3f} target=0.75-0.85")
    print(
        f"metric: forecast_size_coverage_min={min(judged):.3f} max={max(judged):.3f} buckets={len(judged)} "
        f"target=0.75-0.85 each (buckets of expected orders with ≥ {MIN_BUCKET_DAYS} held-out days)"
    )
    print(f"metric: forecast_mape={mape:.3f} baseline={mape_base:.3f} ratio={mape / mape_base:.3f}")
    print(
        f"metric: forecast_category_coverage_gap={gap:.3f} baseline={gap_market:.3f} "
        f"ratio={gap / max(gap_market, 1e-9):.3f} categories={n_cats} "
        "(out of sample; baseline: one σ and level for every size)"
    )
    print(f"metric: incrementality_coverage={covered:.3f} target=0.90")
    print(f"metric: holdout_cost_share={cost / max(spend, 1.0):.3f}")
    if need:
        print(
            f"metric: incrementality_wins_needed={float(np.median(wins)) * float(np.median(need)):.0f} "
            f"wins_per_day={float(np.median(wins)):.0f} factor={float(np.median(need)):.0f} "
            "(would-win auctions for a 95 % half-width of half the true effect, holdout share "
            f"{args.share})"
        )
    print(f"metric: holdout_cost_micros={cost:.0f}")
    print(f"metric: peak_rss_mb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}")


if __name__ == "__main__":
    main()
