"""Why small campaigns (< 100 orders) miss their ROI: a per-campaign breakdown of the realised ROI.

    .venv/bin/python bench/bidding_diagnose.py [--bidder landscape] [--seeds 100-107] [--own-seeds 100-101]

For every campaign-day of the bidder with fewer than 100 orders whose realised ROI misses ``0.95 × R``, the
realised ROI ÷ R is split into three factors whose product it is:

* ``luck``  = realised GMV ÷ true expected GMV of what was won (order-count and order-value noise);
* ``bias``  = true expected GMV won ÷ the bidder's own estimate of it (per-advertiser calibration bias and the
  winner's curse: wins select the impressions whose value was over-estimated);
* ``aim``   = the bidder's estimated value won ÷ (R × spend): the ROI the bidder planned on its own estimates.

and the end of the day: the realised ROI at 75 % of the day's spend-ticks against the end, and the share of
spend in the last quarter of the day (``late``: met at 75 % of the day, missed at the end). Each miss is put
under the factor that pulls it down most (smallest log). Seeds default to the tuning seeds (100..), never the
report seeds (0..) of ``bench/bidding.py``.

``--versus dual`` instead compares the bidder with another on every family, split by the budget's regime
(binding: factor ≤ 1 × what the free LP would spend; loose: ≥ 2, where the ROI constraint binds) and by size
(≥ 100 orders or not): score ÷ bound, constraint met, budget used and the median ROI ÷ R on the true
expected value won. It shows where the score is lost, and whether the other bidder gains it by breaking the
constraint.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sitewide.domain.bidding import Bidder, CampaignState, TickOutcome  # noqa: E402
from sitewide.models.bidding_policy import BidderFactory, default_policy_path  # noqa: E402
from sitewide.simulator.bidding_env import EnvConfig, make_campaigns, simulate_day  # noqa: E402
from sitewide.simulator.bidding_families import FAMILIES, make_family_days, run_family_day  # noqa: E402

SMALL = 100
TOL = 0.95


class Recorder(Bidder):
    """Delegates to ``inner`` and keeps each tick's outcome."""

    def __init__(self, inner: Bidder) -> None:
        super().__init__(inner.target_roi, inner.budget_micros)
        self.inner = inner
        self.kind = inner.kind
        self.ticks: list[TickOutcome] = []

    def multiplier(self, state: CampaignState) -> float:
        return self.inner.multiplier(state)

    def tick_cap(self, state: CampaignState) -> int:
        return self.inner.tick_cap(state)

    def observe(self, outcome: TickOutcome) -> None:
        self.ticks.append(outcome)
        self.inner.observe(outcome)


@dataclass
class Case:
    where: str
    name: str
    target: float
    orders: int
    spend: float
    gmv: float
    value_true: float
    value_est: float
    roi75: float
    late_share: float
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def met(self) -> bool:
        return self.spend == 0 or self.gmv >= TOL * self.target * self.spend

    def factors(self) -> tuple[float, float, float]:
        luck = self.gmv / self.value_true if self.value_true > 0 else math.nan
        bias = self.value_true / self.value_est if self.value_est > 0 else math.nan
        aim = self.value_est / (self.target * self.spend) if self.spend > 0 else math.nan
        return luck, bias, aim


def _case(where: str, name: str, target: float, rec: Recorder, spend: float, gmv: float, orders: int,
          value_true: float) -> Case:  # fmt: skip
    sp = np.array([o.spend_micros for o in rec.ticks], float)
    gm = np.array([o.gmv_micros for o in rec.ticks], float)
    est = float(sum(o.value_won for o in rec.ticks))
    T = len(rec.ticks)
    k = int(round(0.75 * T))
    s75, g75 = sp[:k].sum(), gm[:k].sum()
    roi75 = g75 / s75 / target if s75 > 0 else math.inf
    late = sp[k:].sum() / sp.sum() if sp.sum() > 0 else 0.0
    return Case(where, name, target, orders, spend, gmv, value_true, est, roi75, late)


def run(bidder: str, fam_seeds: list[int], own_seeds: list[int], families: list[str]) -> list[Case]:
    path = str(p) if (p := default_policy_path()) else None
    make = BidderFactory.load(bidder, path)
    cases: list[Case] = []
    for f in families:
        for s in fam_seeds:
            for day in make_family_days(FAMILIES[f], s):
                rec = Recorder(make(day.target_roi, day.budget_micros))
                r = run_family_day(day, rec)
                cases.append(_case(f, day.name, day.target_roi, rec, r.spend, r.gmv, r.orders, r.value))
    cfg = EnvConfig()
    for s in own_seeds:
        for spec, tr in make_campaigns(s, cfg):
            rec = Recorder(make(spec.target_roi, spec.budget_micros))
            d = simulate_day(tr, spec, rec, cfg)
            cases.append(_case("own", f"own/s{s}/{spec.name}", spec.target_roi, rec, d.total_spend,
                               d.total_gmv, d.total_orders, float(d.gmv_expected.sum())))  # fmt: skip
    return cases


