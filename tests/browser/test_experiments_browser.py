"""The experiments console in a real browser: start a title test on a campaign, watch it, stop it keeping B.
Screenshots under ``artifacts/screenshots/``; skips without Debian's Chromium, like the dashboard's tests."""

from __future__ import annotations

from test_dashboard_browser import browser, pytestmark, shot, site  # the same server, browser and skip rule

__all__ = ["browser", "pytestmark", "site"]


def test_start_watch_and_stop_an_experiment(site: tuple[str, str], browser: object) -> None:
    base, key = site
    page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page.set_default_timeout(15_000)
    page.goto(f"{base}/ui/login")
    page.fill("#api_key", key)
    page.click("#login")
    page.wait_for_url(f"{base}/ui/")
    page.click('header a:has-text("Experiments")')
    page.wait_for_url(f"{base}/ui/experiments")
    page.fill("#name", "Title test")
    page.select_option(
        "#campaign_id", label=page.locator("#campaign_id option", has_text="Winter sale").inner_text()
    )
    page.select_option("#kind", "creative")
    page.fill("#product_ids", "p00")
    page.fill("#a_value", "SanDisk 16GB")
    page.fill("#b_value", "SanDisk Cruzer 16GB, tiny and fast")
    page.fill("#cap_cny", "20.00")
    shot(page, "20-experiment-new")
    page.click("#create-experiment")
    page.wait_for_url(f"{base}/ui/experiments/x*")
    page.wait_for_selector("#lift-chart .main-svg")
    assert "keep running" in page.inner_text("#verdict")
    assert page.locator("#arms tbody tr").count() == 2
    shot(page, "21-experiment-watch")
    page.select_option("#winner", "B")
    page.click("#stop")
    page.wait_for_selector("#apply")
    assert page.inner_text("#status") == "Stopped" and "serving B" in page.inner_text("#verdict")
    assert "keep running" not in page.inner_text("#verdict")
    shot(page, "22-experiment-stopped")
    page.goto(f"{base}/ui/experiments")
    assert page.locator("#experiments tbody tr", has_text="Title test").count() == 1
    page.close()
