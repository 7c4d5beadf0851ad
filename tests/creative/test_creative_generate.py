"""Review mining and the offline generator on the packaged real text."""

from __future__ import annotations

from sitewide.creative.extract import Review, extract, polarity
from sitewide.creative.fixtures import load_reviewed_products
from sitewide.creative.generate import OfflineGenerator
from sitewide.creative.studio import BrandKitBook, CreativeStudio
from sitewide.domain.creative import Angle, BrandKit, CopyRequest, Lang, ProductFacts, ReviewEvidence


def test_polarity_with_negation_in_both_languages() -> None:
    assert polarity("the fabric is so soft") == 1
    assert polarity("the fabric is not soft") == -1
    assert polarity("way too tight in the hips") == -1
    assert polarity("面料很舒服") == 1
    assert polarity("穿着不舒服") == -1
    assert polarity("质量不错") == 1


def test_extract_counts_aspects_with_sentiment() -> None:
    ev = extract("x", [
        Review("Love the fit. The fabric is itchy though", 4),
        Review("Perfect fit, beautiful color", 5),
        Review("The fit is boxy", 2),
        Review("版型很好看，面料舒服", 5),
    ])  # fmt: skip
    fit = ev.aspect("fit")
    assert fit is not None and (fit.positive, fit.negative) == (3, 1)
    fabric = ev.aspect("fabric")
    assert fabric is not None and (fabric.positive, fabric.negative) == (1, 1)
    assert ev.reviews == 4 and ev.mean_rating == 4.0
    assert "perfect fit" in ev.key_phrases


def test_packaged_slice_has_real_reviews_and_chinese_items() -> None:
    items = load_reviewed_products()
    assert len(items) == 80
    en = [p for p in items if p.reviews]
    zh = [p for p in items if p.langs == (Lang.ZH,)]
    assert len(en) == 40 and len(zh) == 40
    assert all(len(p.reviews) >= 10 for p in en)


def test_offline_copy_mostly_passes_and_rejections_name_a_rule() -> None:
    studio = CreativeStudio(OfflineGenerator())
    book = BrandKitBook()
    book.put(BrandKit("s-retailer", tone_words=("effortless",), required_terms=("Retailer",)))
    total = passed = 0
    angles = set()
    for p in load_reviewed_products():
        res = studio.make(p.facts, p.reviews, book.get(p.facts.shop_id, p.facts.brand), p.langs)
        for c in res.creatives:
            total += 1
            passed += c.check.passed
            angles.add((c.draft.lang, c.draft.angle))
            assert c.check.passed or c.check.violations and c.check.violations[0].rule
    assert passed / total > 0.9
    assert (Lang.ZH, Angle.REVIEW) in angles and (Lang.EN, Angle.PRICE) in angles


def test_no_chinese_copy_without_a_chinese_name() -> None:
    f = ProductFacts("p", "s", "logitech wireless mouse", "logitech", "mice", 19_990_000)
    req = CopyRequest(f, ReviewEvidence("p", 0, None), BrandKit("s"), Lang.ZH)
    assert OfflineGenerator().generate(req) == []
    assert OfflineGenerator().generate(CopyRequest(f, req.evidence, req.kit, Lang.EN))


def test_brand_kits_are_versioned() -> None:
    book = BrandKitBook()
    assert book.get("s1", "Acme").required_terms == ("Acme",)
    assert book.put(BrandKit("s1", tone_words=("bold",))).version == 1
    assert book.put(BrandKit("s1", tone_words=("calm",))).version == 2
    assert book.get("s1").tone_words == ("calm",)
    assert [k.version for k in book.history("s1")] == [1, 2]
