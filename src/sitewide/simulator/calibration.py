"""Calibration report: the simulated world's rates and distributions next to the real datasets' statistics.

Simulated rates are *expected* values under the calibration's reference policies (search: random products of
the query's category; feed: uniformly random products, as in Open Bandit's random policy), computed from the
true probabilities on a fresh sample of requests — so they carry no Bernoulli noise, only sampling noise of
users and slates. Rows with a tolerance are checked; rows without one are shown for context.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from rich.table import Table

from sitewide.simulator.config import SimConfig
from sitewide.simulator.metrics import SimResult
from sitewide.simulator.world import FEED, SEARCH, World, build_world, calibration_targets

QUANTILES = {"p10": 0.10, "p25": 0.25, "p50": 0.50, "p75": 0.75, "p90": 0.90}


@dataclass(frozen=True, slots=True)
class CalibrationRow:
    metric: str
    dataset: str
    real: float
    simulated: float
    tolerance: float | None  # relative (|sim − real| ≤ tol·real) or None = context only

    @property
    def ok(self) -> bool | None:
        if self.tolerance is None:
            return None
        return abs(self.simulated - self.real) <= self.tolerance * abs(self.real)


def _expected_rates(world: World, n: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng([seed, 99])
    humans = np.flatnonzero(~world.users.is_bot)
    w = world.users.activity[humans]
    users = humans[rng.choice(len(humans), size=n, p=w / w.sum())]
    intent, _ = world.sample_intent(users, rng)
    ex = world.exam[None, :]
    out: dict[str, Any] = {}
    clicks_total = orders_total = 0.0
    order_w: list[np.ndarray] = []
    order_v: list[np.ndarray] = []
    share = {SEARCH: world.config.search_share, FEED: 1.0 - world.config.search_share}
    for kind, name in ((SEARCH, "search"), (FEED, "feed")):
        kinds = np.full(n, kind, dtype=np.int64)
        lists = world.reference_lists(users, kinds, intent, rng)
        it = intent[:, None] if kind == SEARCH else None
        p_click = ex * world.true_pctr(users[:, None], lists, kind, it)
        p_order = p_click * world.true_pcvr(users[:, None], lists)
        out[f"ctr_{name}"] = float(p_click.mean())
        out[f"cvr_{name}"] = float(p_order.sum() / p_click.sum())
        clicks_total += share[kind] * float(p_click.sum())
        orders_total += share[kind] * float(p_order.sum())
        prices = world.products.price_micros[lists].astype(np.float64) / 1e6
        order_w.append(p_order.ravel())
        order_v.append(prices.ravel())
        if kind == SEARCH:
            out["ctcvr_search"] = float(p_order.mean())
            out["ctr_by_position_search"] = p_click.mean(axis=0).tolist()
    out["cvr"] = orders_total / clicks_total
    v, wts = np.concatenate(order_v), np.concatenate(order_w)
    order = np.argsort(v)
    cum = np.cumsum(wts[order]) / wts.sum()
    out["order_value_usd"] = {k: float(v[order][np.searchsorted(cum, q)]) for k, q in QUANTILES.items()}
    # category mix of search intents vs the catalogue's
    counts = np.bincount(intent, minlength=len(world.products.category_names)) / n
    out["intent_mix"] = counts.tolist()
    return out


def calibration_rows(
    config: SimConfig | None = None, n_requests: int = 20_000, result: SimResult | None = None
) -> list[CalibrationRow]:
    """Simulated vs real, one row per statistic (the dict/list form of :func:`calibration_report`).
    With ``result``, the realised rates of that run (under its engine's ranking) are added as context rows."""
    cfg = config or SimConfig(users=5_000, merchants=50, seed=0)
    real = calibration_targets()
    world = build_world(cfg)
    rates = _expected_rates(world, n_requests, cfg.seed)
    ali, tb, obd = real["ali_ccp_esmm"], real["taobao_display_ad"], real["open_bandit_random"]
    rows = [
        CalibrationRow("CTR search", "Ali-CCP (ESMM full data)", ali["ctr"], rates["ctr_search"], 0.10),
        CalibrationRow("CTR search", "Taobao display-ad sample", tb["ctr"], rates["ctr_search"], 0.10),
        CalibrationRow("CTR feed (random policy)", "Open Bandit random", obd["ctr"], rates["ctr_feed"], 0.10),
        CalibrationRow(
            "CTR feed (random policy)",
            "Open Bandit BTS",
            real["open_bandit_bts"]["ctr"],
            rates["ctr_feed"],
            None,
        ),
        CalibrationRow("CVR (orders / clicks)", "Ali-CCP (ESMM full data)", ali["cvr"], rates["cvr"], 0.10),
        CalibrationRow("CTCVR search", "Ali-CCP (ESMM full data)", ali["ctcvr"], rates["ctcvr_search"], None),
    ]
    prices = world.products.price_micros / 1e6
    for source, key, tolerance in (
        ("Walmart", "walmart_price_usd", 0.15),
        ("Amazon", "amazon_price_usd", None),
    ):
        for k, q in QUANTILES.items():
            rows.append(
                CalibrationRow(
                    f"price {k} (USD)",
                    source,
                    real["walmart_amazon"][key][k],
                    float(np.quantile(prices, q)),
                    tolerance,
                )
            )
    tworld = build_world(cfg.with_(price_source="taobao"))
    tprices = tworld.products.price_micros / 1e6
    for k, q in QUANTILES.items():
        rows.append(
            CalibrationRow(
                f"price {k} (CNY)",
                "Taobao display-ad sample",
                tb["price_cny"][k],
                float(np.quantile(tprices, q)),
                0.15,
            )
        )
    pop = np.bincount(world.products.category, minlength=len(world.products.category_names))
    pop = pop / pop.sum()
    mix = np.asarray(rates["intent_mix"])
    for c in np.argsort(-pop)[:3]:
        name = world.products.category_names[int(c)]
        rows.append(
            CalibrationRow(
                f"share '{name}'", "Walmart/Amazon catalogue mix", float(pop[c]), float(mix[c]), 0.25
            )
        )
    cd = real["cdnow"]["order_value_usd"]
    for k in ("p25", "p50", "p75"):
        rows.append(
            CalibrationRow(
                f"order value {k} (USD, 1 item)",
                "CDNOW (CDs, not electronics)",
                cd[k],
                rates["order_value_usd"][k],
                None,
            )
        )
    if result is not None:
        s = result.summary()
        t = result.ticks
        search_ctr = float(t["search_clicks"].sum()) / max(float(t["search_impressions"].sum()), 1.0)
        rows.append(
            CalibrationRow(
                "CTR search, realised in run", "Ali-CCP (ESMM full data)", ali["ctr"], search_ctr, None
            )
        )
        rows.append(
            CalibrationRow(
                "CTR human, realised in run", "Ali-CCP (ESMM full data)", ali["ctr"], s["human_ctr"], None
            )
        )
        rows.append(
            CalibrationRow("CVR, realised in run", "Ali-CCP (ESMM full data)", ali["cvr"], s["cvr"], None)
        )
    return rows


def calibration_dict(
    config: SimConfig | None = None, n_requests: int = 20_000, result: SimResult | None = None
) -> dict[str, Any]:
    rows = calibration_rows(config, n_requests, result)
    return {
        "rows": [
            {
                "metric": r.metric,
                "dataset": r.dataset,
                "real": r.real,
                "simulated": r.simulated,
                "tolerance": r.tolerance,
                "ok": r.ok,
            }
            for r in rows
        ],
        "all_ok": all(r.ok is not False for r in rows),
    }


def _fmt(metric: str, v: float) -> str:
    if metric.startswith(("CTR", "CVR", "CTCVR", "share")):
        return f"{100 * v:.3f} %"
    return f"{v:,.2f}"


def calibration_report(
    config: SimConfig | None = None, n_requests: int = 20_000, result: SimResult | None = None
) -> Table:
    """Rich table: simulated vs real side by side, with the tolerance and a pass mark (``result``: add the
    realised rates of a run)."""
    t = Table(title="simulator calibration: simulated vs real")
    for col, just in (
        ("metric", "left"),
        ("real dataset", "left"),
        ("real", "right"),
        ("simulated", "right"),
        ("tolerance", "right"),
        ("", "center"),
    ):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for r in calibration_rows(config, n_requests, result):
        tol = "context" if r.tolerance is None else f"±{100 * r.tolerance:.0f} %"
        mark = "" if r.ok is None else ("[green]ok[/]" if r.ok else "[red]off[/]")
        t.add_row(r.metric, r.dataset, _fmt(r.metric, r.real), _fmt(r.metric, r.simulated), tol, mark)
    return t
