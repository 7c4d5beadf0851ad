"""A seeded, vectorised auto-bidding environment in the AuctionNet style, for training and judging bidders.

One *day* has ``T`` ticks (48 half-hours). Each campaign of a seed faces its own stream of candidate
impressions; per tick the bidder is asked once for bids over the tick's batch and told its outcome after.

What is drawn, and from where (numbers in ``sitewide/data/bidding_calibration.json``, see data/README.md)
--------------------------------------------------------------------------------------------------------
* traffic per tick: the day's total × the Open Bandit (ZOZOTOWN) hourly share of impressions, each hour
  split over its two half-hours, × lognormal tick noise (σ 0.1). Campaign volumes differ (lognormal σ 0.35).
* true pCTR: lognormal with mean 4.0 % (Taobao display-ad sample CTR), σ_log 0.6, clipped to 0.5;
  true pCVR: lognormal with mean 0.53 % (ESMM's full Ali-CCP CVR), σ_log 0.8, clipped to 0.5.
* order value: a campaign's base price drawn from the 100 real Taobao ad-item prices (CNY, as micros), each
  impression's product priced ``base × lognormal(σ 0.35)`` (a shop's products are similarly priced).
* what the bidder sees: ``value_est = pCTR_hat · pCVR_hat · price`` where ``pCTR_hat = pCTR · exp(σZ − σ²/2)``
  (unbiased, σ = ``est_sigma``), the same for pCVR. The platform prices clicks with the same ``pCTR_hat``.
* the market (the best competing bid per impression, eCPM micros): ``ρ_c · s(t) · true value · lognormal``
  (σ 0.5) — competitors bid on value, the campaign's market level ``ρ_c`` is lognormal around 0.25 and the
  intraday competition curve ``s(t) = 1 + 0.3 sin(2π t/T + φ)`` has a random phase per seed.
* payment: second price per click, ``cpc = ceil(market / pCTR_hat)`` micros, charged only when clicked;
  clicks and orders come from one uniform per impression (click iff ``u < pCTR``, order iff
  ``u < pCTR · pCVR``), drawn up front so that every policy faces the same luck (common random numbers).
* campaigns: targets from easy to hard (``target_rois``), budgets a multiple of the oracle's spend at the
  target without a budget (``budget_factors``: < 1 binds, > 1 does not).

Hard cap: a tick's won slots are admitted through :class:`~sitewide.domain.bidding.BudgetGuard`; each
admitted slot reserves its per-click price until its click resolves. Clicks resolve after each of
``substeps`` sub-batches of the tick, so spend can never pass the budget.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from sitewide.domain.bidding import Bidder, BudgetGuard, CampaignState, RunningTotals, TickOutcome
from sitewide.domain.types import BoolArray, FloatArray, IntArray, ValidationError
from sitewide.simulator.oracle import hindsight_oracle

F32Array = npt.NDArray[np.float32]

__all__ = [
    "CampaignSpec",
    "DayResult",
    "DayTraffic",
    "EnvConfig",
    "build_bidding_calibration",
    "calibration",
    "make_campaigns",
    "simulate_day",
]


@cache
def calibration() -> dict[str, Any]:
    """The measured statistics the environment draws from (a small JSON shipped with the package)."""
    text = resources.files("sitewide.data").joinpath("bidding_calibration.json").read_text()
    return dict(json.loads(text))


@dataclass(frozen=True, slots=True)
class EnvConfig:
    ticks: int = 48
    substeps: int = 8
    impressions_per_day: int = 2_000_000  # candidate impressions of a typical campaign per day
    volume_sigma: float = 0.35
    ctr_sigma: float = 0.6
    cvr_sigma: float = 0.8
    price_sigma: float = 0.35
    est_sigma: float = 0.15
    market_level: float = 0.25
    market_level_sigma: float = 0.3
    market_sigma: float = 0.5
    intraday_amplitude: float = 0.3
    tick_noise: float = 0.1
    target_rois: tuple[float, ...] = (1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0)
    budget_factors: tuple[float, ...] = (0.35, 0.6, 0.9, 1.5, 3.0)
    campaigns_per_seed: int = 8

    def __post_init__(self) -> None:
        if self.ticks < 1 or self.substeps < 1 or self.impressions_per_day < self.ticks:
            raise ValidationError("need ticks ≥ 1, substeps ≥ 1 and at least one impression per tick")
        if self.campaigns_per_seed < 1 or not self.target_rois or not self.budget_factors:
            raise ValidationError("need at least one campaign, target and budget factor")


@dataclass(frozen=True, slots=True)
class DayTraffic:
    """One campaign's candidate impressions for one day, in arrival order; ``offsets[t]:offsets[t+1]`` is tick t."""

    offsets: IntArray  # [T + 1]
    value_true: F32Array  # [N] expected GMV per impression, true probabilities (micros)
    value_est: F32Array  # [N] the bidder's unbiased estimate
    market: F32Array  # [N] best competing bid per impression (micros)
    cpc: IntArray  # [N] per-click price if won (micros)
    cost_exp: F32Array  # [N] expected cost if won: pCTR · cpc (micros)
    click: BoolArray  # [N] realised click if shown
    order: BoolArray  # [N] realised order if shown (implies click)
    price: IntArray  # [N] order value (micros)
    order_prob: F32Array  # [N] true pCTR · pCVR (for labels and diagnostics, never shown to bidders)

    @property
    def ticks(self) -> int:
        return len(self.offsets) - 1


