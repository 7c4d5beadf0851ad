"""The packaged slice of real product text for creatives (``sitewide/data/creative_*.csv``) and its builder.

``python -m sitewide.creative.fixtures /path/to/shared/data`` rebuilds the two files from the shared datasets
(see ``src/sitewide/data/README.md`` for provenance); run time only reads the packaged copies.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import zlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from sitewide.creative.extract import Review
from sitewide.domain.creative import Lang, ProductFacts

# Synthetic prices (the review data has none): a round USD price per clothing class, and a CNY price per
# coarse Taobao category. Assumptions, stated as such; every third clothing product carries a 20 % markdown.
CLASS_PRICE_USD = {
    "Dresses": 98, "Knits": 58, "Blouses": 68, "Sweaters": 88, "Pants": 78, "Jeans": 98, "Skirts": 68,
    "Jackets": 128, "Fine gauge": 78, "Shorts": 48, "Lounge": 48, "Outerwear": 148, "Intimates": 38,
    "Swim": 58, "Sleep": 48, "Legwear": 18, "Trend": 88, "Layering": 38, "Casual bottoms": 58, "Chemises": 48,
}  # fmt: skip
COARSE_PRICE_CNY = {"大服饰": 199, "消费电子": 299, "大百货": 59, "美妆洗护": 89, "食品": 39}
PRODUCTS_FILE = "data/creative_products.csv"
REVIEWS_FILE = "data/creative_reviews.csv"


@dataclass(frozen=True, slots=True)
class ReviewedProduct:
    facts: ProductFacts
    reviews: tuple[Review, ...]
    langs: tuple[Lang, ...]  # the languages copy is made in (Chinese products: zh only)


def load_reviewed_products() -> list[ReviewedProduct]:
    """The packaged products with their review texts (40 real-review clothing items, 40 Taobao items)."""
    root = resources.files("sitewide")
    reviews: dict[str, list[Review]] = {}
    for row in csv.DictReader(io.StringIO(root.joinpath(REVIEWS_FILE).read_text(encoding="utf-8"))):
        reviews.setdefault(row["product_id"], []).append(
            Review(text=row["text"], rating=int(row["rating"]) if row["rating"] else None, title=row["title"])
        )
    out = []
    for row in csv.DictReader(io.StringIO(root.joinpath(PRODUCTS_FILE).read_text(encoding="utf-8"))):
        facts = ProductFacts(
            product_id=row["product_id"],
            shop_id=row["shop_id"],
            title=row["title"],
            brand=row["brand"],
            category=row["category"],
            price_micros=int(row["price_micros"]),
            list_price_micros=int(row["list_price_micros"]) if row["list_price_micros"] else None,
            attributes=tuple((a, v) for a, v in json.loads(row["attributes"])),
            currency=row["currency"],
        )
        langs = tuple(Lang(x) for x in row["langs"].split("|"))
        out.append(ReviewedProduct(facts, tuple(reviews.get(facts.product_id, [])), langs))
    return out


def build_fixtures(
    shared: Path, out: Path, n_clothing: int = 40, n_zh: int = 40, per_product: int = 25
) -> None:
    """Write the two CSVs from the shared data (deterministic)."""
    import numpy as np
    import pandas as pd

    df = pd.read_parquet(
        shared / "womens_ecommerce_clothing_reviews/WomensClothingE-CommerceReviews.parquet.brotli"
    )
    df = df[df["Review Text"].notna()]
    counts = df["Clothing ID"].value_counts()
    pool = sorted(int(i) for i in counts[counts >= 10].index)
    pick = sorted(np.random.default_rng(20261203).choice(pool, size=n_clothing, replace=False).tolist())
    prows, rrows = [], []
    for k, cid in enumerate(pick):
        rows = df[df["Clothing ID"] == cid].head(per_product)
        first = rows.iloc[0]
        cls = str(first["Class Name"])
        price = CLASS_PRICE_USD.get(cls, 58) * 1_000_000
        lp = round(price / 0.8 / 1_000_000) * 1_000_000 if k % 3 == 0 else None
        pid = f"w{cid}"
        attrs = [
            ["division", str(first["Division Name"])],
            ["department", str(first["Department Name"])],
            ["class", cls],
        ]
        prows.append(
            [pid, "s-retailer", f"{first['Department Name']} {cls} {cid}", "Retailer", cls, price, lp or "",
             json.dumps(attrs, ensure_ascii=False), "USD", "en|zh",
             "womens_ecommerce_clothing_reviews"]
        )  # fmt: skip
        for _, r in rows.iterrows():
            rrows.append(
                [pid, int(r["Rating"]), "" if pd.isna(r["Title"]) else str(r["Title"]), str(r["Review Text"])]
            )
    src = (
        shared
        / "ecomgpt_zh_product_tasks/OpenBG_Align/tasks/ZH-OpenBG_Align-CLS-item_fine_classify/test.json"
    )
    coarse_src = src.parent.parent / "ZH-OpenBG_Align-CLS-item_coarse_classify/test.json"
    coarse = {}
    for line in coarse_src.read_text(encoding="utf-8").splitlines():
        o = json.loads(line)
        coarse[o["sentences"].split("\t")[0]] = o["labels"]["coarse"][0]
    n = 0
    for line in src.read_text(encoding="utf-8").splitlines():
        o = json.loads(line)
        title, _, rest = o["sentences"].partition("\t")
        attrs = [kv.split("#:#", 1) for kv in rest.split("#;#") if "#:#" in kv]
        brand_raw = next((v for a, v in attrs if a == "品牌"), "")
        if not brand_raw:
            continue
        zh = [p for p in brand_raw.split("/") if any("\u4e00" <= ch <= "\u9fff" for ch in p)]
        brand = zh[0] if zh else brand_raw.split("/")[0]
        mix = o["labels"]["mix"]
        price = COARSE_PRICE_CNY.get(coarse.get(title, mix[0]), 99) * 1_000_000
        prows.append(
            [f"z{n + 1:03d}", f"s-z{zlib.crc32(brand.encode()) % 100000:05d}", title, brand, o["labels"]["fine"][0],
             price, "", json.dumps(attrs, ensure_ascii=False), "CNY", "zh", "ecomgpt_zh_product_tasks"]
        )  # fmt: skip
        n += 1
        if n >= n_zh:
            break
    head_p = ["product_id", "shop_id", "title", "brand", "category", "price_micros", "list_price_micros",
              "attributes", "currency", "langs", "source"]  # fmt: skip
    for name, head, rows_ in (
        (PRODUCTS_FILE, head_p, prows),
        (REVIEWS_FILE, ["product_id", "rating", "title", "text"], rrows),
    ):
        with open(out / Path(name).name, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(head)
            w.writerows(rows_)


if __name__ == "__main__":  # pragma: no cover
    build_fixtures(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else Path("src/sitewide/data"))
