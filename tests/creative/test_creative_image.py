"""Banners: the layout keeps the text box off the product's salient region; brand colours are used."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from sitewide.creative.image import choose_layout, compose, saliency, save_banner
from sitewide.domain.creative import Angle, BrandKit, CopyDraft, Lang, ProductFacts

FACTS = ProductFacts("p1", "s1", "Acme lamp", "Acme", "Lamps", 30_000_000)
KIT = BrandKit("s1", colours=("#123456", "#fedcba"), logo_text="ACME")
DRAFT = CopyDraft("Acme lamp for $30", ("Warm light",), Lang.EN, Angle.PRICE, "test")


def photo(box: tuple[int, int, int, int]) -> Image.Image:
    img = Image.new("RGB", (960, 540), (255, 255, 255))
    ImageDraw.Draw(img).ellipse(box, fill=(200, 40, 40), outline=(0, 0, 0), width=6)
    return img


def test_saliency_is_high_on_the_object_and_low_on_the_background() -> None:
    s = saliency(photo((60, 120, 360, 420)))
    assert s[32, 14] > 0.5 and s[32, 56] < 0.05


def test_text_box_avoids_the_product_wherever_it_is() -> None:
    cases = {(60, 120, 360, 420): "left", (600, 120, 900, 420): "right", (280, 20, 680, 250): "top"}
    for obj, side in cases.items():
        lay = choose_layout(photo(obj))
        assert lay.text != side
        tb = lay.text_box
        assert tb[2] <= obj[0] or tb[0] >= obj[2] or tb[3] <= obj[1] or tb[1] >= obj[3], (obj, lay)


def test_banner_uses_brand_colours_and_a_placeholder_without_an_image(tmp_path: Path) -> None:
    b = compose(DRAFT, FACTS, KIT)
    assert b.placeholder and b.image.size == (960, 540)
    a = np.asarray(b.image)
    tb = b.layout.text_box
    corner = a[tb[3] - 8, tb[2] - 25].astype(int)  # inside the text box, below the text
    assert np.abs(corner - np.array([0x12, 0x34, 0x56])).max() < 40  # primary colour (slightly blended)
    p = save_banner(b, tmp_path, "cr-1")
    assert Image.open(p).size == (960, 540)
    with_photo = compose(DRAFT, FACTS, KIT, photo((600, 120, 900, 420)).resize((480, 270)))
    assert not with_photo.placeholder and with_photo.layout.text != "right"