@dataclass(frozen=True, slots=True)
class CampaignSpec:
    name: str
    target_roi: float
    budget_micros: int
    budget_factor: float
    market_level: float


@dataclass(slots=True)
class DayResult:
    """Per-tick and total outcome of one bidder on one campaign-day (money summed as integer micros)."""

    spend: IntArray
    gmv: IntArray
    clicks: IntArray
    orders: IntArray
    impressions: IntArray
    gmv_expected: FloatArray  # true-probability GMV of what was won (float micros)
    cost_expected: FloatArray
    multiplier: FloatArray
    max_exposure: int = 0  # the largest spent + in-flight reservation seen (must stay ≤ budget)

    @property
    def total_spend(self) -> int:
        return int(self.spend.sum())

    @property
    def total_gmv(self) -> int:
        return int(self.gmv.sum())

    @property
    def total_orders(self) -> int:
        return int(self.orders.sum())


def _tick_shares(ticks: int) -> FloatArray:
    hourly = np.asarray(calibration()["open_bandit_hourly_share_jst"], dtype=np.float64)
    pos = (np.arange(ticks) + 0.5) * 24.0 / ticks  # hour at the middle of each tick
    share = hourly[np.floor(pos).astype(np.int64) % 24]
    out: FloatArray = share / share.sum()
    return out


def _lognormal_mean(rng: np.random.Generator, mean: float, sigma: float, n: int) -> F32Array:
    z = rng.standard_normal(n, dtype=np.float32)
    z *= sigma
    z -= 0.5 * sigma * sigma
    np.exp(z, out=z)
    z *= mean
    return z


def make_traffic(rng: np.random.Generator, cfg: EnvConfig, market_level: float, phase: float) -> DayTraffic:
    """Draw one campaign's day of candidate impressions (see the module docstring for every distribution).

    Per-impression arrays are float32 (half the memory traffic); every sum is taken in float64 or int64.
    """
    cal = calibration()
    t_share = _tick_shares(cfg.ticks) * np.exp(cfg.tick_noise * rng.standard_normal(cfg.ticks))
    volume = cfg.impressions_per_day * math.exp(cfg.volume_sigma * rng.standard_normal())
    counts = np.maximum(1, np.round(volume * t_share / t_share.sum())).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    n = int(offsets[-1])

    ctr = np.minimum(_lognormal_mean(rng, float(cal["ctr"]), cfg.ctr_sigma, n), np.float32(0.5))
    cvr = np.minimum(_lognormal_mean(rng, float(cal["cvr"]), cfg.cvr_sigma, n), np.float32(0.5))
    prices = np.asarray(cal["taobao_prices_cny"], dtype=np.float64)
    base = float(prices[rng.integers(len(prices))]) * 1e6
    price_f = _lognormal_mean(rng, base, cfg.price_sigma, n)
    price = np.maximum(1, np.round(price_f)).astype(np.int64)
    ctr_hat = np.minimum(ctr * _lognormal_mean(rng, 1.0, cfg.est_sigma, n), np.float32(1.0))
    cvr_hat = _lognormal_mean(rng, 1.0, cfg.est_sigma, n)
    cvr_hat *= cvr
    pctcvr = ctr * cvr
    value_true = pctcvr * price_f
    value_est = ctr_hat * cvr_hat
    value_est *= price_f
    curve = 1.0 + cfg.intraday_amplitude * np.sin(
        2 * np.pi * (np.arange(cfg.ticks) + 0.5) / cfg.ticks + phase
    )
    level = np.repeat((market_level * curve).astype(np.float32), counts)
    market = _lognormal_mean(rng, 1.0, cfg.market_sigma, n)
    market *= level
    market *= value_true
    cpc = np.maximum(1, np.ceil(market / ctr_hat)).astype(np.int64)
    u = rng.random(n, dtype=np.float32)
    return DayTraffic(
        offsets=offsets,
        value_true=value_true,
        value_est=value_est,
        market=market,
        cpc=cpc,
        cost_exp=(ctr * cpc).astype(np.float32),
        click=u < ctr,
        order=u < pctcvr,
        price=price,
        order_prob=pctcvr,
    )


