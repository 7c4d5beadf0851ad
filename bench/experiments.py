"""Merchant experiments: always-valid tests vs the fixed-horizon test, CUPED, and the budget split.

1. A/A: ≥ 1,000 simulated creative experiments (users hashed into arms by the production assignment, no true
   difference), each checked after every tick. The always-valid mSPRT on CTR (delta method over per-user sums)
   should reject in ≤ 5 %; the fixed-horizon z-test looked at the same way (stop at the first p < 0.05) is the
   baseline, expected far above 5 %.
2. A/B with known true lifts (users with hidden preferences over the creatives): power and median stopping
   time of the mSPRT against the fixed-horizon test read once at the horizon, both at α = 0.05.
3. CUPED: the spread of the CTR difference across the A/A experiments with and without the pre-period.
4. Campaign-level terms (target ROI 4 vs 3): the lift measured with and without the budget split against the
   true lift of rolling B out to everyone.

``python bench/experiments.py [--quick]``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import math  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402
from decimal import Decimal  # noqa: E402

import numpy as np  # noqa: E402

from sitewide.catalogue import packaged_catalogue  # noqa: E402
from sitewide.domain.experiments import Arm, Experiment, ExperimentKind, assign_many  # noqa: E402
from sitewide.domain.money import Micros  # noqa: E402
from sitewide.domain.sequential import (  # noqa: E402
    MIN_USERS,
    ArmSums,
    cuped_theta,
    fixed_halfwidth,
    msprt_log_lambda,
    msprt_tau2,
    ratio_estimate,
)
from sitewide.domain.time import ManualClock, day_bounds  # noqa: E402
from sitewide.domain.types import Campaign, Event, EventKind  # noqa: E402
from sitewide.engine import EngineConfig  # noqa: E402
from sitewide.ports import RequestBatch  # noqa: E402
from sitewide.service.usecases import experiments as usecases  # noqa: E402
from sitewide.simulator.experiments import (  # noqa: E402
    CampaignScenario,
    CreativeScenario,
    simulate_campaign,
    simulate_creative,
)
from sitewide.storage.memory import MemoryStore  # noqa: E402
from sitewide.wiring import seeded_engine  # noqa: E402

ALPHA = 0.05
IMPRESSIONS = 60.0  # per user over the experiment (and again in the pre-period)


def looks(a: ArmSums, b: ArmSums, n_star: float, cuped: bool = False) -> tuple[np.ndarray, ...]:
    """Cumulative per-tick sums → (mSPRT rejects [E, T], fixed-horizon rejects [E, T], d [E, T], v [E, T])."""
    ca, cb = a.cumulative(axis=1), b.cumulative(axis=1)
    theta = cuped_theta(ca, cb) if cuped else 0.0
    z_pool = (ca.sz + cb.sz) / np.maximum(ca.n + cb.n, 1)
    ea, eb = ratio_estimate(ca, theta, z_pool), ratio_estimate(cb, theta, z_pool)
    d = eb.value - ea.value
    v = ea.var + eb.var
    tau2 = msprt_tau2(ea.var * ea.n + eb.var * eb.n, ALPHA, n_star)
    ready = np.minimum(ca.n, cb.n) >= MIN_USERS
    msprt = ready & (msprt_log_lambda(d, v, tau2) >= math.log(1 / ALPHA))
    fixed = ready & (np.abs(d) > fixed_halfwidth(v, ALPHA))
    return msprt, fixed, d, v


def first(rej: np.ndarray) -> np.ndarray:
    """Tick index (1-based) of the first rejection per experiment, T + 1 when never."""
    t = rej.shape[1]
    return np.where(rej.any(axis=1), rej.argmax(axis=1) + 1, t + 1)


def end_to_end(rng: np.random.Generator, users: int, ticks: int, lift: float) -> dict[str, object]:
    """A creative test through the real engine: users with hidden tastes search for a shop's products, the
    engine labels each slot with the user's title variant, clicks follow the hidden CTR, events go back to
    the engine, and the results use case is read after every tick (auto-stop on)."""
    shops, products = packaged_catalogue()
    by_shop: dict[str, list[str]] = {}
    for p in products:
        by_shop.setdefault(p.shop_id, []).append(p.id)
    shop = max(by_shop, key=lambda s: (len(by_shop[s]), s))
    pids = tuple(sorted(by_shop[shop])[:5])
    merchant = next(s.merchant_id for s in shops if s.id == shop)
    t0 = day_bounds("2026-03-02")[0] + 3_600_000
    clock = ManualClock(t0)
    camp = Campaign("c-e2e", merchant, "e2e", pids, Decimal("2"), Micros(10**12))
    engine = seeded_engine(MemoryStore(), shops, products, [camp], EngineConfig(scorer="priors"), clock=clock)
    exp = Experiment(
        id="x-e2e", merchant_id=merchant, name="title", kind=ExperimentKind.CREATIVE, campaign_id=camp.id,
        product_ids=pids, arms=(Arm("A", title="old title"), Arm("B", title="new title")), salt="e2e",
        n_star=users // 2, created_ms=t0,
    )  # fmt: skip
    exp = usecases.create(engine, engine.store, exp)
    titles = {p.id: p.title for p in products}
    ids = [f"user{i}" for i in range(users)]
    base = 0.05 * rng.lognormal(-0.18, 0.6, size=users)
    taste = np.exp(0.5 * rng.standard_normal(users) - 0.125)
    arm = assign_many(exp.salt, [1, 1], ids)
    ctr = np.clip(base * np.where(arm == 1, (1 + lift) * taste, 1.0), 0, 1)
    stopped_at, verdict = None, ""
    n_ev = 0
    for t in range(ticks):
        ts = t0 + (t + 1) * 60_000
        clock.now = ts + 30_000
        who = rng.permutation(users)[: users // 4]
        queries = [titles[pids[int(rng.integers(len(pids)))]][:40] for _ in who]
        out = engine.serve_batch(
            RequestBatch(
                [f"r{t}-{i}" for i in who],
                [ids[i] for i in who],
                np.zeros(len(who), np.int64),
                queries,
                ts,
                10,
            )
        )
        events = []
        for r, i in enumerate(who):
            for s in range(out.product_idx.shape[1]):
                pi = int(out.product_idx[r, s])
                if pi < 0 or engine.catalogue_ids()[pi] not in pids:
                    continue
                pid = engine.catalogue_ids()[pi]
                events.append(
                    Event(f"i{t}-{i}-{s}", EventKind.IMPRESSION, ts, user_id=ids[i], product_id=pid)
                )
                if rng.random() < ctr[i]:
                    events.append(
                        Event(f"c{t}-{i}-{s}", EventKind.CLICK, ts + 1, user_id=ids[i], product_id=pid)
                    )
        for k in range(0, len(events), 1000):
            engine.record_events(events[k : k + 1000])
        n_ev += len(events)
        res = usecases.results(engine, engine.store, usecases.get(engine.store, exp.id))
        if res.experiment.winner is not None:
            stopped_at, verdict = t + 1, res.verdict
            break
        verdict = res.verdict
    # after the stop every user is served the winner's title
    out = engine.serve_batch(
        RequestBatch([f"z{i}" for i in range(200)], ids[:200], np.zeros(200, np.int64),
                     [titles[pids[i % len(pids)]][:40] for i in range(200)], t0 + 10**7, 10)
    )  # fmt: skip
    variant = out.variant
    shown = {v for row in variant for v in row if v is not None} if variant is not None else set()
    return {"stopped_at": stopped_at, "verdict": verdict, "events": n_ev, "served_after": shown}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    n_aa = 1000 if args.quick else 2000
    users = 2000 if args.quick else 4000
    ticks = 50
    n_star = users / 2

    # 1. A/A with continuous peeking
    aa = simulate_creative(
        CreativeScenario(experiments=n_aa, users=users, ticks=ticks, impressions_per_user=IMPRESSIONS),
        rng,
        salt="aa",
    )
    m_rej, f_rej, d_raw, _ = looks(*aa.ctr, n_star)
    aa_fpr = float(m_rej.any(axis=1).mean())
    peek_fpr = float(f_rej.any(axis=1).mean())
    once_fpr = float(f_rej[:, -1].mean())
    print(
        f"A/A: {n_aa} experiments × {users} users, {ticks} looks each (≥ {MIN_USERS} users per arm before "
        f"the first); mSPRT rejects {aa_fpr:.3f}, fixed-horizon peeked every look {peek_fpr:.3f}, "
        f"fixed-horizon read once at the end {once_fpr:.3f}"
    )

    # 3. CUPED on the same A/A experiments: spread of the CTR difference at the horizon
    _, _, d_cuped, v_cuped = looks(*aa.ctr, n_star, cuped=True)
    var_raw = float(np.var(d_raw[:, -1]))
    var_cuped = float(np.var(d_cuped[:, -1]))
    reduction = 1 - var_cuped / var_raw
    m_rej_c, _, _, _ = looks(*aa.ctr, n_star, cuped=True)
    print(
        f"CUPED (pre-period clicks): Var(d) {var_raw:.3e} → {var_cuped:.3e} across the A/A experiments; "
        f"A/A false positives with CUPED {float(m_rej_c.any(axis=1).mean()):.3f}"
    )

    # 2. A/B with known lifts
    n_ab = 300 if args.quick else 1000
    lines = []
    for lift in (0.10, 0.20, 0.30):
        ab = simulate_creative(
            CreativeScenario(
                experiments=n_ab, users=users, ticks=ticks, lift=lift, impressions_per_user=IMPRESSIONS
            ),
            rng,
            salt=f"ab{lift}",
        )
        m, f, d, _ = looks(*ab.ctr, n_star)
        mc, _, _, _ = looks(*ab.ctr, n_star, cuped=True)
        power_mc = float(mc.any(axis=1).mean())
        med_c = float(np.median(np.minimum(first(mc), ticks))) / ticks
        stop = first(m)
        power_m = float(m.any(axis=1).mean())
        power_f = float(f[:, -1].mean())
        med = float(np.median(np.minimum(stop, ticks))) / ticks
        med_stopped = float(np.median(stop[stop <= ticks])) / ticks if (stop <= ticks).any() else math.nan
        wrong = float((m.any(axis=1) & (d[np.arange(n_ab), np.minimum(stop, ticks) - 1] < 0)).mean())
        print(
            f"A/B true CTR lift {100 * lift:.0f} %: mSPRT power {power_m:.3f} (stops at a median "
            f"{100 * med:.0f} % of the horizon, {100 * med_stopped:.0f} % among those that stop; wrong sign "
            f"{wrong:.3f}); with CUPED power {power_mc:.3f}, median stop {100 * med_c:.0f} %; fixed horizon "
            f"read once at 100 %: power {power_f:.3f}"
        )
        tag = f"lift{int(round(100 * lift))}"
        lines.append(
            f"metric: msprt_power_{tag}={power_m:.3f} baseline={power_f:.3f} "
            f"ratio={power_m / max(power_f, 1e-9):.3f}"
        )
        lines.append(f"metric: msprt_median_stop_{tag}={med:.3f} baseline=1.000 ratio={med:.3f}")
        lines.append(f"metric: msprt_cuped_power_{tag}={power_mc:.3f} baseline={power_f:.3f}")
        lines.append(f"metric: msprt_cuped_median_stop_{tag}={med_c:.3f} baseline=1.000")

    # 4. campaign-level: budget split vs none
    camp = simulate_campaign(
        CampaignScenario(users=20_000 if args.quick else 100_000), np.random.default_rng(args.seed + 1)
    )
    bias_split = camp.split_lift - camp.true_lift
    bias_none = camp.no_split_lift - camp.true_lift
    print(
        f"campaign terms ROI 4 → 3: true GMV lift {100 * camp.true_lift:+.1f} %; budget split measures "
        f"{100 * camp.split_lift:+.1f} % ± {100 * camp.split_ci:.1f} %; without the split "
        f"{100 * camp.no_split_lift:+.1f} % (the arms bid against each other)"
    )

    # 5. end to end through the engine and the results use case
    e2e = end_to_end(
        np.random.default_rng(args.seed + 2), users=2000 if args.quick else 5000, ticks=40, lift=0.3
    )
    print(
        f"end to end (engine, 30 % true CTR lift, {e2e['events']} events): stopped after tick "
        f"{e2e['stopped_at']} of at most 40 — {e2e['verdict']}; titles served afterwards: {sorted(e2e['served_after'])}"  # type: ignore[arg-type]
    )

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"elapsed {time.perf_counter() - t0:.1f} s")
    print(
        f"metric: aa_false_positive_rate={aa_fpr:.4f} baseline={peek_fpr:.4f} "
        f"ratio={aa_fpr / max(peek_fpr, 1e-9):.3f} target=0.05"
    )
    print(f"metric: fixed_horizon_peeking_fpr={peek_fpr:.4f} baseline={ALPHA} ratio={peek_fpr / ALPHA:.2f}")
    print(f"metric: fixed_horizon_single_look_fpr={once_fpr:.4f} target=0.05")
    for line in lines:
        print(line)
    print(f"metric: cuped_variance_reduction={reduction:.3f} baseline=0")
    print(f"metric: campaign_lift_true={camp.true_lift:.4f}")
    print(
        f"metric: campaign_lift_bias_split={bias_split:+.4f} baseline={bias_none:+.4f} "
        f"halfwidth={camp.split_ci:.4f}"
    )
    print(f"metric: campaign_lift_bias_no_split={bias_none:+.4f}")
    stop_tick = e2e["stopped_at"] if e2e["stopped_at"] is not None else 41
    print(f"metric: e2e_stop_tick={stop_tick} baseline=40 served_after_stop={len(e2e['served_after'])}")  # type: ignore[arg-type]
    print(f"metric: peak_rss_mb={peak:.0f}")


if __name__ == "__main__":
    main()
