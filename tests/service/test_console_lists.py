"""The campaign list's bulk actions (pause, resume, a new budget and/or target ROI for the ticked campaigns),
its pages and orders, and the campaign page's date range — over HTTP, as a merchant's browser posts them."""

from __future__ import annotations

import re
from collections.abc import Callable

from clocks import ManualClock
from fastapi import FastAPI
from fastapi.testclient import TestClient
from test_console_pages import DAY, login, settled_campaign, visible_text


def _campaigns(op: TestClient, merchant: str, n: int, products: list[str]) -> list[str]:
    return [
        op.post(
            "/campaigns",
            json={
                "merchant_id": merchant,
                "name": f"{merchant} campaign {i:02d}",
                "product_ids": products,
                "target_roi": "3.00",
                "daily_budget_micros": (10 + i) * 1_000_000,
            },
        ).json()["id"]
        for i in range(n)
    ]


def _state(op: TestClient, cid: str) -> tuple[str, str, int]:
    c = op.get(f"/campaigns/{cid}").json()
    return c["status"], c["target_roi"], c["daily_budget_micros"]


def test_bulk_pause_resume_and_edit_change_only_the_ticked_campaigns(
    app: FastAPI, op: TestClient, new_key: Callable[[str], str]
) -> None:
    a, b, c = _campaigns(op, "m1", 3, ["p00", "p02"])
    ui = login(app, new_key("m1"))
    r = ui.post("/ui/campaigns/bulk", data={"action": "pause", "ids": [a, b]}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/?done=bulk_paused"
    assert "The ticked campaigns are paused" in ui.get(r.headers["location"]).text
    assert [_state(op, x)[0] for x in (a, b, c)] == ["paused", "paused", "active"]
    ui.post("/ui/campaigns/bulk", data={"action": "resume", "ids": [b]})
    assert [_state(op, x)[0] for x in (a, b, c)] == ["paused", "active", "active"]
    # a new target for two, the budgets as they were; then a new budget for one, its target as it was
    r = ui.post("/ui/campaigns/bulk", data={"action": "edit", "ids": [a, c], "target_roi": "2.50"})
    assert r.status_code == 200 and "The ticked campaigns are changed" in r.text
    assert [_state(op, x)[1:] for x in (a, b, c)] == [
        ("2.50", 10_000_000),
        ("3.00", 11_000_000),
        ("2.50", 12_000_000),
    ]
    ui.post("/ui/campaigns/bulk", data={"action": "edit", "ids": [b], "daily_budget": "25.50"})
    assert _state(op, b) == ("active", "3.00", 25_500_000)
    # zh: the same message in Chinese
    zh = login(app, new_key("m1"), "zh")
    assert "所选推广计划已暂停" in zh.post("/ui/campaigns/bulk", data={"action": "pause", "ids": [c]}).text


def test_bulk_changes_nothing_when_one_campaign_or_value_is_wrong(
    app: FastAPI, op: TestClient, new_key: Callable[[str], str]
) -> None:
    mine = _campaigns(op, "m1", 2, ["p00"])
    theirs = _campaigns(op, "m2", 1, ["p01"])
    before = {x: _state(op, x) for x in mine + theirs}
    ui = login(app, new_key("m1"))
    # another merchant's campaign among the ticked ones: not found, and none of the others paused either
    r = ui.post("/ui/campaigns/bulk", data={"action": "pause", "ids": [mine[0], theirs[0], mine[1]]})
    assert r.status_code == 404
    for bad, words in (
        ({"target_roi": "0.01"}, "Target ROI must lie between 0.10 and 100"),
        ({"target_roi": "2", "daily_budget": "lots"}, "Daily budget must be an amount in USD"),
        ({}, "Give a new daily budget, a new target ROI, or both."),
    ):
        r = ui.post("/ui/campaigns/bulk", data={"action": "edit", "ids": mine, **bad})
        assert r.status_code == 422 and words in visible_text(r.text), bad
    r = ui.post("/ui/campaigns/bulk", data={"action": "pause"})
    assert r.status_code == 422 and "Tick at least one campaign." in visible_text(r.text)
    assert {x: _state(op, x) for x in mine + theirs} == before


def test_the_list_is_paged_and_sorted(app: FastAPI, op: TestClient, new_key: Callable[[str], str]) -> None:
    _campaigns(op, "m1", 55, ["p00"])
    ui = login(app, new_key("m1"))

    def names(query: str) -> list[str]:
        page = ui.get(f"/ui/?{query}").text
        return re.findall(r'<a href="/ui/campaigns/c-[0-9a-f]+">([^<]+)</a>', page)

    first, second = names("sort=name&order=asc&page=1"), names("sort=name&order=asc&page=2")
    assert len(first) == 50 and len(second) == 5
    assert first + second == sorted(first + second) and first[0] == "m1 campaign 00"
    assert names("sort=budget&order=desc")[0] == "m1 campaign 54"  # the largest budget first
    assert names("sort=budget&order=asc")[0] == "m1 campaign 00"
    assert names("sort=nonsense&page=99") == names("page=2")  # unknown order: newest first; last page
    page = ui.get("/ui/?sort=name&order=asc&page=2").text
    assert "Page 2 of 2" in visible_text(page) and "55 campaigns" in visible_text(page)
    assert 'id="prev"' in page and 'id="next"' not in page


def test_the_campaign_page_shows_the_chosen_days(
    app: FastAPI, op: TestClient, new_key: Callable[[str], str], clock: ManualClock
) -> None:
    cid = settled_campaign(op, clock)
    ui = login(app, new_key("m1"))
    page = ui.get(f"/ui/campaigns/{cid}?start={DAY}&end={DAY}").text
    days = re.search(r'<table id="days">.*?</table>', page, re.S)
    assert days is not None and DAY in days.group(0) and "$6.00" in visible_text(days.group(0))
    assert f'value="{DAY}"' in page
    later = ui.get(f"/ui/campaigns/{cid}?start=2026-02-01").text
    days = re.search(r'<table id="days">.*?</table>', later, re.S)
    assert days is not None and DAY not in days.group(0) and "No traffic yet." in days.group(0)
    # what limits delivery and the guarantee are as of now, whatever the range
    assert 'data-limit="roi_below"' in later and 'data-triggered="yes"' in later