def make_campaigns(seed: int, cfg: EnvConfig) -> list[tuple[CampaignSpec, DayTraffic]]:
    """The campaigns of one seed, targets spread from easy to hard, budgets binding or not.

    Campaign ``i`` gets target ``target_rois[i mod len]`` (rotated by the seed) and a budget of
    ``budget_factor × the hindsight oracle's spend at that target with no budget``.
    """
    root = np.random.SeedSequence(seed)
    rng = np.random.default_rng(root)
    phase = float(rng.uniform(0, 2 * np.pi))
    out = []
    n_t, n_b = len(cfg.target_rois), len(cfg.budget_factors)
    for i, child in enumerate(root.spawn(cfg.campaigns_per_seed)):
        crng = np.random.default_rng(child)
        level = cfg.market_level * math.exp(cfg.market_level_sigma * crng.standard_normal())
        traffic = make_traffic(crng, cfg, level, phase)
        target = cfg.target_rois[(i + seed) % n_t]
        factor = cfg.budget_factors[(i * 3 + seed) % n_b]
        # the budget scale only needs to be roughly right: a fixed 1-in-5 subsample of the day is enough
        sub = slice(None, None, 5)
        free = hindsight_oracle(traffic.value_true[sub], traffic.cost_exp[sub], None, target)
        budget = max(1_000_000, int(round(factor * free.spend * 5)))
        spec = CampaignSpec(f"s{seed}c{i}", target, budget, factor, level)
        out.append((spec, traffic))
    return out


def _resolve(tr: DayTraffic, idx: IntArray) -> tuple[int, int, int, int]:
    clicked = idx[tr.click[idx]]
    ordered = idx[tr.order[idx]]
    return int(tr.cpc[clicked].sum()), int(tr.price[ordered].sum()), len(clicked), len(ordered)


