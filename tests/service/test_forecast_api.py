"""The forecast, holdout and incrementality endpoints: scoped to the merchant, live on logged traffic, and the
forecast follows the draft's products."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from sitewide.domain.time import day_bounds

DAY = "2026-01-05"
T0 = day_bounds(DAY)[0] + 3_600_000


def _campaign(m1: TestClient) -> str:
    body = {
        "name": "usb",
        "product_ids": ["p00", "p02"],
        "target_roi": "2.00",
        "daily_budget_micros": 50_000_000,
    }
    r = m1.post("/campaigns", json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _serve(client: TestClient, n: int = 30) -> None:
    queries = ["usb flash drive", "wireless mouse", "ink cartridge", "wifi router"]
    for i in range(n):
        r = client.post(
            "/serve",
            json={
                "request_id": f"q{i}",
                "user_id": f"u{i}",
                "query": queries[i % 4],
                "slots": 4,
                "ts_ms": T0 + i,
            },
        )
        assert r.status_code == 200, r.text


def _forecast(client: TestClient, products: list[str], **over: object) -> dict:
    params = {"product_ids": products, "target_roi": "2.00", "daily_budget_micros": 50_000_000} | over
    r = client.get("/forecast/campaign", params=params)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_forecast_of_a_draft_follows_its_products(m1: TestClient, op: TestClient) -> None:
    _campaign(m1)
    _serve(op)
    usb = _forecast(m1, ["p00"])
    ink = _forecast(m1, ["p04"])
    assert usb["traffic"] == "logged" and usb["replayed_requests"] == 30
    assert usb["level"] == 0.8 and usb["basis"] == "prior"
    assert len(usb["curve"]) > 5 and all(isinstance(p["gmv_micros"], int) for p in usb["curve"])
    assert [p["gmv_micros"] for p in usb["curve"]] != [p["gmv_micros"] for p in ink["curve"]]
    e = usb["expected"]
    assert e["gmv_low_micros"] <= e["gmv_micros"] <= e["gmv_high_micros"] or e["gmv_micros"] == 0
    assert e["spend_micros"] <= 50_000_000


def test_forecast_is_scoped_and_validated(m1: TestClient, m2: TestClient, op: TestClient) -> None:
    cid = _campaign(m1)
    r = m1.get(
        "/forecast/campaign",
        params={"product_ids": ["p01"], "target_roi": "2.00", "daily_budget_micros": 10**6},
    )
    assert r.status_code == 422 and "p01" in r.json()["detail"]  # m2's product
    r = m2.get(
        "/forecast/campaign",
        params={
            "product_ids": ["p01"],
            "target_roi": "2.00",
            "daily_budget_micros": 10**6,
            "campaign_id": cid,
        },
    )
    assert r.status_code == 404  # m1's campaign is unknown to m2
    r = m1.get(
        "/forecast/campaign", params={"product_ids": [], "target_roi": "2.00", "daily_budget_micros": 10**6}
    )
    assert r.status_code == 422
    r = op.get(
        "/forecast/campaign",
        params={"product_ids": ["p00"], "target_roi": "2.00", "daily_budget_micros": 10**6},
    )
    assert r.status_code == 422 and "merchant_id" in r.json()["detail"]
    f = _forecast(op, ["p00"], merchant_id="m1")
    assert f["traffic"] == "synthetic"  # nothing served yet


def test_holdout_and_incrementality(m1: TestClient, op: TestClient) -> None:
    cid = _campaign(m1)
    assert m1.put(f"/campaigns/{cid}/holdout", json={"share": 0.2}).status_code == 403
    assert op.put(f"/campaigns/{cid}/holdout", json={"share": 0.9}).status_code == 422
    r = op.put(f"/campaigns/{cid}/holdout", json={"share": 0.5})
    assert r.status_code == 200 and r.json() == {"campaign_id": cid, "share": 0.5}
    _serve(op, 40)
    r = m1.get(f"/campaigns/{cid}/incrementality", params={"start_day": DAY})
    assert r.status_code == 200, r.text
    assert r.json()["start_day"] == DAY
    inc = r.json()["estimate"]
    assert (
        inc["campaign_id"] == cid
        and inc["holdout_share"] == 0.5
        and inc["exposed_wins"] + inc["ghost_wins"] > 0
    )
    assert inc["ghost_wins"] > 0 and inc["spend_micros"] == 0  # nothing clicked, nothing billed
    assert m1.get("/campaigns/nope/incrementality").status_code == 404


def test_the_campaign_page_asks_for_the_draft_forecast_with_its_cookie(app: FastAPI, new_key) -> None:  # type: ignore[no-untyped-def]
    with TestClient(app) as ui:
        r = ui.post("/ui/login", data={"api_key": new_key("m1")}, follow_redirects=False)
        assert r.status_code == 303
        page = ui.get("/ui/campaigns/new").text
        assert 'id="forecast-chart"' in page and "/forecast/campaign?" in page
        assert "input[name=product_ids]:checked" in page  # the draft's products go with it
        assert "a·spend" not in page  # the power-law note is gone
        f = ui.get(
            "/forecast/campaign",
            params={"product_ids": ["p00"], "target_roi": "2.00", "daily_budget_micros": 10**6},
        )
        assert f.status_code == 200 and f.json()["traffic"] == "synthetic"


def test_an_empty_product_id_is_a_422(m1: TestClient) -> None:
    r = m1.get(
        "/forecast/campaign", params={"product_ids": [""], "target_roi": "2.00", "daily_budget_micros": 10**6}
    )
    assert r.status_code == 422


def _page(app: FastAPI, new_key, cid: str, lang: str = "en") -> str:  # type: ignore[no-untyped-def]
    with TestClient(app) as ui:
        assert (
            ui.post("/ui/login", data={"api_key": new_key("m1")}, follow_redirects=False).status_code == 303
        )
        r = ui.get(f"/ui/campaigns/{cid}", params={"lang": lang})
        assert r.status_code == 200, r.text
        return r.text


def test_the_campaign_page_words_its_incrementality(
    app: FastAPI, m1: TestClient, op: TestClient, new_key
) -> None:  # type: ignore[no-untyped-def]
    cid = _campaign(m1)
    page = _page(app, new_key, cid)
    assert 'id="incrementality" data-state="off"' in page and "Not measured: no holdout runs" in page
    assert op.put(f"/campaigns/{cid}/holdout", json={"share": 0.5}).status_code == 200
    _serve(op, 40)
    inc = m1.get(f"/campaigns/{cid}/incrementality", params={"start_day": DAY}).json()["estimate"]
    assert inc["ghost_wins"] > 0 and inc["exposed_wins"] > 0
    page = _page(app, new_key, cid)
    assert 'data-state="not_enough"' in page and "Not enough data yet" in page  # nothing sold: no estimate
    assert f"{inc['ghost_wins']:,} auctions were held out and {inc['exposed_wins']:,} shown" in page
    zh = _page(app, new_key, cid, "zh")
    assert "数据尚不足" in zh and f"留出了 {inc['ghost_wins']:,} 次竞价" in zh


def test_a_precise_estimate_is_worded_with_its_intervals() -> None:
    from sitewide.domain.incrementality import estimate
    from sitewide.i18n import translator
    from sitewide.service.routes.ui import templates
    from sitewide.service.usecases.forecast import IncrementalityView

    # 400 exposed wins selling 100 each in half of them, 400 ghosts selling in a tenth: a clear effect
    exposed = [100_000_000 if i % 2 else 0 for i in range(400)]
    ghosts = [100_000_000 if i % 10 == 0 else 0 for i in range(400)]
    inc = estimate("c1", exposed, ghosts, 4_000_000_000, holdout_share=0.5, holdout_cost_micros=7_000_000)
    for lang, words in (("en", "the ads added about"), ("zh", "广告带来了约")):
        tr = translator(lang)
        html = templates.env.get_template("campaign_incrementality.html").render(
            incrementality=IncrementalityView("ready", 28, inc), _=tr.gettext, t=tr, currency="CNY"
        )
        assert 'data-state="ready"' in html and words in html
        roi = inc.incremental_roi
        assert roi is not None and roi.high is not None
        assert f"{roi.value:.2f}" in html and f"{roi.low:.2f}" in html
        assert f"{roi.high:.2f}" in html and "Not enough" not in html


def test_a_guarantee_on_incremental_roi_is_told_on_the_campaign_page(
    app: FastAPI, m1: TestClient, new_key
) -> None:  # type: ignore[no-untyped-def]
    from decimal import Decimal

    from sitewide.domain.guarantee import GuaranteeContract

    cid = _campaign(m1)
    assert 'id="incrementality-guarantee"' not in _page(app, new_key, cid)  # on credited ROI: not said here
    app.state.engine.set_guarantee(
        cid, GuaranteeContract(basis="incremental_roi", trigger_roi_factor=Decimal("0.8"))
    )
    page = _page(app, new_key, cid)
    assert 'id="incrementality-guarantee"' in page and "written on this incremental ROI" in page
    assert "90 % interval" in page and "0.8 × your target" in page
    assert "增量 ROI 约定" in _page(app, new_key, cid, "zh")
