"""The checks a creative passes before use: each rule fires on the input that breaks it, and names itself."""

from __future__ import annotations

from sitewide.domain.creative import Angle as A
from sitewide.domain.creative import (
    AspectEvidence,
    BrandKit,
    CopyDraft,
    Lang,
    ProductFacts,
    ReviewEvidence,
    check_draft,
    discounts_in,
    prices_in,
)

FACTS = ProductFacts("w1", "s1", "Dresses Dresses 1", "Retailer", "Dresses", 78_400_000, 98_000_000,
                     (("class", "Dresses"), ("material", "linen")))  # fmt: skip
EVIDENCE = ReviewEvidence(
    "w1",
    20,
    4.4,
    (AspectEvidence("fit", 9, 1), AspectEvidence("colour", 1, 0), AspectEvidence("quality", 2, 4)),
)
KIT = BrandKit("s1", required_terms=("Retailer",), banned_words=("cheap",), banned_claims=("free shipping",))


def draft(title: str, *points: str, lang: Lang = Lang.EN) -> CopyDraft:
    return CopyDraft(title, points or ("A dress",), lang, A.PRICE, "test")


def rules(d: CopyDraft) -> set[str]:
    return set(check_draft(d, FACTS, EVIDENCE, KIT).rules)


def test_a_price_not_in_the_catalogue_is_rejected() -> None:
    res = check_draft(draft("Retailer dress for $69.99"), FACTS, EVIDENCE, KIT)
    assert not res.passed
    assert res.rules == ("price_mismatch",)
    assert "69.99" in res.violations[0].detail and "78.40" in res.violations[0].detail


def test_catalogue_price_and_list_price_pass_in_both_languages() -> None:
    assert rules(draft("Retailer dress for $78.40", "Was $98, now $78.40")) == set()
    assert rules(draft("Retailer连衣裙 到手价$78.40", "原价98元", lang=Lang.ZH)) == set()
    assert rules(draft("Retailer dress", "Save $19.60")) == set()  # list − price


def test_price_forms_are_all_read() -> None:
    assert prices_in("now $1,299.50 or ¥99, 49元, 12 dollars") == (
        1_299_500_000,
        99_000_000,
        49_000_000,
        12_000_000,
    )
    assert prices_in("100% cotton, 3 pack") == ()


def test_discount_claims_must_match_the_catalogue_markdown() -> None:
    assert discounts_in("20% off, 8折, 8.5折") == (20, 20, 15)
    assert rules(draft("Retailer dress, 20% off")) == set()  # 98 → 78.40 is 20 %
    assert rules(draft("Retailer dress, 30% off")) == {"discount_mismatch"}
    assert rules(draft("Retailer连衣裙 7折", lang=Lang.ZH)) == {"discount_mismatch"}
    no_markdown = ProductFacts("w2", "s1", "t", "Retailer", "Dresses", 50_000_000)
    assert check_draft(draft("Retailer dress 10% off"), no_markdown, EVIDENCE, KIT).rules == (
        "discount_mismatch",
    )


def test_banned_words_platform_and_brand_kit() -> None:
    assert rules(draft("The best Retailer dress")) == {"banned_word"}
    assert rules(draft("Retailer连衣裙 最好看", lang=Lang.ZH)) == {"banned_word"}
    assert rules(draft("Retailer dress", "Not cheap at all")) == {"banned_word"}
    assert rules(draft("Retailer dress", "Secure zip")) == set()  # 'cure' is a word, not a substring
    assert rules(draft("Retailer dress", "Free shipping today")) == {"banned_claim"}


def test_required_brand_term_in_the_title() -> None:
    res = check_draft(draft("Linen dress for summer"), FACTS, EVIDENCE, KIT)
    assert res.rules == ("required_term",) and "Retailer" in res.violations[0].detail


def test_length_limits_per_language() -> None:
    assert rules(draft("Retailer " + "x" * 80)) == {"length"}
    assert rules(draft("Retailer连衣裙" + "好" * 25, lang=Lang.ZH)) == {"length"}
    assert rules(draft("Retailer dress", "a", "b", "c", "d", "e")) == {"length"}


def test_claims_must_be_supported_by_reviews_or_attributes() -> None:
    assert rules(draft("Retailer dress", "Reviewers love the fit")) == set()  # 9 of 10 positive
    assert rules(draft("Retailer dress", "Loved for its quality")) == {"unsupported_claim"}  # 2 of 6
    assert rules(draft("Retailer dress", "A colour to love")) == {"unsupported_claim"}  # one mention
    assert rules(draft("Retailer dress", "Waterproof")) == {"unsupported_claim"}  # never mentioned
    assert rules(draft("Retailer dress", "Pure linen fabric")) == set()  # the catalogue says linen
    res = check_draft(draft("Retailer dress", "Waterproof"), FACTS, EVIDENCE, KIT)
    assert "waterproof" in res.violations[0].detail


def test_language_rule() -> None:
    assert rules(draft("Retailer dress", lang=Lang.ZH)) == {"language"}
    assert rules(draft("Retailer 连衣裙")) == {"language"}


def test_a_rejected_creative_names_every_rule_it_broke() -> None:
    res = check_draft(draft("Best dress for $5", "Waterproof"), FACTS, EVIDENCE, KIT)
    assert set(res.rules) == {"banned_word", "required_term", "price_mismatch", "unsupported_claim"}