def report(cases: list[Case]) -> None:
    small = [c for c in cases if c.orders < SMALL]
    miss = [c for c in small if not c.met]
    print(
        f"# small campaigns: {len(small)}, met {1 - len(miss) / max(len(small), 1):.3f}; misses: {len(miss)}"
    )
    print(f"{'campaign':22} {'R':>5} {'orders':>6} {'roi/R':>6} {'luck':>6} {'bias':>6} {'aim':>6} "
          f"{'roi75/R':>7} {'late%':>6} cause")  # fmt: skip
    causes: dict[str, int] = {}
    for c in miss:
        luck, bias, aim = c.factors()
        roi = c.gmv / c.spend / c.target
        factors = (("noise", luck), ("bias", bias), ("aim", aim))
        logs = {k: math.log(max(x, 1e-9)) for k, x in factors}  # no orders: luck 0
        cause = min(logs, key=lambda k: logs[k])
        if c.roi75 >= TOL > roi:
            cause += "+late"
        causes[cause] = causes.get(cause, 0) + 1
        print(f"{c.name:22} {c.target:5.1f} {c.orders:6d} {roi:6.3f} {luck:6.3f} {bias:6.3f} {aim:6.3f} "
              f"{c.roi75:7.3f} {100 * c.late_share:6.1f} {cause}")  # fmt: skip
    print("# causes of the misses: " + ", ".join(f"{k}={v}" for k, v in sorted(causes.items())))
    for label, group in (("all small", small), ("missed", miss), ("met small", [c for c in small if c.met])):
        if not group:
            continue
        f = np.array([c.factors() for c in group])
        gm = np.exp(np.nanmean(np.log(f), axis=0))
        print(f"# {label:10} n={len(group):3d} geometric means: luck={gm[0]:.3f} bias={gm[1]:.3f} aim={gm[2]:.3f} "
              f"orders p50={np.median([c.orders for c in group]):.0f}")  # fmt: skip
    for where in sorted({c.where for c in small}):
        g = [c for c in small if c.where == where]
        print(f"# {where:12} small={len(g):3d} met={np.mean([c.met for c in g]):.3f}")


def versus(bidders: list[str], fam_seeds: list[int], families: list[str]) -> None:
    """Per family × (size, budget regime): each bidder's score ÷ bound, met share, budget use, expected ROI ÷ R."""
    path = str(p) if (p := default_policy_path()) else None
    make = {b: BidderFactory.load(b, path) for b in bidders}
    print(f"{'family':12} {'size':5} {'budget':7} {'n':>4}  " + "  ".join(
        f"{b[:13]:>13}: score  met  use expROI" for b in bidders))  # fmt: skip
    for f in families:
        cells: dict[tuple[str, str], list[list[tuple[float, bool, float, float]]]] = {}
        for s in fam_seeds:
            for day in make_family_days(FAMILIES[f], s):
                res = [run_family_day(day, make[b](day.target_roi, day.budget_micros)) for b in bidders]
                size = "big" if res[0].orders >= SMALL else "small"
                regime = "loose" if day.budget_factor >= 2.0 else "binding"
                row = [
                    (r.score / r.bound if r.bound > 0 else 1.0, r.met, r.spend / r.budget,
                     r.value / r.spend / r.target_roi if r.spend else math.nan)
                    for r in res
                ]  # fmt: skip
                cells.setdefault((size, regime), []).append(row)
        for (size, regime), rows in sorted(cells.items()):
            a = np.array(rows, dtype=float)  # [campaign, bidder, field]
            parts = [
                f"{a[:, i, 0].mean():6.3f} {a[:, i, 1].mean():4.2f} {a[:, i, 2].mean():4.2f} {np.nanmedian(a[:, i, 3]):6.2f}"
                for i in range(len(bidders))
            ]
            print(f"{f:12} {size:5} {regime:7} {len(rows):4d}  " + "  ".join(f"{'':13}  {p}" for p in parts))


def _range(s: str) -> list[int]:
    if "-" in s:
        a, b = s.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(x) for x in s.split(",") if x]


def main() -> None:
    logging.getLogger("sitewide.domain.policy_bidder").setLevel(logging.ERROR)
    ap = argparse.ArgumentParser()
    ap.add_argument("--bidder", default="landscape")
    ap.add_argument("--seeds", default="100-107", help="family seeds (default: tuning seeds)")
    ap.add_argument("--own-seeds", default="100-101", help="own-environment seeds ('' for none)")
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--versus", default="", help="compare --bidder with this bidder per family and regime")
    args = ap.parse_args()
    t0, c0 = time.time(), time.process_time()
    if args.versus:
        print(f"# family seeds={args.seeds}; size by the first bidder's orders; budget loose: factor >= 2")
        versus([args.bidder, args.versus], _range(args.seeds), args.families.split(","))
        print(f"# wall {time.time() - t0:.0f}s cpu {time.process_time() - c0:.0f}s")
        return
    cases = run(args.bidder, _range(args.seeds), _range(args.own_seeds), args.families.split(","))
    print(f"# bidder={args.bidder} family seeds={args.seeds} own seeds={args.own_seeds}")
    report(cases)
    print(f"# wall {time.time() - t0:.0f}s cpu {time.process_time() - c0:.0f}s")


if __name__ == "__main__":
    main()
