"""The creatives console page: generate with pasted reviews, verdicts and banners, pin, scoping."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient


def login(app: FastAPI, key: str) -> TestClient:
    c = TestClient(app)
    r = c.post("/ui/login", data={"api_key": key}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return c


def test_generate_pin_and_see_results(app: FastAPI, new_key: Callable[[str], str]) -> None:
    ui = login(app, new_key("m1"))
    page = ui.get("/ui/products/p00")
    assert 'href="/ui/products/p00/creatives"' in page.text
    assert "No creatives yet" in ui.get("/ui/products/p00/creatives").text
    r = ui.post(
        "/ui/products/p00/creatives", data={"langs": "en", "reviews": "Great quality\nLove the quality"}
    )
    assert r.status_code == 200 and 'id="creatives"' in r.text
    assert "approved" in r.text and "<img" in r.text
    cid = r.text.split('data-creative="')[1].split('"')[0]
    r = ui.post("/ui/products/p00/creatives/pin", data={"creative_id": cid})
    assert f"pinned <code>{cid}</code>" in r.text
    ui2 = login(app, new_key("m2"))
    assert ui2.get("/ui/products/p00/creatives").status_code == 404
    assert ui2.post("/ui/products/p00/creatives", data={"langs": "en"}).status_code == 404


def test_every_rule_detail_the_checks_write_is_worded_in_chinese() -> None:
    """A draft that breaks every rule: each detail the checks write reads the same in English and in Chinese
    words (filled with the detail's own figures) on the page."""
    from sitewide.domain.creative import (
        RULES,
        Angle,
        BrandKit,
        CopyDraft,
        Lang,
        ProductFacts,
        ReviewEvidence,
        check_draft,
    )
    from sitewide.i18n import translator
    from sitewide.service.routes.creatives_ui import rule_detail

    facts = ProductFacts("p00", "s1", "Acme drive", "Acme", "storage", 12_000_000)
    kit = BrandKit("s1", banned_words=("cheap",), banned_claims=("cures",), required_terms=("Acme",))
    none = ReviewEvidence("p00", 0, None)
    drafts = [
        CopyDraft("x", ("cheap and waterproof", "cures colds", "now $9.99, 50% off", "a" * 95, "e", "f"),
                  Lang.EN, Angle.ATTRIBUTE, "offline"),
        CopyDraft("Acme 防水 drive", ("fine",), Lang.EN, Angle.ATTRIBUTE, "offline"),
        CopyDraft("Acme drive", ("fine",), Lang.ZH, Angle.ATTRIBUTE, "offline"),
    ]  # fmt: skip
    details = [(v.rule, v.detail) for d in drafts for v in check_draft(d, facts, none, kit).violations]
    assert {r for r, _ in details} == {name for name, _ in RULES}  # every rule fired at least once
    en, zh = translator("en"), translator("zh")
    for rule, detail in details:
        assert rule_detail(en, detail) == detail
        words = rule_detail(zh, detail)
        assert words != detail and re.search(r"[\u4e00-\u9fff]", words), (rule, detail)
    assert rule_detail(zh, "a detail nobody wrote") == "a detail nobody wrote"
