"""Eligibility pool and shop experience score, on vs off, in the simulated market (real engine, in-process).

Four arms on the same worlds and seeds (common random numbers): pool on/off × shop score on/off via
``EngineConfig(use_eligibility=..., use_shop_score=...)``; everything else at the engine's defaults (α = 1,
reserve 0.01 per click, ad load ≤ half the slots). "Pool off" lets every campaign product be promoted; "score
off" gives every shop the neutral delivery multiplier 1.

Per arm (mean over seeds): NDCG@slots under the true utility, GMV (realised, and the expected GMV of the clicks:
true pCVR × price, free of the purchase draw's noise), CTR, CVR, refunds sent within the run and the expected
refund rate of what was bought (the world's per-product refund probability), the share of impressions (and of
promoted impressions) going to shops whose experience score is below neutral (80: the score demotes them), and
the hidden quality of what was promoted. Paired differences against "both off" are printed with their standard
error over seeds.

    .venv/bin/python bench/eligibility.py [--quick]

Market as in ``bench/frontier.py`` (``target_cvr`` 0.1, ≈ 20 × Ali-CCP's, so that GMV can be measured at all).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import math  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402

import pandas as pd  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from sitewide.simulator.config import SimConfig  # noqa: E402
from sitewide.whatif import MICROS, Setting, summarise, sweep  # noqa: E402

ARMS = {
    "off": Setting("pool off, score off", {"use_eligibility": False, "use_shop_score": False}),
    "pool_on": Setting("pool on, score off", {"use_eligibility": True, "use_shop_score": False}),
    "score_on": Setting("pool off, score on", {"use_eligibility": False, "use_shop_score": True}),
    "both_on": Setting("pool on, score on", {"use_eligibility": True, "use_shop_score": True}),
}
# (column, label, scale, format)
FIGURES = (
    ("ndcg", "NDCG", 1.0, "{:.4f}"),
    ("gmv_micros", "GMV", 1 / MICROS, "{:,.0f}"),
    ("expected_gmv_micros", "exp. GMV", 1 / MICROS, "{:,.0f}"),
    ("ctr", "CTR", 100.0, "{:.3f} %"),
    ("cvr", "CVR", 100.0, "{:.2f} %"),
    ("refunds", "refunds", 1.0, "{:.1f}"),
    ("expected_refund_rate", "exp. refund rate", 100.0, "{:.2f} %"),
    ("low_score_shop_impression_share", "low-score shop imp.", 100.0, "{:.1f} %"),
    ("low_score_shop_promoted_share", "low-score shop ads", 100.0, "{:.1f} %"),
    ("promoted_product_quality", "ad product quality", 1.0, "{:+.3f}"),
    ("shown_shop_quality", "shown shop quality", 1.0, "{:+.3f}"),
    ("ad_revenue_micros", "ad revenue", 1 / MICROS, "{:,.1f}"),
)


def market(quick: bool) -> tuple[SimConfig, list[int]]:
    if quick:
        cfg = SimConfig(days=1, users=2_000, merchants=40, products=1_000, ticks_per_day=24, target_cvr=0.1)
        return cfg, [0, 1, 2, 3]
    cfg = SimConfig(days=2, users=10_000, merchants=100, ticks_per_day=48, target_cvr=0.1)
    return cfg, [0, 1, 2, 3, 4, 5]


def paired(df: pd.DataFrame, arm: str, col: str) -> tuple[float, float]:
    """Mean and standard error over seeds of ``arm − off`` for ``col`` (common random numbers: paired)."""
    a = df[df["setting"] == ARMS[arm].label].set_index("seed")[col]
    b = df[df["setting"] == ARMS["off"].label].set_index("seed")[col]
    d = (a - b).dropna()
    if len(d) < 2:
        return float(d.mean()) if len(d) else float("nan"), float("nan")
    return float(d.mean()), float(d.std(ddof=1) / math.sqrt(len(d)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    cfg, seeds = market(args.quick)
    console = Console(width=200)
    console.print(
        f"market: {cfg.users:,} users, {cfg.merchants} merchants, {cfg.products or 'all'} products, "
        f"{cfg.days} d; seeds {seeds}; arms: pool on/off × shop score on/off"
    )
    t0 = time.perf_counter()
    df = sweep(cfg, list(ARMS.values()), seeds)
    dt = time.perf_counter() - t0
    m = summarise(df).set_index("setting")
    t = Table(
        title="pool and shop score, on vs off (mean over seeds; Δ = paired difference vs both off ± SE)"
    )
    t.add_column("figure")
    for key, s in ARMS.items():
        t.add_column(s.label, justify="right")
        if key != "off":
            t.add_column("Δ", justify="right")
    for col, label, scale, fmt in FIGURES:
        cells = [label]
        for key, s in ARMS.items():
            cells.append(fmt.format(float(m.loc[s.label, col]) * scale))
            if key != "off":
                d, se = paired(df, key, col)
                cells.append(f"{d * scale:+.3g}±{se * scale:.2g}")
        t.add_row(*cells)
    console.print(t)
    console.print(f"{len(df)} runs in {dt:.1f} s")

    def v(arm: str, col: str) -> float:
        return float(m.loc[ARMS[arm].label, col])

    def line(name: str, arm: str, col: str, scale: float = 1.0, digits: int = 4) -> None:
        x, b = v(arm, col) * scale, v("off", col) * scale
        ratio = f" ratio={x / b:.3f}" if b else ""
        print(f"metric: {name}={x:.{digits}f} baseline={b:.{digits}f}{ratio}")

    line("ndcg_pool_on", "pool_on", "ndcg")
    line("ndcg_score_on", "score_on", "ndcg")
    line("ndcg_both_on", "both_on", "ndcg")
    line("gmv_pool_on", "pool_on", "gmv_micros", 1 / MICROS, 1)
    line("gmv_score_on", "score_on", "gmv_micros", 1 / MICROS, 1)
    line("gmv_both_on", "both_on", "gmv_micros", 1 / MICROS, 1)
    line("expected_gmv_pool_on", "pool_on", "expected_gmv_micros", 1 / MICROS, 1)
    line("expected_gmv_score_on", "score_on", "expected_gmv_micros", 1 / MICROS, 1)
    line("expected_gmv_both_on", "both_on", "expected_gmv_micros", 1 / MICROS, 1)
    line("ctr_both_on", "both_on", "ctr", 1.0, 5)
    line("cvr_both_on", "both_on", "cvr", 1.0, 4)
    line("expected_refund_rate_both_on", "both_on", "expected_refund_rate", 1.0, 5)
    line("low_score_shop_impression_share_on", "score_on", "low_score_shop_impression_share")
    line("low_score_shop_promoted_share_on", "score_on", "low_score_shop_promoted_share")
    line("promoted_product_quality_pool_on", "pool_on", "promoted_product_quality")
    line("ad_revenue_both_on", "both_on", "ad_revenue_micros", 1 / MICROS, 2)
    print(f"metric: eligibility_wall_s={dt:.1f}")
    print(f"metric: peak_rss_mb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}")


if __name__ == "__main__":
    main()
