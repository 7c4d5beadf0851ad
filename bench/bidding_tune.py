"""Bidder variants on the *tuning* seeds (families 100.., own environment 100..): the lines bench/bidding.py
judges, for choosing constants without touching its report seeds (0..).

    .venv/bin/python bench/bidding_tune.py [--seeds 100-119] [--own-seeds 100-104] [--jobs 2] \
        'lcb' 'lcb:z=1.0,max_rel_sd=0.3' 'landscape' 'dual'

A variant is ``kind[:key=value,...]``: ``kind`` is one of the engine's bidder kinds (short names ``lcb`` for
``landscape_lcb``); keyword values are passed to the landscape bidders' constructors. Every figure here is
in-sample for whatever is chosen with it.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from bidding import HEADLINE_ORDERS as SMALL  # noqa: E402  (bench/ is the script's directory)
from bidding import TOL, UNSEEN  # noqa: E402
from bidding_diagnose import _range  # noqa: E402
from sitewide.domain.bidding import Bidder, make_baseline_bidder  # noqa: E402
from sitewide.domain.landscape import EvidenceLandscapeBidder, LandscapeBidder  # noqa: E402
from sitewide.simulator.bidding_env import EnvConfig, make_campaigns, simulate_day  # noqa: E402
from sitewide.simulator.bidding_families import FAMILIES, make_family_days, run_family_day  # noqa: E402
from sitewide.simulator.oracle import hindsight_oracle  # noqa: E402

_CLASSES: dict[str, type[LandscapeBidder]] = {"landscape": LandscapeBidder, "lcb": EvidenceLandscapeBidder,
                                              "landscape_lcb": EvidenceLandscapeBidder}  # fmt: skip


def make(variant: str, target: float, budget: int) -> Bidder:
    kind, _, rest = variant.partition(":")
    if kind not in _CLASSES:
        return make_baseline_bidder(kind, target, budget)
    kw = {k: float(v) for k, v in (p.split("=") for p in rest.split(",") if p)}
    quadratic = kw.pop("quadratic", 0.0)  # 'landscape:quadratic=1': told the contract's quadratic penalty
    bidder = _CLASSES[kind](target, budget, **kw)
    bidder.contract_penalty("quadratic" if quadratic else "hard")
    return bidder


# family, variant, score ÷ bound, met, orders, budget use, expected ROI ÷ R, value ÷ bound, penalty, luck
Rec = tuple[str, str, float, bool, int, float, float, float, float, float]


def job(args: tuple[str, int, list[str]]) -> list[Rec]:
    fam, seed, variants = args
    out: list[Rec] = []
    if fam == "own":
        cfg = EnvConfig()
        for spec, tr in make_campaigns(seed, cfg):
            orc = hindsight_oracle(tr.value_true, tr.cost_exp, spec.budget_micros, spec.target_roi)
            for v in variants:
                r = simulate_day(tr, spec, make(v, spec.target_roi, spec.budget_micros), cfg)
                sp, gm, ge = r.total_spend, r.total_gmv, float(r.gmv_expected.sum())
                met = sp == 0 or gm >= TOL * spec.target_roi * sp
                ratio = ge / orc.gmv if orc.gmv > 0 else 1.0  # the own environment scores value, no penalty
                out.append(("own", v, ratio, met, r.total_orders, sp / spec.budget_micros,
                            ge / sp / spec.target_roi if sp else np.nan, ratio, 1.0, gm / max(ge, 1.0)))  # fmt: skip
        return out
    for day in make_family_days(FAMILIES[fam], seed):
        for v in variants:
            r = run_family_day(day, make(v, day.target_roi, day.budget_micros))
            bound = r.bound if r.bound > 0 else max(r.value, 1.0)
            penalty = min(1.0, (r.roi / r.target_roi) ** 2) if r.spend else 1.0
            out.append((fam, v, r.score / bound, r.met, r.orders, r.spend / r.budget,
                        r.value / r.spend / r.target_roi if r.spend else np.nan, r.value / bound, penalty,
                        r.gmv / max(r.value, 1.0)))  # fmt: skip
    return out


def main() -> None:
    logging.getLogger("sitewide").setLevel(logging.ERROR)
    ap = argparse.ArgumentParser()
    ap.add_argument("variants", nargs="+")
    ap.add_argument("--seeds", default="100-119")
    ap.add_argument("--own-seeds", default="100-104")
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--split", action="store_true", help="also: per family and size, where the score is lost")
    a = ap.parse_args()
    fams = [f for f in a.families.split(",") if f]
    todo = [("own", s, a.variants) for s in _range(a.own_seeds)]
    todo += [(f, s, a.variants) for f in fams for s in _range(a.seeds)]
    t0 = time.time()
    if a.jobs <= 1:
        recs = [r for j in todo for r in job(j)]
    else:
        with ProcessPoolExecutor(a.jobs, mp_context=mp.get_context("spawn")) as pool:
            recs = [r for rs in pool.map(job, todo) for r in rs]
    groups = ["own"] + fams
    print(f"# tuning seeds: families {a.seeds}, own {a.own_seeds}; cells: score/bound met≥100 met<100 use")
    print(
        f"{'variant':40} " + " ".join(f"{g:>24}" for g in groups) + f" {'unseen':>6} {'small':>6} {'big':>6}"
    )
    for v in a.variants:
        cells = []
        for g in groups:
            rs = [r for r in recs if r[0] == g and r[1] == v]
            big = [r[3] for r in rs if r[4] >= SMALL]
            small = [r[3] for r in rs if r[4] < SMALL]
            cells.append(f"{np.mean([r[2] for r in rs]):.3f} {np.mean(big) if big else np.nan:.2f} "
                         f"{np.mean(small) if small else np.nan:.2f} {np.mean([r[5] for r in rs]):.2f}")  # fmt: skip
        fam_rs = [r for r in recs if r[1] == v and r[0] != "own"]
        unseen = np.mean([r[2] for r in fam_rs if r[0] in UNSEEN]) if fams else np.nan
        small_all = [r[3] for r in recs if r[1] == v and r[4] < SMALL]
        big_fam = [r[3] for r in fam_rs if r[4] >= SMALL and r[0] in UNSEEN]
        print(f"{v:40} " + " ".join(f"{c:>24}" for c in cells)
              + f" {unseen:6.3f} {np.mean(small_all):6.3f} {np.mean(big_fam) if big_fam else np.nan:6.3f}")  # fmt: skip
    if a.split:
        split(recs, a.variants, groups)
    print(f"# wall {time.time() - t0:.0f}s")


def split(recs: list[Rec], variants: list[str], groups: list[str]) -> None:
    """Per group × size (≥ 100 orders or not): score ÷ bound = value ÷ bound × the ROI penalty (mean of the
    products), the met share, and the medians of expected ROI ÷ R (the aim, on true values) and of luck
    (realised ÷ true expected GMV won)."""
    print("# split: group size n | value/bound penalty score/bound met | median expROI/R luck")
    for g in groups:
        for size in ("big", "small"):
            for v in variants:
                rs = [r for r in recs if r[0] == g and r[1] == v and (r[4] >= SMALL) == (size == "big")]
                if not rs:
                    continue
                a = np.array([(r[7], r[8], r[2], r[3], r[6], r[9]) for r in rs], dtype=float)
                print(f"{g:12} {size:5} {v:32} {len(rs):4d} | {a[:, 0].mean():.3f} {a[:, 1].mean():.3f} "
                      f"{a[:, 2].mean():.3f} {a[:, 3].mean():.2f} | {np.nanmedian(a[:, 4]):.2f} "
                      f"{np.median(a[:, 5]):.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
