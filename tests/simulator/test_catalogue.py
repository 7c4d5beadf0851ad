from __future__ import annotations

from sitewide.simulator.catalogue import CATALOGUE_COLUMNS, load_catalogue


def test_packaged_catalogue_has_2000_real_positively_priced_products() -> None:
    cat = load_catalogue()
    assert tuple(cat.columns) == CATALOGUE_COLUMNS
    assert len(cat) == 2000
    assert cat["product_id"].is_unique
    assert cat["product_id"].iloc[0] == "p0001"
    assert cat["price_micros"].dtype.kind == "i"
    assert (cat["price_micros"] > 0).all()
    assert cat["title"].str.len().min() > 0
    assert cat["category"].nunique() > 50
