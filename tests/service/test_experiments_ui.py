"""The experiments console over HTTP: create from the form, watch, stop with a winner, apply; scoped."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient


def login(app: FastAPI, key: str) -> TestClient:
    c = TestClient(app)
    assert c.post("/ui/login", data={"api_key": key}, follow_redirects=False).status_code == 303
    return c


def test_merchant_runs_a_campaign_level_experiment_from_the_console(
    app: FastAPI, m1: TestClient, new_key: Callable[[str], str]
) -> None:
    cid = m1.post(
        "/campaigns",
        json={
            "name": "drives",
            "product_ids": ["p00", "p02"],
            "target_roi": "3.00",
            "daily_budget_micros": 80_000_000,
        },
    ).json()["id"]
    ui = login(app, new_key("m1"))
    page = ui.get("/ui/experiments").text
    assert f'value="{cid}"' in page and "experiment-form" in page
    bad = ui.post(
        "/ui/experiments", data={"name": "roi", "campaign_id": cid, "kind": "campaign", "b_value": "abc"}
    )
    assert bad.status_code == 422 and "form-error" in bad.text
    assert m1.get("/experiments").json()["total"] == 0  # nothing stored on bad input
    r = ui.post(
        "/ui/experiments",
        data={
            "name": "roi 3 vs 2",
            "campaign_id": cid,
            "kind": "campaign",
            "b_value": "2.00",
            "cap_cny": "40.00",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    xid = r.headers["location"].split("?")[0].rsplit("/", 1)[1]
    watch = ui.get(f"/ui/experiments/{xid}").text
    assert (
        'id="verdict"' in watch and "keep running" in watch and "lift-chart" in watch and 'id="stop"' in watch
    )
    assert m1.get(f"/campaigns/{cid}").json()["status"] == "paused"  # the arms run as their own campaigns
    arm_camps = [c for c in m1.get("/campaigns").json()["items"] if c["id"].startswith(f"{xid}.")]
    assert sorted(c["daily_budget_micros"] for c in arm_camps) == [40_000_000, 40_000_000]
    other = login(app, new_key("m2"))
    assert other.get(f"/ui/experiments/{xid}").status_code == 404
    assert other.post(f"/ui/experiments/{xid}/stop", data={"winner": "B"}).status_code == 404
    stop = ui.post(f"/ui/experiments/{xid}/stop", data={"winner": "B"}, follow_redirects=False)
    assert stop.status_code == 303
    after = ui.get(f"/ui/experiments/{xid}").text
    assert "stopped" in after and 'id="apply"' in after
    assert ui.post(f"/ui/experiments/{xid}/apply", follow_redirects=False).status_code == 303
    camp = m1.get(f"/campaigns/{cid}").json()
    assert camp["status"] == "active" and camp["target_roi"] == "2.00"
    assert "applied" in ui.get("/ui/experiments").text


def test_the_verdict_reads_in_the_page_language(
    app: FastAPI, m1: TestClient, new_key: Callable[[str], str]
) -> None:
    from sitewide.i18n import translator
    from sitewide.service.routes.experiments_ui import _stop_reason, verdict_words
    from sitewide.service.usecases import experiments as uc

    cid = m1.post(
        "/campaigns",
        json={
            "name": "drives",
            "product_ids": ["p00"],
            "target_roi": "3.00",
            "daily_budget_micros": 80_000_000,
        },
    ).json()["id"]
    ui = login(app, new_key("m1"))
    r = ui.post(
        "/ui/experiments",
        data={"name": "roi", "campaign_id": cid, "kind": "campaign", "b_value": "2.00", "cap_cny": "40.00"},
        follow_redirects=False,
    )
    xid = r.headers["location"].split("?")[0].rsplit("/", 1)[1]
    engine, store = app.state.engine, app.state.store
    en, zh = translator("en"), translator("zh")
    for step in ("running", "stopped"):
        exp = store.get_experiment(xid)
        assert exp is not None
        raw = uc.results(engine, store, exp, act=False)
        assert verdict_words(en, raw) == raw.verdict  # the same sentence as the API's, word for word
        words = verdict_words(zh, raw)
        assert "keep" not in words and "Stopped" not in words and "data yet" not in words, words
        page = ui.get(f"/ui/experiments/{xid}?lang=zh").text
        assert words in page
        if step == "running":
            assert "继续运行" in words
            ui.post(f"/ui/experiments/{xid}/stop", data={"winner": "B"})
        else:
            assert words.startswith("已停止（在控制台中停止），现投放 B。")
    assert _stop_reason(zh, "guardrail: arm B ROI 1.20 < 2.00 after 31 orders") == (
        "护栏：方案 B 在 31 笔订单后 ROI 1.20 低于 2.00"
    )
    assert _stop_reason(zh, "conclusive on GMV per impression") == "千次展示成交额已有定论"
    assert _stop_reason(zh, "the merchant's own words") == "the merchant's own words"
