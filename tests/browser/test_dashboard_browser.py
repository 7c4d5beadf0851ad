"""The dashboard in a real browser: Playwright drives Debian's Chromium (``apt-get install chromium``;
Playwright cannot download its own browser here). Log in, create a campaign, find it in the list, open its
charts. A screenshot of each page is saved under ``artifacts/screenshots/`` (git-ignored, kept by CI)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sitewide.domain.guarantee import DAILY_CONTRACT
from sitewide.domain.money import Micros
from sitewide.domain.settlement import SettlementPolicy
from sitewide.domain.time import day_bounds
from sitewide.domain.types import Product, Shop
from sitewide.engine import EngineConfig
from sitewide.service.app import create_app
from sitewide.settings import Settings
from sitewide.storage.sql import SqlStore
from sitewide.wiring import seeded_engine

sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
OPERATOR = "sw_8899aabbccdd_browser-operator"
DAY = "2026-01-05"
T0 = day_bounds(DAY)[0] + 3_600_000

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A running server with one settled day of a campaign, and a merchant key: ``(base_url, key)``."""
    import uvicorn
    from fastapi.testclient import TestClient

    tmp = tmp_path_factory.mktemp("browser")
    shops = [Shop("s1", "m1", "Acme Electronics"), Shop("s2", "m2", "Other Shop")]
    titles = [
        "sandisk usb flash drive 16gb",
        "logitech wireless mouse",
        "hp black ink cartridge",
        "tp-link router",
    ]
    products = [
        Product(
            f"p{i:02d}",
            f"s{1 + i % 2}",
            f"{titles[i % 4]} v{i}",
            titles[i % 4].split()[-1],
            Micros(20_000_000 + i),
        )
        for i in range(12)
    ]
    # the daily contract, so that one settled day with a low ROI shows compensation in the statements
    daily = EngineConfig(settlement=SettlementPolicy(default_contract=DAILY_CONTRACT))
    engine = seeded_engine(SqlStore.sqlite(tmp / "b.sqlite"), shops, products, config=daily)
    app = create_app(
        Settings(data_dir=tmp, load_catalogue=False), engine, operator_key=OPERATOR, announce=None
    )
    op = TestClient(app, headers={"Authorization": f"Bearer {OPERATOR}"})
    key = op.post("/merchants/m1/keys").json()["api_key"]
    c = op.post(
        "/campaigns",
        json={
            "merchant_id": "m1",
            "name": "Winter sale",
            "product_ids": ["p00", "p02", "p04"],
            "target_roi": "3.00",
            "daily_budget_micros": 50_000_000,
            "created_ms": day_bounds(DAY)[0],  # live before the day's events (they are checked against it)
        },
    ).json()
    reqs = [
        {"request_id": f"r{i}", "user_id": f"u{i}", "query": "usb flash drive", "slots": 2, "ts_ms": T0}
        for i in range(50)
    ]
    op.post("/serve/batch", json={"requests": reqs})
    evs = [
        {
            "id": f"k{i}",
            "kind": "click",
            "ts_ms": T0 + i,
            "user_id": f"u{i}",
            "product_id": "p00",
            "campaign_id": c["id"],
            "price_micros": 300_000,
        }
        for i in range(20)
    ] + [
        {
            "id": f"o{i}",
            "kind": "order",
            "ts_ms": T0 + 100 + i,
            "user_id": f"u{i}",
            "product_id": "p00",
            "order_value_micros": 1_000_000,
            "click_id": f"k{i}",
        }
        for i in range(3)
    ]
    op.post("/events", json={"events": evs})
    op.post("/settle", json={"day": DAY})
    op.put("/products/signals", json={"products": [{"product_id": "p06", "stock": 0}]})
    op.put(
        "/shops/metrics",
        json={"shops": [{"shop_id": "s1", "on_time_share": 0.95, "avg_rating": 4.4, "review_count": 80}]},
    )

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    assert server.started, "server did not start"
    yield f"http://127.0.0.1:{port}", key
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield b
        b.close()


def shot(page: object, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def test_log_in_create_a_campaign_see_it_listed_and_open_its_charts(
    site: tuple[str, str], browser: object
) -> None:
    base, key = site
    page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page.set_default_timeout(15_000)
    page.goto(f"{base}/ui/")
    assert page.url.endswith("/ui/login")
    shot(page, "01-login")
    page.fill("#api_key", key)
    page.click("#login")
    page.wait_for_url(f"{base}/ui/")
    page.wait_for_selector("#roi-chart .main-svg")
    assert "Merchant m1" in page.inner_text("#who")
    assert page.locator("#campaigns tbody tr").count() == 1
    shot(page, "02-campaigns")

    page.click("#new-campaign")
    page.wait_for_url(f"{base}/ui/campaigns/new")
    page.fill("#name", "Spring launch")
    page.fill("#target_roi", "2.50")
    page.fill("#budget_cny", "80.00")
    page.check("input[name=product_ids][value=p02]")
    page.check("input[name=product_ids][value=p04]")
    page.wait_for_selector("#forecast-chart .main-svg")
    assert "Expected: spend" in page.inner_text("#forecast-note")
    shot(page, "03-new-campaign-forecast")
    page.click("#save")
    page.wait_for_url(f"{base}/ui/campaigns/c-*?done=created")
    assert page.inner_text("#campaign-name") == "Spring launch"
    for chart in ("money", "roi", "traffic", "lost"):
        page.wait_for_selector(f"#chart-{chart} .main-svg")
    shot(page, "04-new-campaign-detail")

    page.goto(f"{base}/ui/")
    row = page.locator("#campaigns tbody tr", has_text="Spring launch")
    assert row.count() == 1 and "2.50" in row.inner_text()
    page.click('#campaigns a:has-text("Winter sale")')
    page.wait_for_selector("#chart-money .main-svg")
    assert page.locator("#statements tr[data-triggered=yes]").count() == 1  # ROI 0.5 < 3: compensated
    assert "No lost auctions" not in page.inner_text("#losses")  # two slots for twelve products: some lose
    shot(page, "05-campaign-charts")

    page.goto(f"{base}/ui/products?only=ineligible")
    assert "p06" in page.inner_text("#products-table")
    shot(page, "06-products-eligibility")
    page.goto(f"{base}/ui/products/p06")
    assert page.inner_text("#verdict") == "not eligible"
    page.fill("#message", "We restocked 40 units this morning.")
    page.click("#appeal")
    page.wait_for_url(f"{base}/ui/products/p06?done=appealed")
    assert "Appeal sent" in page.inner_text("#flash") and "Open" in page.inner_text("main")
    shot(page, "07-product-appeal")
    page.goto(f"{base}/ui/shops")
    page.wait_for_selector("[data-shop=s1] .main-svg")
    shot(page, "08-shops")
    page.close()


def test_a_wrong_key_stays_on_the_login_page(site: tuple[str, str], browser: object) -> None:
    base, _ = site
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(f"{base}/ui/login")
    page.fill("#api_key", "sw_0123456789ab_wrong")
    page.click("#login")
    assert "not valid" in page.inner_text("[role=alert]")
    page.close()