def simulate_day(
    traffic: DayTraffic,
    spec: CampaignSpec,
    bidder: Bidder,
    cfg: EnvConfig,
    on_tick: Callable[[int, CampaignState], None] | None = None,
) -> DayResult:
    """Run one bidder through one campaign-day. ``on_tick(t, state)`` sees each tick's state (for logging)."""
    T = traffic.ticks
    res = DayResult(
        spend=np.zeros(T, np.int64),
        gmv=np.zeros(T, np.int64),
        clicks=np.zeros(T, np.int64),
        orders=np.zeros(T, np.int64),
        impressions=np.zeros(T, np.int64),
        gmv_expected=np.zeros(T),
        cost_expected=np.zeros(T),
        multiplier=np.zeros(T),
    )
    # the platform's traffic forecast (the calibrated hourly curve, not this day's noisy draw)
    share = _tick_shares(T)
    forecast_left = np.concatenate([np.cumsum(share[::-1])[::-1], [0.0]]).clip(0.0, 1.0)
    day_guard = BudgetGuard(spec.budget_micros)
    run = RunningTotals()
    max_exposure = 0
    for t in range(T):
        lo, hi = int(traffic.offsets[t]), int(traffic.offsets[t + 1])
        state = CampaignState(
            budget_micros=spec.budget_micros,
            spent_micros=run.spend,
            in_flight_micros=0,
            gmv_micros=run.gmv,
            target_roi=spec.target_roi,
            time_left_frac=(T - t) / T,
            ticks_left=T - t,
            clicks=run.clicks,
            orders=run.orders,
            traffic_left_frac=float(forecast_left[t]),
        )
        if on_tick is not None:
            on_tick(t, state)
        values = traffic.value_est[lo:hi]
        m = res.multiplier[t] = bidder.multiplier(state)
        # the multiplier form (the default ``bid``) is used directly: one multiplier call per tick
        bids = values * np.float32(m) if type(bidder).bid is Bidder.bid else bidder.bid(state, values)
        if spec.budget_micros - run.spend <= 0:
            bids = np.zeros_like(values)
        # the bidder's within-tick spend-rate guard narrows the hard cap for this tick
        cap = min(spec.budget_micros, run.spend + max(0, bidder.tick_cap(state)))
        guard = BudgetGuard(cap) if cap < spec.budget_micros else day_guard
        room = guard.max_cpc(run.spend, 0)
        won = np.flatnonzero((bids > traffic.market[lo:hi]) & (traffic.cpc[lo:hi] <= room)) + lo
        exposure = int(traffic.cpc[won].sum())
        if exposure <= room:  # the whole tick fits even if every slot is clicked
            max_exposure = max(max_exposure, run.spend + exposure)
            idx = won
        else:  # admit sub-batch by sub-batch; each sub-batch's clicks resolve before the next
            parts = []
            spent = run.spend
            bounds = np.linspace(lo, hi, cfg.substeps + 1).astype(np.int64)
            for a, b in zip(bounds[:-1], bounds[1:], strict=True):
                part = won[(won >= a) & (won < b)]
                part = part[traffic.cpc[part] <= guard.max_cpc(spent, 0)]
                ok = part[guard.admit(traffic.cpc[part], spent, 0)]
                max_exposure = max(max_exposure, spent + int(traffic.cpc[ok].sum()))
                parts.append(ok)
                spent += _resolve(traffic, ok)[0]
            idx = np.concatenate(parts)
        sp, gm, ck, od = _resolve(traffic, idx)
        res.spend[t], res.gmv[t], res.clicks[t], res.orders[t] = sp, gm, ck, od
        res.impressions[t] = len(idx)
        res.gmv_expected[t] = float(traffic.value_true[idx].sum(dtype=np.float64))
        res.cost_expected[t] = float(traffic.cost_exp[idx].sum(dtype=np.float64))
        outcome = TickOutcome(
            impressions=len(idx),
            clicks=ck,
            orders=od,
            spend_micros=sp,
            gmv_micros=gm,
            value_won=float(traffic.value_est[idx].sum(dtype=np.float64)),
            candidates=hi - lo,
            value_offered=float(values.sum(dtype=np.float64)),
        )
        run.add(outcome)
        bidder.observe(outcome)
    res.max_exposure = max_exposure
    return res


# ------------------------------------------------------------------------------------------ calibration


def _hourly_share_jst(timestamps: Sequence[str]) -> list[float]:
    import pandas as pd

    hours = (pd.to_datetime(pd.Series(list(timestamps)), utc=True).dt.hour + 9) % 24
    counts = np.bincount(hours.to_numpy(), minlength=24).astype(np.float64)
    return [round(float(v), 5) for v in counts / counts.sum()]


def build_bidding_calibration(shared_data: Path) -> dict[str, object]:
    """Offline: measure the few statistics the environment needs from the shared real datasets.

    ``python -m sitewide.simulator.bidding_env /work/shared/data`` rewrites ``data/bidding_calibration.json``.
    """
    import pandas as pd

    tb = pd.read_csv(shared_data / "taobao_display_ad_sample" / "taobao_train_sample.csv")
    obd = [
        pd.read_csv(shared_data / "open_bandit_dataset" / k / "all.csv", index_col=0, usecols=[0, 1])
        for k in ("random", "bts")
    ]
    ts = pd.concat([o["timestamp"] for o in obd])
    return {
        "sources": {
            "taobao_prices_cny": "taobao_display_ad_sample/taobao_train_sample.csv column price (reczoo/FuxiCTR)",
            "ctr": "taobao_display_ad_sample/taobao_train_sample.csv mean of clk (4 / 100)",
            "cvr": "ESMM paper Table 1 full Ali-CCP CVR, quoted in ali_ccp_sample/PROVENANCE.md",
            "open_bandit_hourly_share_jst": "open_bandit_dataset/{random,bts}/all.csv timestamps, hour in UTC+9",
        },
        "ctr": round(float(tb["clk"].mean()), 6),
        "cvr": 0.0053,
        "taobao_prices_cny": sorted(float(p) for p in tb["price"]),
        "open_bandit_hourly_share_jst": _hourly_share_jst(ts.tolist()),
    }


if __name__ == "__main__":  # pragma: no cover - offline data build
    import sys

    out = Path(__file__).resolve().parents[1] / "data" / "bidding_calibration.json"
    out.write_text(json.dumps(build_bidding_calibration(Path(sys.argv[1])), indent=1) + "\n")
    print(f"wrote {out}")
