"""Run metrics: per-tick time series, per-campaign-day settlement rows, totals; Parquet and a Rich table."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from rich.table import Table

from sitewide.domain.money import format_amount

TICK_COLUMNS = (
    "day",
    "tick",
    "ts_ms",
    "requests",
    "bot_requests",
    "search_requests",
    "impressions",
    "human_impressions",
    "search_impressions",
    "promoted_impressions",
    "clicks",
    "bot_clicks",
    "search_clicks",
    "promoted_clicks",
    "expected_clicks",
    "purchases",
    "gmv_organic_micros",
    "gmv_promoted_micros",
    "ad_revenue_micros",
    "orders_sent",
    "refunds_sent",
    "refund_micros",
    "stockouts",
    "ndcg_sum",
    "ndcg_n",
)

CAMPAIGN_COLUMNS = (
    "day",
    "campaign_id",
    "target_roi",
    "daily_budget_micros",
    "spend_micros",
    "gmv_micros",
    "compensation_micros",
    "roi",
    "budget_use",
    "true_clicks",
    "true_click_cost_micros",
    "true_gmv_micros",
)


@dataclass
class SimResult:
    """Everything a run measured. ``ticks`` and ``campaigns`` are the time series; money is integer micros."""

    config: dict[str, Any]
    ticks: pd.DataFrame
    campaigns: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)

    def days(self) -> pd.DataFrame:
        d = self.ticks.drop(columns=["tick", "ts_ms"]).groupby("day", as_index=False).sum()
        d["ctr"] = d["clicks"] / d["impressions"].where(d["impressions"] > 0)
        d["ndcg"] = d["ndcg_sum"] / d["ndcg_n"].where(d["ndcg_n"] > 0)
        return d

    def summary(self) -> dict[str, Any]:
        t = self.ticks
        tot: dict[str, Any] = {
            c: int(t[c].sum())
            for c in TICK_COLUMNS
            if c not in ("day", "tick", "ts_ms", "ndcg_sum", "expected_clicks")
        }
        tot["ndcg_sum"] = float(t["ndcg_sum"].sum())
        tot["expected_clicks"] = float(t["expected_clicks"].sum())
        imp = max(tot["impressions"], 1)
        human_clicks = tot["clicks"] - tot["bot_clicks"]
        out: dict[str, Any] = dict(tot)
        out["gmv_micros"] = tot["gmv_organic_micros"] + tot["gmv_promoted_micros"]
        out["ctr"] = tot["clicks"] / imp
        out["human_ctr"] = human_clicks / max(tot["human_impressions"], 1)
        out["cvr"] = tot["purchases"] / max(human_clicks, 1)
        out["invalid_click_share"] = tot["bot_clicks"] / max(tot["clicks"], 1)
        out["ndcg"] = tot["ndcg_sum"] / max(tot["ndcg_n"], 1)
        c = self.campaigns
        for col in ("spend_micros", "gmv_micros", "compensation_micros"):
            out[f"campaign_{col}"] = int(c[col].sum()) if len(c) else 0
        out["campaigns"] = int(c["campaign_id"].nunique()) if len(c) else 0
        return out

    def per_campaign(self) -> pd.DataFrame:
        """Totals per campaign over the run: spend, GMV, ROI vs target, budget use, compensation."""
        c = self.campaigns
        if not len(c):
            return pd.DataFrame(columns=list(CAMPAIGN_COLUMNS))
        money = [
            "daily_budget_micros",
            "spend_micros",
            "gmv_micros",
            "compensation_micros",
            "true_gmv_micros",
        ]
        g = c.groupby("campaign_id", as_index=False).agg(
            target_roi=("target_roi", "first"), days=("day", "nunique"), **{m: (m, "sum") for m in money}
        )
        g["roi"] = g["gmv_micros"] / g["spend_micros"].where(g["spend_micros"] > 0)
        g["budget_use"] = g["spend_micros"] / g["daily_budget_micros"].where(g["daily_budget_micros"] > 0)
        return g

    def save(self, directory: str | Path) -> Path:
        """Write ``ticks.parquet``, ``campaigns.parquet`` and ``summary.json`` under ``directory``."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.ticks.to_parquet(out / "ticks.parquet", index=False)
        self.campaigns.to_parquet(out / "campaigns.parquet", index=False)
        body = {"config": self.config, "summary": self.summary(), "info": self.info}
        (out / "summary.json").write_text(json.dumps(body, indent=1, default=str) + "\n", encoding="utf-8")
        return out

    @classmethod
    def load(cls, directory: str | Path) -> SimResult:
        d = Path(directory)
        body = json.loads((d / "summary.json").read_text(encoding="utf-8"))
        return cls(
            config=body["config"],
            ticks=pd.read_parquet(d / "ticks.parquet"),
            campaigns=pd.read_parquet(d / "campaigns.parquet"),
            info=body.get("info", {}),
        )


def _pct(x: float | None) -> str:
    return "—" if x is None or x != x else f"{100 * x:.2f} %"


def summary_table(result: SimResult) -> Table:
    """Headline figures and the per-campaign ROI-vs-target rows of one run."""
    s = result.summary()
    cfg = result.config
    t = Table(
        title=f"simulated market: {cfg.get('days')} d, {cfg.get('users')} users, seed {cfg.get('seed')}"
    )
    t.add_column("metric")
    t.add_column("value", justify="right")
    rows = [
        ("requests", f"{s['requests']:,}"),
        ("impressions (promoted)", f"{s['impressions']:,} ({s['promoted_impressions']:,})"),
        ("clicks (invalid share)", f"{s['clicks']:,} ({_pct(s['invalid_click_share'])})"),
        ("human CTR / CVR", f"{_pct(s['human_ctr'])} / {_pct(s['cvr'])}"),
        ("purchases / refunds sent", f"{s['purchases']:,} / {s['refunds_sent']:,}"),
        ("GMV organic", format_amount(s["gmv_organic_micros"])),
        ("GMV promoted", format_amount(s["gmv_promoted_micros"])),
        ("ad revenue (clicked CPC)", format_amount(s["ad_revenue_micros"])),
        ("campaign spend (settled)", format_amount(s["campaign_spend_micros"])),
        ("compensation paid", format_amount(s["campaign_compensation_micros"])),
        ("relevance NDCG@slots", f"{s['ndcg']:.3f}"),
    ]
    for k, v in rows:
        t.add_row(k, v)
    pc = result.per_campaign()
    for r in pc.head(12).itertuples(index=False):
        roi = "—" if r.roi != r.roi else f"{r.roi:.2f}"
        use = "—" if r.budget_use != r.budget_use else f"{100 * r.budget_use:.0f} %"
        t.add_row(
            f"campaign {r.campaign_id} (target {float(r.target_roi):.2f})",
            f"spend {format_amount(int(r.spend_micros))}, ROI {roi}, budget {use}, "
            f"comp {format_amount(int(r.compensation_micros))}",
        )
    if len(pc) > 12:
        t.add_row(f"… {len(pc) - 12} more campaigns", "")
    return t
