"""Build the packaged fixtures (``sitewide/data/catalogue.csv``, ``sim_*``) from the shared real datasets.

Run once by a developer (``python scripts/build_sim_fixtures.py /work/shared/data``); the package never reads
the shared folder at run time. Every step is deterministic, so re-running reproduces the files byte for byte.
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from sitewide.domain.types import ValidationError

CATALOGUE_SIZE = 2000
CATALOGUE_SEED = 20260101


def build_catalogue(
    shared_data: Path, size: int = CATALOGUE_SIZE, seed: int = CATALOGUE_SEED
) -> pd.DataFrame:
    """Real priced products: every positively priced Walmart record, topped up with a seeded sample of
    categorised, priced Amazon records (distinct titles), ids ``p0001``… in a stable order."""
    src = shared_data / "walmart_amazon_matching" / "products_derived.csv"
    if not src.exists():
        raise ValidationError(f"missing {src}")
    df = pd.read_csv(src, dtype=str, keep_default_na=False)
    df["price_dec"] = df["price"].map(lambda s: Decimal(s) if s.strip() else Decimal(0))
    df = df[(df["price_dec"] > 0) & (df["title"].str.strip() != "") & (df["category"].str.strip() != "")]
    df = df.drop_duplicates(subset=["title"], keep="first")
    walmart = df[df["source"] == "walmart"]
    amazon = df[(df["source"] == "amazon") & ~df["title"].isin(walmart["title"])]
    rng = np.random.default_rng(seed)
    n_amazon = max(0, min(len(amazon), size - len(walmart)))
    picked = amazon.iloc[np.sort(rng.choice(len(amazon), size=n_amazon, replace=False))]
    out = pd.concat([walmart.head(size), picked], ignore_index=True).head(size)
    out = out.sort_values(["source", "category", "title"], kind="stable").reset_index(drop=True)
    return pd.DataFrame(
        {
            "product_id": [f"p{i + 1:04d}" for i in range(len(out))],
            "title": out["title"].str.strip(),
            "category": out["category"].str.strip(),
            "brand": out["brand"].str.strip(),
            "price_micros": [int(p * 1_000_000) for p in out["price_dec"]],
            "source": out["source"].map(lambda s: f"walmart_amazon_matching/{s}"),
        }
    )


def _quantiles(x: np.ndarray) -> dict[str, float]:
    qs = {"p10": 0.10, "p25": 0.25, "p50": 0.50, "p75": 0.75, "p90": 0.90}
    return {k: round(float(np.quantile(x, q)), 4) for k, q in qs.items()}


def _hourly_share(ts: pd.Series) -> list[float]:
    """Share of impressions per local hour (ZOZOTOWN is a Japanese shop: UTC → Asia/Tokyo, +9 h)."""
    hours = (pd.to_datetime(ts, utc=True).dt.hour + 9) % 24
    counts = np.bincount(hours.to_numpy(), minlength=24).astype(np.float64)
    return [round(float(v), 5) for v in counts / counts.sum()]


def build_calibration(shared_data: Path) -> dict[str, object]:
    """Measured statistics of the real datasets that the simulator is calibrated and judged against."""
    tb = pd.read_csv(shared_data / "taobao_display_ad_sample" / "taobao_train_sample.csv")
    obd_r = pd.read_csv(shared_data / "open_bandit_dataset" / "random" / "all.csv", index_col=0)
    obd_b = pd.read_csv(shared_data / "open_bandit_dataset" / "bts" / "all.csv", index_col=0)
    wa = pd.read_csv(shared_data / "walmart_amazon_matching" / "products_derived.csv", dtype={"price": str})
    wa["p"] = pd.to_numeric(wa["price"], errors="coerce")
    wal = wa[(wa["source"] == "walmart") & (wa["p"] > 0)]["p"].to_numpy()
    amz = wa[(wa["source"] == "amazon") & (wa["p"] > 0)]["p"].to_numpy()
    cd = pd.read_csv(
        shared_data / "cdnow_transactions" / "CDNOW_master.txt", sep=r"\s+", dtype={"customer_id": str}
    )
    cd["date"] = pd.to_datetime(cd["date"].astype(str), format="%Y%m%d")
    days = cd.drop_duplicates(["customer_id", "date"]).sort_values(["customer_id", "date"])
    gaps = days.groupby("customer_id")["date"].diff().dt.days.dropna().to_numpy()
    n_days = days.groupby("customer_id").size()
    return {
        "taobao_display_ad": {
            "source": "taobao_display_ad_sample/taobao_train_sample.csv (reczoo/FuxiCTR data/tiny_csv)",
            "impressions": int(len(tb)),
            "ctr": round(float(tb["clk"].mean()), 6),
            "price_cny": _quantiles(tb["price"].to_numpy()),
            "prices_cny_sorted": sorted(round(float(v), 2) for v in tb["price"]),
        },
        "ali_ccp_esmm": {
            "source": "ESMM paper (Ma et al., SIGIR 2018) Table 1, quoted in ali_ccp_sample/PROVENANCE.md",
            "ctr": 0.0405,
            "cvr": 0.0053,
            "ctcvr": 0.00021,
        },
        "open_bandit_random": {
            "source": "open_bandit_dataset/random/all.csv (obp 0.5.7, ZOZOTOWN, uniform random policy)",
            "impressions": int(len(obd_r)),
            "ctr": round(float(obd_r["click"].mean()), 6),
            "ctr_by_position": [round(float(v), 6) for v in obd_r.groupby("position")["click"].mean()],
        },
        "open_bandit_hourly_share_jst": _hourly_share(pd.concat([obd_r["timestamp"], obd_b["timestamp"]])),
        "open_bandit_bts": {
            "source": "open_bandit_dataset/bts/all.csv (Bernoulli Thompson sampling policy)",
            "impressions": int(len(obd_b)),
            "ctr": round(float(obd_b["click"].mean()), 6),
        },
        "walmart_amazon": {
            "source": "walmart_amazon_matching/products_derived.csv (positive prices, USD)",
            "walmart_price_usd": _quantiles(wal),
            "amazon_price_usd": _quantiles(amz),
        },
        "cdnow": {
            "source": "cdnow_transactions/CDNOW_master.txt (Lifetimes 0.11.3)",
            "order_value_usd": _quantiles(cd["dollar_value"].to_numpy()),
            "repeat_buyer_share": round(float((n_days > 1).mean()), 4),
            "gap_days": _quantiles(gaps),
            "purchase_days_per_customer_mean": round(float(n_days.mean()), 4),
        },
    }


def main(argv: list[str]) -> None:
    shared = Path(argv[1] if len(argv) > 1 else "/work/shared/data")
    dest = Path(__file__).resolve().parents[1] / "src" / "sitewide" / "data"
    cat = build_catalogue(shared)
    cat.to_csv(dest / "catalogue.csv", index=False)
    (dest / "sim_calibration.json").write_text(json.dumps(build_calibration(shared), indent=1) + "\n")
    print(f"catalogue.csv: {len(cat)} products, {cat['category'].nunique()} categories")


if __name__ == "__main__":
    main(sys.argv)
