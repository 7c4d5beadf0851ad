"""The operator's what-if view: run the same simulated market under several engine settings and compare.
A layer above both the simulator and the engine (it builds real engines through ``sitewide.wiring``), so that
the simulator itself reaches an engine only through the ``MarketEngine`` port.

:func:`sweep` runs the real engine in-process once per (setting, seed). For a seed the world (users,
merchants, products, campaigns, the hidden utility) is built once and shared by every setting, and the story's
random stream starts from the same seed, so settings are compared on common random numbers: the same users
with the same tastes arrive with the same intents; only the engine's answers (and what they cause) differ.

Each row holds what the operator trades off:

* ad revenue — the settled campaign spend (what the ledger charged), compensation paid under the ROI guarantee
  and the net of the two;
* GMV — organic and promoted (realised purchases in the world);
* user relevance — NDCG@slots of the served slates under the true click probabilities (the world's utility);
* CTR, CVR, refunds, and how many campaigns met their target ROI;
* where impressions went: the share to shops whose experience score is below neutral (the score demotes
  them), the mean hidden product quality and shop quality of what was shown, and the refund probability of
  what was bought (known to the world, not to the engine).

:func:`frontier_chart` draws the frontier (ad revenue against GMV and against NDCG, one line per reserve,
one point per α) as a self-contained Plotly HTML file (``plotly.js`` inlined, no CDN).

    from sitewide.simulator import SimConfig
    from sitewide.whatif import alpha_reserve_grid, frontier_chart, sweep

    df = sweep(SimConfig(users=1_000, products=500), alpha_reserve_grid([0, 1, 4], [10_000, 200_000]), [0, 1])
    frontier_chart(df, "artifacts/frontier.html")
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sitewide.domain.types import Event, EventKind, ValidationError
from sitewide.engine import EngineConfig
from sitewide.ports import EventReceipt, MarketEngine, RequestBatch, ServedBatch
from sitewide.simulator.config import SimConfig
from sitewide.simulator.metrics import SimResult
from sitewide.simulator.relay import MarketRelay
from sitewide.simulator.story import Story, check_engine
from sitewide.simulator.world import World, build_world
from sitewide.wiring import world_engine

__all__ = [
    "Setting",
    "alpha_reserve_grid",
    "apply_changes",
    "compare",
    "frontier_chart",
    "parse_changes",
    "run_setting",
    "summarise",
    "sweep",
]

MICROS = 1_000_000


@dataclass(frozen=True)
class Setting:
    """One operator setting: a label and changes to the base :class:`~sitewide.engine.EngineConfig`. Keys are
    ``EngineConfig`` fields (``gmv_weight``, ``use_eligibility``, ``use_shop_score``, …) or
    :class:`~sitewide.domain.auction.AuctionConfig` fields (``alpha``, ``reserve_cpc_micros``,
    ``max_ad_share``, ``min_ad_spacing``, ``mechanism``), which go to the auction."""

    label: str
    changes: Mapping[str, Any] = field(default_factory=dict)

    def engine_config(self, base: EngineConfig | None = None) -> EngineConfig:
        return apply_changes(base or EngineConfig(), self.changes)


GUARANTEE_KEYS = ("trigger_roi_factor", "min_orders", "window_days", "cap_ratio_of_spend")


def apply_changes(base: EngineConfig, changes: Mapping[str, Any]) -> EngineConfig:
    """``base`` with ``changes`` applied. Keys are ``EngineConfig`` fields, or are routed: auction fields into
    ``base.auction``; eligibility thresholds (``min_rating``, ``max_return_rate``, ``shop_score_floor``, …) into
    ``base.eligibility_policy``; the guarantee's ``trigger_roi_factor``, ``min_orders``, ``window_days`` and
    ``cap_ratio_of_spend`` into the settlement policy's default contract. Unknown keys raise."""
    engine_fields = {f.name for f in fields(base)}
    auction_fields = {f.name for f in fields(base.auction)}
    pool_fields = {f.name for f in fields(base.eligibility_policy)} - {"version"}
    top = {k: v for k, v in changes.items() if k in engine_fields}
    auc = {k: v for k, v in changes.items() if k in auction_fields and k not in engine_fields}
    pool = {k: v for k, v in changes.items() if k in pool_fields and k not in top and k not in auc}
    guar = {k: v for k, v in changes.items() if k in GUARANTEE_KEYS}
    unknown = sorted(set(changes) - set(top) - set(auc) - set(pool) - set(guar))
    if unknown:
        raise ValidationError(f"unknown engine setting(s): {', '.join(unknown)}")
    cfg = replace(base, **top) if top else base
    if auc:
        cfg = replace(cfg, auction=replace(cfg.auction, **auc))
    if pool:
        cfg = replace(cfg, eligibility_policy=replace(cfg.eligibility_policy, version="what-if", **pool))
    if guar:
        policy = cfg.settlement_policy()
        terms: dict[str, Any] = {
            k: Decimal(str(v)) if k in ("trigger_roi_factor", "cap_ratio_of_spend") else int(v)
            for k, v in guar.items()
        }
        contract = replace(policy.default_contract, **terms)
        cfg = replace(cfg, settlement=replace(policy, default_contract=contract))
    return cfg


