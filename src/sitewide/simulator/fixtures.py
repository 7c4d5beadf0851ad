"""Build the packaged fixtures (``sitewide/data/catalogue.csv``, ``sim_*``) from the shared real datasets.

Run once by a developer (``python -m sitewide.simulator.fixtures /work/shared/data``); the package never reads
the shared folder at run time. Every step is deterministic, so re-running reproduces the files byte for byte.
"""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from sitewide.domain.types import ValidationError

CATALOGUE_SIZE = 2000
CATALOGUE_SEED = 20260101


def build_catalogue(shared_data: Path, size: int = CATALOGUE_SIZE, seed: int = CATALOGUE_SEED) -> pd.DataFrame:
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


def main(argv: list[str]) -> None:
    shared = Path(argv[1] if len(argv) > 1 else "/work/shared/data")
    dest = Path(__file__).resolve().parents[1] / "data"
    cat = build_catalogue(shared)
    cat.to_csv(dest / "catalogue.csv", index=False)
    print(f"catalogue.csv: {len(cat)} products, {cat['category'].nunique()} categories")


if __name__ == "__main__":
    main(sys.argv)
