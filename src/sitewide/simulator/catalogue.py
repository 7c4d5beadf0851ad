"""The packaged real-product catalogue as a DataFrame (``sitewide/data/catalogue.csv``)."""

from __future__ import annotations

import io
from importlib import resources

import pandas as pd

from sitewide.domain.types import ValidationError

CATALOGUE_COLUMNS = ("product_id", "title", "category", "brand", "price_micros", "source")


def load_catalogue() -> pd.DataFrame:
    """Real priced products: ``product_id, title, category, brand, price_micros (int64), source``."""
    text = resources.files("sitewide").joinpath("data/catalogue.csv").read_text(encoding="utf-8")
    df = pd.read_csv(io.StringIO(text), dtype={"price_micros": "int64"}, keep_default_na=False)
    missing = [c for c in CATALOGUE_COLUMNS if c not in df.columns]
    if missing:
        raise ValidationError(f"catalogue.csv lacks columns {missing}")
    if (df["price_micros"] <= 0).any():
        raise ValidationError("catalogue.csv has non-positive prices")
    return df[list(CATALOGUE_COLUMNS)]
