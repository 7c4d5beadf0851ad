"""The console's message catalogues: every text the pages use has a Chinese translation with the same
placeholders, every code the engine shows people has wording in both languages, and the language and money
helpers behave."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
from msgids import all_msgids

from sitewide.domain.auction import Reason
from sitewide.domain.eligibility_rules import DEFAULT_RULES
from sitewide.domain.experiments import ExperimentStatus
from sitewide.domain.sequential import Metric
from sitewide.domain.shop_score import ShopMetrics, compute_shop_score
from sitewide.domain.types import CampaignStatus
from sitewide.i18n import catalogue, format_money, humanize, pick_lang, translator
from sitewide.service.diagnosis import BID_LIMITED

RULES_SRC = Path(__file__).resolve().parents[2] / "src" / "sitewide" / "domain" / "eligibility_rules.py"


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_text_the_pages_use_is_in_chinese_with_the_same_placeholders() -> None:
    ids = all_msgids()
    assert len(ids) > 150  # the extractor finds the templates' and the routes' texts
    zh = catalogue("zh")
    missing = sorted(m for m in ids if m not in zh)
    assert not missing, f"not translated to Chinese: {missing[:10]}"
    for m in ids:
        assert fields(zh[m]) == fields(m), f"placeholders differ for {m!r}"
        assert re.search(r"[\u4e00-\u9fff]", zh[m]) or m in ("API", "ROI"), f"not Chinese: {zh[m]!r}"


def test_both_languages_word_the_same_codes() -> None:
    en, zh = catalogue("en"), catalogue("zh")
    codes = {k for k in en if "." in k and " " not in k}
    assert codes and codes <= set(zh)
    for k in codes:
        assert fields(en[k]) == fields(zh[k])


def _domain_codes() -> list[str]:
    src = RULES_SRC.read_text(encoding="utf-8")
    fail_codes = set(re.findall(r'Verdict\(False, "([a-z_]+)"', src))
    fail_codes |= set(re.findall(r'_against_limit\([^"]*"([a-z_]+)"', src))
    scored = compute_shop_score(ShopMetrics("s", 0.9, 3.0, 4.0, 0.01, 4.2, 10, 0.1))
    return (
        [f"reason.{r.name.lower()}" for r in Reason]
        + [f"shortfall.{r.name.lower()}" for r in Reason if r != Reason.SHOWN]
        + [f"rule.{r.name}" for r in DEFAULT_RULES]
        + [f"code.{c}" for c in {"pass", "missing", "insufficient_data", *fail_codes}]
        + [f"factor.{f.name}" for f in scored.factors]
        + [f"status.{s.value}" for s in (*CampaignStatus, *ExperimentStatus)]
        + [f"status.{s}" for s in ("open", "accepted", "rejected")]
        + [f"metric.{m.value}" for m in Metric]
        + [f"reason.{r}" for r in BID_LIMITED]
    )


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_code_the_engine_shows_has_wording(lang: str) -> None:
    codes = _domain_codes()
    assert len(codes) > 40 and any(c.startswith("code.out_of") for c in codes)
    t = translator(lang)
    for key in codes:
        kind, code = key.split(".", 1)
        assert t.has(key), key
        assert "_" not in t.code(kind, code), key


def test_chinese_rule_explanations_fill_in_the_rules_numbers() -> None:
    from sitewide.domain.eligibility_rules import RuleResult

    r = RuleResult("stock", 1, False, "out_of_stock", "stock 0, minimum 1", {"stock": 0, "min_stock": 1})
    assert translator("zh").explain(r) == "库存 0，最低要求 1"
    assert translator("en").explain(r) == "stock 0, minimum 1"  # English: the rule's own message
    odd = RuleResult("stock", 1, False, "out_of_stock", "stock ?, minimum 1", {"min_stock": 1})
    assert translator("zh").explain(odd) == "stock ?, minimum 1"  # numbers missing: falls back, no crash


def test_language_choice_query_then_cookie_then_browser() -> None:
    assert pick_lang(None, None, None) == "en"
    assert pick_lang(None, None, "zh-CN,zh;q=0.9,en;q=0.8") == "zh"
    assert pick_lang(None, None, "fr-FR, en;q=0.5, zh;q=0.7") == "zh"
    assert pick_lang(None, None, "de, fr;q=0.9") == "en"
    assert pick_lang(None, "zh", "en") == "zh"
    assert pick_lang("en", "zh", "zh") == "en"
    assert pick_lang("xx", "zh", "en") == "zh"  # an unknown choice is ignored


def test_unknown_codes_never_show_underscores_and_unknown_text_is_english() -> None:
    t = translator("zh")
    assert t.code("reason", "brand_new_reason") == "brand new reason" == humanize("reason.brand_new_reason")
    assert t("a sentence nobody translated") == "a sentence nobody translated"
    assert t("{n} selected", n=3) == "已选 3 个"


def test_money_in_the_deployments_currency() -> None:
    assert format_money(1_234_567_890, "USD") == "$1,234.57"
    assert format_money(-5_000, "CNY") == "-¥0.01"
    assert format_money(10**6, "CHF") == "1.00 CHF"
    assert format_money(None, "USD") == "–"
