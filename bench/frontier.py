"""The operator's what-if frontier: α × reserve on a modest simulated market, the real engine in-process.

Every setting runs on the same worlds and seeds (common random numbers); per setting the table shows the mean
over seeds of ad revenue (settled spend), compensation, GMV (realised, and the expected GMV of the clicks, which
is free of the purchase draw's noise), NDCG under the true utility, CTR, and campaigns meeting their ROI. The
chart goes to ``artifacts/frontier.html`` (self-contained, opens offline).

    .venv/bin/python bench/frontier.py [--quick]

α runs over {0, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2, 4}: from about 0.25 up the ad-load cap (half the slots)
already binds, so the points below it are where the trade-off is. Market (quick): 2,000 users, 40 merchants,
1,000 of the packaged products, one day, seeds 0–1; (full) 5,000 users, 100 merchants, all 2,000 products,
two days, seeds 0–2; ``target_cvr`` is 0.1 (≈ 20 × Ali-CCP's) so that a small day has enough purchases for
GMV to be measured at all — not calibrated.
Reserves: "low" is the engine's default (0.01 per click); "high" (0.10 per click) binds on a large share of the
ads, whose bids per click are pCVR × price ÷ target ROI with the engine's prior pCVR ≈ 0.5 %.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pandas as pd  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from sitewide.simulator.config import SimConfig  # noqa: E402
from sitewide.whatif import (  # noqa: E402
    MICROS,
    alpha_reserve_grid,
    frontier_chart,
    summarise,
    sweep,
)

ALPHAS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
# From α ≈ 0.25 up the ad-load cap (half the slots) already binds; the trade-off lives below it.
FINE_ALPHAS = (0.02, 0.05, 0.1)
RESERVES = {"low": 10_000, "high": 100_000}
ARTIFACT = Path("artifacts/frontier.html")


def market(quick: bool) -> tuple[SimConfig, list[int]]:
    if quick:
        cfg = SimConfig(days=1, users=2_000, merchants=40, products=1_000, ticks_per_day=24, target_cvr=0.1)
        return cfg, [0, 1]
    cfg = SimConfig(days=2, users=5_000, merchants=100, ticks_per_day=48, target_cvr=0.1)
    return cfg, [0, 1, 2]


def _money(micros: float) -> str:
    return f"{micros / MICROS:,.1f}"


def table(m: pd.DataFrame) -> Table:
    t = Table(title="what-if frontier (mean over seeds)")
    for col in (
        "setting",
        "promoted",
        "ad revenue",
        "CPC",
        "comp.",
        "GMV",
        "exp. GMV",
        "NDCG",
        "CTR",
        "CVR",
        "ROI met",
    ):
        t.add_column(col, justify="left" if col == "setting" else "right")
    for r in m.itertuples(index=False):
        t.add_row(
            str(r.setting),
            f"{100 * r.promoted_share:.0f} %",
            _money(r.ad_revenue_micros),
            f"{r.clicked_cpc_micros / max(r.promoted_clicks, 1) / MICROS:.3f}",
            _money(r.compensation_micros),
            _money(r.gmv_micros),
            _money(r.expected_gmv_micros),
            f"{r.ndcg:.4f}",
            f"{100 * r.ctr:.2f} %",
            f"{100 * r.cvr:.1f} %",
            f"{r.campaigns_meeting_roi:.1f}/{r.campaigns_with_spend:.1f}",
        )
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=ARTIFACT)
    args = ap.parse_args()
    cfg, seeds = market(args.quick)
    alphas = tuple(sorted(set(ALPHAS) | set(FINE_ALPHAS)))
    grid = alpha_reserve_grid(alphas, RESERVES)
    console = Console(width=140)
    console.print(
        f"market: {cfg.users:,} users, {cfg.merchants} merchants, {cfg.products or 'all'} products, {cfg.days} d; "
        f"seeds {seeds}; {len(grid)} settings"
    )
    done = [0]

    def tick(row: dict[str, Any]) -> None:
        done[0] += 1
        if done[0] % len(grid) == 0:
            console.print(f"  seed {row['seed']}: {len(grid)} settings done")

    t0 = time.perf_counter()
    df = sweep(cfg, grid, seeds, on_run=tick)
    dt = time.perf_counter() - t0
    m = summarise(df)
    console.print(table(m))
    files = frontier_chart(df, args.out)
    console.print(f"{len(df)} runs in {dt:.1f} s; chart: {', '.join(str(f) for f in files)}")

    def at(alpha: float, reserve: str) -> pd.Series:
        return m[(m["alpha"] == alpha) & (m["reserve_cpc_micros"] == RESERVES[reserve])].iloc[0]

    a0 = at(0.0, "low")
    print(f"metric: frontier_settings={len(grid)}")
    print(f"metric: frontier_runs={len(df)}")
    print(f"metric: ndcg_alpha0={a0['ndcg']:.4f}")
    print(f"metric: gmv_alpha0={a0['gmv_micros'] / MICROS:.1f}")
    for alpha in (0.25, 1.0, 4.0):
        r = at(alpha, "low")
        tag = f"{alpha:g}".replace(".", "_")
        print(f"metric: ad_revenue_alpha{tag}={r['ad_revenue_micros'] / MICROS:.2f}")
        print(
            f"metric: ndcg_alpha{tag}={r['ndcg']:.4f} baseline={a0['ndcg']:.4f} "
            f"ratio={r['ndcg'] / a0['ndcg']:.3f}"
        )
        print(
            f"metric: expected_gmv_alpha{tag}={r['expected_gmv_micros'] / MICROS:.1f} "
            f"baseline={a0['expected_gmv_micros'] / MICROS:.1f} "
            f"ratio={r['expected_gmv_micros'] / a0['expected_gmv_micros']:.3f}"
        )
    hi, lo = at(1.0, "high"), at(1.0, "low")
    print(
        f"metric: ad_revenue_alpha1_high_reserve={hi['ad_revenue_micros'] / MICROS:.2f} "
        f"baseline={lo['ad_revenue_micros'] / MICROS:.2f} "
        f"ratio={hi['ad_revenue_micros'] / lo['ad_revenue_micros']:.3f}"
    )
    print(f"metric: frontier_wall_s={dt:.1f}")
    print(f"metric: peak_rss_mb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}")


if __name__ == "__main__":
    main()