def compare(
    base: SimConfig,
    changes: Mapping[str, Any],
    seeds: Sequence[int] = (0,),
    *,
    engine_base: EngineConfig | None = None,
    runner: Callable[..., pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """The operator's what-if: the same simulated day(s) under the current policy and under ``changes``, side
    by side on common random numbers (mean over ``seeds``), with the change of each figure (``changed −
    current``). Rows: ad revenue, compensation, GMV, NDCG, CTR, merchants' ROI attainment, … ``runner`` runs
    the sweep (:func:`sweep`'s arguments and rows; default :func:`sweep`, here; ``whatif_jobs.ray_sweep``)."""
    label = ", ".join(f"{k}={v}" for k, v in changes.items()) or "no change"
    settings = [Setting("current", {}), Setting(label, dict(changes))]
    df = summarise((runner or sweep)(base, settings, seeds, engine_base=engine_base))
    keep = [
        c
        for c in df.columns
        if c not in ("setting", "seeds") and not c.endswith("_sd") and pd.api.types.is_numeric_dtype(df[c])
    ]
    out = df.set_index("setting")[keep].T
    out.columns = ["current", "changed"]
    out["change"] = out["changed"] - out["current"]
    return out


def parse_changes(items: Sequence[str]) -> dict[str, Any]:
    """``["alpha=2", "use_shop_score=false", "mechanism=vcg"]`` → ``{"alpha": 2, …}``: each value read as a
    boolean (true/false), an integer, a number, else text; the keys are checked when the setting is applied
    (:func:`apply_changes`). A malformed item raises ``ValidationError``."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key, text = key.strip(), text.strip()
        if not sep or not key or not text:
            raise ValidationError(f"a change is KEY=VALUE, got {item!r}")
        value: Any = text
        if text.lower() in ("true", "false"):
            value = text.lower() == "true"
        else:
            for kind in (int, float):
                try:
                    value = kind(text)
                    break
                except ValueError:
                    continue
        out[key] = value
    apply_changes(EngineConfig(), out)  # unknown keys fail here, before any market runs
    return out


def alpha_reserve_grid(alphas: Sequence[float], reserves: Mapping[str, int] | Sequence[int]) -> list[Setting]:
    """The α × reserve grid, reserve-major. ``reserves`` may name its levels (``{"low": 10_000, …}``)."""
    named = dict(reserves) if isinstance(reserves, Mapping) else {f"{int(r):d}": int(r) for r in reserves}
    return [
        Setting(f"alpha={a:g} reserve={name}", {"alpha": float(a), "reserve_cpc_micros": int(r)})
        for name, r in named.items()
        for a in alphas
    ]


class _Recorder(MarketRelay[MarketEngine]):
    """A :class:`~sitewide.ports.MarketEngine` that passes everything through and counts, per catalogue row,
    what was shown (and promoted) and ordered — the world-side view that the story's totals lack."""

    def __init__(self, engine: MarketEngine) -> None:
        super().__init__(engine)
        ids = list(engine.catalogue_ids())
        self.row = {pid: i for i, pid in enumerate(ids)}
        n = len(ids)
        self.impressions = np.zeros(n, dtype=np.int64)
        self.promoted = np.zeros(n, dtype=np.int64)
        self.orders = np.zeros(n, dtype=np.int64)
        self.click_users: list[str] = []
        self.click_rows: list[int] = []
        self.click_promoted: list[bool] = []

    def __getattr__(self, name: str) -> Any:  # settle, add_campaign, update_campaign, shop_score, …
        return getattr(self.engine, name)

    def serve_batch(self, batch: RequestBatch) -> ServedBatch:
        out = self.engine.serve_batch(batch)
        idx = np.asarray(out.product_idx, dtype=np.int64)[:, : batch.slots]
        shown = idx >= 0
        n = len(self.impressions)
        self.impressions += np.bincount(idx[shown], minlength=n)
        promo = shown & np.asarray(out.promoted, dtype=bool)[:, : batch.slots]
        self.promoted += np.bincount(idx[promo], minlength=n)
        return out

    def record_events(self, events: Sequence[Event]) -> EventReceipt:
        receipt = self.engine.record_events(events)
        # count each event once: only those the engine stored (an engine that does not list them: all)
        listed = len(receipt.inserted_ids) == receipt.inserted
        fresh = set(receipt.inserted_ids) if listed else {e.id for e in events}
        for e in events:
            r = self.row.get(e.product_id)
            if r is None or e.id not in fresh:
                continue
            if e.kind is EventKind.ORDER:
                self.orders[r] += 1
            elif e.kind is EventKind.CLICK:
                self.click_users.append(e.user_id)
                self.click_rows.append(r)
                self.click_promoted.append(e.campaign_id is not None)
        return receipt


def _share(part: float, whole: float) -> float:
    return float(part) / float(whole) if whole else float("nan")


def _row(setting: Setting, cfg: EngineConfig, world: World, rec: _Recorder, res: SimResult) -> dict[str, Any]:
    s = res.summary()
    pc = res.per_campaign()
    auc = cfg.auction
    spend = int(s["campaign_spend_micros"])
    comp = int(s["campaign_compensation_micros"])
    row: dict[str, Any] = {
        "setting": setting.label,
        "seed": int(world.config.seed),
        "alpha": float(auc.alpha),
        "reserve_cpc_micros": int(auc.reserve_cpc_micros),
        "max_ad_share": float(auc.max_ad_share),
        "mechanism": auc.mechanism,
        "gmv_weight": float(cfg.gmv_weight),
        "use_eligibility": bool(cfg.use_eligibility),
        "use_shop_score": bool(cfg.use_shop_score),
        "requests": int(s["requests"]),
        "impressions": int(s["impressions"]),
        "promoted_impressions": int(s["promoted_impressions"]),
        "promoted_share": _share(s["promoted_impressions"], s["impressions"]),
        "clicks": int(s["clicks"]),
        "promoted_clicks": int(s["promoted_clicks"]),
        "ctr": float(s["human_ctr"]),
        "cvr": float(s["cvr"]),
        "purchases": int(s["purchases"]),
        "gmv_micros": int(s["gmv_micros"]),
        "gmv_organic_micros": int(s["gmv_organic_micros"]),
        "gmv_promoted_micros": int(s["gmv_promoted_micros"]),
        "ad_revenue_micros": spend,  # settled spend: what the ledger charged the campaigns
        "clicked_cpc_micros": int(
            s["ad_revenue_micros"]
        ),  # the story's sum of clicked prices (a cross-check)
        "compensation_micros": comp,
        "net_ad_revenue_micros": spend - comp,
        "ndcg": float(s["ndcg"]),
        "refunds": int(s["refunds_sent"]),
        "refund_micros": int(s["refund_micros"]),
    }
    spent = pc[pc["spend_micros"] > 0] if len(pc) else pc
    met = int((spent["roi"] >= spent["target_roi"].astype(float)).sum()) if len(spent) else 0
    row["campaigns"] = len(world.campaigns)
    row["campaigns_with_spend"] = len(spent)
    row["campaigns_meeting_roi"] = met
    row["campaigns_meeting_roi_share"] = _share(met, len(spent))
    # the world's view of what was shown: map the engine's catalogue rows to the world's products
    wi = {p.id: i for i, p in enumerate(world.product_list)}
    eng_ids = list(rec.catalogue_ids())
    to_world = np.asarray([wi.get(pid, -1) for pid in eng_ids], dtype=np.int64)
    known = to_world >= 0
    imp = np.where(known, rec.impressions, 0).astype(np.float64)
    prom = np.where(known, rec.promoted, 0).astype(np.float64)
    orders = np.where(known, rec.orders, 0).astype(np.float64)
    tw = np.maximum(to_world, 0)
    quality = world.products.quality[tw]
    shop_q = world.shop_quality_of_product[tw]
    refund_p = world.refund_prob_of_product[tw]
    # expected GMV of the clicks (true pCVR × price × mean quantity; humans only): the same quantity as the
    # realised GMV without the purchase draw, whose noise dominates small markets
    uix = {u: i for i, u in enumerate(world.users.ids)}
    cu = np.asarray([uix.get(u, -1) for u in rec.click_users], dtype=np.int64)
    cp = to_world[np.asarray(rec.click_rows, dtype=np.int64)] if rec.click_rows else np.zeros(0, np.int64)
    cprom = np.asarray(rec.click_promoted, dtype=bool)
    ok = (cu >= 0) & (cp >= 0)
    ok[ok] &= ~world.users.is_bot[cu[ok]]
    egmv = np.zeros(len(cu))
    if ok.any():
        qty = 1.0 + world.config.extra_quantity_mean
        egmv[ok] = world.true_pcvr(cu[ok], cp[ok]) * world.products.price_micros[cp[ok]] * qty
    row["expected_gmv_micros"] = float(egmv.sum())
    row["expected_gmv_promoted_micros"] = float(egmv[cprom].sum())
    row["expected_gmv_organic_micros"] = float(egmv[~cprom].sum())
    low = _low_score_products(rec, world, tw)
    row["low_score_shop_impression_share"] = _share(float(imp[low].sum()), float(imp.sum()))
    row["low_score_shop_promoted_share"] = _share(float(prom[low].sum()), float(prom.sum()))
    row["shown_product_quality"] = _share(float((imp * quality).sum()), float(imp.sum()))
    row["promoted_product_quality"] = _share(float((prom * quality).sum()), float(prom.sum()))
    row["shown_shop_quality"] = _share(float((imp * shop_q).sum()), float(imp.sum()))
    row["expected_refund_rate"] = _share(float((orders * refund_p).sum()), float(orders.sum()))
    return row


def _low_score_products(rec: _Recorder, world: World, tw: np.ndarray) -> np.ndarray:
    """Per engine catalogue row: does the product's shop score below the neutral score (multiplier < 1)?
    Uses the engine's own ``shop_score`` when it has one; otherwise none are low."""
    shop_score = getattr(rec.engine, "shop_score", None)
    cfg = getattr(getattr(rec.engine, "config", None), "shop_score_config", None)
    neutral = float(getattr(cfg, "neutral_score", 80.0))
    if shop_score is None:
        return np.zeros(len(tw), dtype=bool)
    low_shop = np.zeros(len(world.shops), dtype=bool)
    for i, shop in enumerate(world.shops):
        sc = shop_score(shop.id)
        low_shop[i] = sc is not None and float(sc.score) < neutral
    out: np.ndarray = low_shop[world.products.merchant[tw]]
    return out


def run_setting(
    world: World, setting: Setting, base: EngineConfig | None = None
) -> tuple[dict[str, Any], SimResult]:
    """One run of ``world`` under ``setting``: the real engine (in-memory store) and the story. The world is
    not changed, so the same world can be run under many settings."""
    cfg = setting.engine_config(base)
    rec = _Recorder(world_engine(world, cfg))
    check_engine(rec)
    res = Story(world, rec).run()
    return _row(setting, cfg, world, rec, res), res


def _as_setting(s: Setting | Mapping[str, Any], i: int) -> Setting:
    if isinstance(s, Setting):
        return s
    if isinstance(s, Mapping):
        label = ", ".join(f"{k}={v}" for k, v in s.items()) or f"setting {i}"
        return Setting(label, dict(s))
    raise ValidationError(f"a setting must be a Setting or a mapping of changes, got {type(s).__name__}")


def sweep(
    base: SimConfig,
    settings: Sequence[Setting | Mapping[str, Any]],
    seeds: Sequence[int] = (0,),
    *,
    engine_base: EngineConfig | None = None,
    on_run: Callable[[dict[str, Any]], None] | None = None,
) -> pd.DataFrame:
    """One row per (seed, setting): the market ``base`` with each seed, run under each setting on common random
    numbers (one world per seed, shared by all settings; the story's stream restarts from the seed).

    ``settings`` are :class:`Setting` or plain mappings of changes to ``engine_base`` (default
    ``EngineConfig()``). ``on_run`` is called with each row as it is produced (progress)."""
    if not settings:
        raise ValidationError("sweep needs at least one setting")
    if not seeds:
        raise ValidationError("sweep needs at least one seed")
    items = [_as_setting(s, i) for i, s in enumerate(settings)]
    labels = [s.label for s in items]
    if len(set(labels)) != len(labels):
        raise ValidationError("setting labels must be unique")
    rows: list[dict[str, Any]] = []
    for seed in seeds:
        world = build_world(base.with_(seed=int(seed)))
        for s in items:
            row, _ = run_setting(world, s, engine_base)
            rows.append(row)
            if on_run is not None:
                on_run(row)
    return pd.DataFrame(rows)


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds per setting (in the settings' order), with ``<metric>_sd`` for the main figures."""
    keys = ["setting"]
    order = list(dict.fromkeys(df["setting"]))
    num = [c for c in df.columns if c not in keys and c != "seed" and pd.api.types.is_numeric_dtype(df[c])]
    g = df.groupby("setting", sort=False)
    mean = g[num].mean()
    sd = g[["ad_revenue_micros", "gmv_micros", "expected_gmv_micros", "ndcg", "net_ad_revenue_micros"]].std(
        ddof=1
    )
    sd.columns = [f"{c}_sd" for c in sd.columns]
    other = g[[c for c in df.columns if c not in num and c not in keys and c != "seed"]].first()
    out = pd.concat([other, mean, sd], axis=1).loc[order].reset_index()
    out["seeds"] = g.size().loc[order].to_numpy()
    return out


def frontier_chart(df: pd.DataFrame, path: str | Path) -> list[Path]:
    """Write the frontier as a self-contained HTML file (``plotly.js`` inlined; opens offline) and, when
    ``kaleido`` happens to be installed, a PNG next to it. Returns the files written.

    Panels: ad revenue vs GMV, ad revenue vs NDCG (one line per reserve through α in increasing order, error
    bars = seed standard deviation), and against α: net ad revenue after compensation, and the share of
    campaigns with spend that met their target ROI."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    m = summarise(df)
    fig = make_subplots(
        rows=2,
        cols=2,
        subplot_titles=(
            "ad revenue vs GMV",
            "ad revenue vs user relevance (NDCG)",
            "net ad revenue (after compensation) vs α",
            "campaigns meeting target ROI vs α",
        ),
    )
    palette = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
    for k, (reserve, grp) in enumerate(m.groupby("reserve_cpc_micros", sort=True)):
        grp = grp.sort_values("alpha")
        color = palette[k % len(palette)]
        name = f"reserve {int(reserve) / MICROS:g}/click"
        text = [f"α={a:g}" for a in grp["alpha"]]
        rev = grp["ad_revenue_micros"] / MICROS
        rev_sd = grp["ad_revenue_micros_sd"].fillna(0.0) / MICROS
        common: dict[str, Any] = {
            "mode": "lines+markers+text",
            "text": text,
            "textposition": "top center",
            "line": {"color": color},
            "legendgroup": name,
        }
        fig.add_trace(
            go.Scatter(
                x=rev,
                y=grp["gmv_micros"] / MICROS,
                error_x={"type": "data", "array": rev_sd, "visible": True},
                error_y={"type": "data", "array": grp["gmv_micros_sd"].fillna(0.0) / MICROS, "visible": True},
                name=name,
                **common,
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=rev,
                y=grp["ndcg"],
                error_y={"type": "data", "array": grp["ndcg_sd"].fillna(0.0), "visible": True},
                name=name,
                showlegend=False,
                **common,
            ),
            row=1,
            col=2,
        )
        by_alpha = (grp["net_ad_revenue_micros"] / MICROS, grp["campaigns_meeting_roi_share"])
        for col, y in enumerate(by_alpha, 1):  # the two α panels: one trace shape, two measures
            fig.add_trace(
                go.Scatter(
                    x=grp["alpha"],
                    y=y,
                    mode="lines+markers",
                    line={"color": color},
                    legendgroup=name,
                    name=name,
                    showlegend=False,
                ),
                row=2,
                col=col,
            )
    fig.update_xaxes(title_text="ad revenue (settled spend)", row=1, col=1)
    fig.update_yaxes(title_text="GMV", row=1, col=1)
    fig.update_xaxes(title_text="ad revenue (settled spend)", row=1, col=2)
    fig.update_yaxes(title_text="NDCG@slots (true utility)", row=1, col=2)
    fig.update_xaxes(title_text="α", row=2, col=1)
    fig.update_yaxes(title_text="spend − compensation", row=2, col=1)
    fig.update_xaxes(title_text="α", row=2, col=2)
    fig.update_yaxes(title_text="share of campaigns with spend", range=[0, 1.05], row=2, col=2)
    seeds = sorted({int(s) for s in df["seed"]})
    fig.update_layout(
        title=f"Platform frontier: α × reserve, mean over seeds {seeds}",
        height=900,
        width=1300,
        template="plotly_white",
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(out, include_plotlyjs=True, full_html=True)
    written = [out]
    if importlib.util.find_spec("kaleido") is None:  # optional, never a dependency: the HTML is the chart
        return written
    png = out.with_suffix(".png")
    try:
        fig.write_image(png)
    except Exception:  # kaleido present but no usable browser/renderer: the HTML is the chart
        return written
    return [*written, png]
