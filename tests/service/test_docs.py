"""The API docs work offline: every asset the docs pages load is served by this process."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

ASSET = re.compile(r"""(?:src|href)=["']([^"']+)["']|url: ?["']([^"']+)["']""")


def _asset_urls(html: str) -> list[str]:
    """Every script, stylesheet, icon and spec URL a docs page names."""
    return [a or b for a, b in ASSET.findall(html)]


def test_docs_pages_load_only_local_assets(anon: TestClient) -> None:
    for page in ("/docs", "/redoc"):
        r = anon.get(page)
        assert r.status_code == 200, page
        urls = _asset_urls(r.text)
        assert urls, f"{page}: no assets found"
        external = [u for u in urls if u.startswith(("http:", "https:", "//"))]
        assert not external, f"{page} loads from the network: {external}"
        for u in urls:
            assert anon.get(u).status_code == 200, f"{page}: {u} is not served"


def test_swagger_bundle_is_the_real_script(anon: TestClient) -> None:
    r = anon.get("/docs-static/swagger-ui-bundle.js")
    assert r.status_code == 200
    assert len(r.content) > 100_000 and b"SwaggerUIBundle" in r.content


def test_root_leads_to_the_dashboard(anon: TestClient) -> None:
    r = anon.get("/", follow_redirects=False)
    assert r.status_code in (302, 307) and r.headers["location"] == "/ui/"
