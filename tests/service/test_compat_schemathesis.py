"""Schemathesis over the retail-media compatible routes only: generated valid and invalid bodies (and missing or
wrong keys) never get a 5xx, and every error answer is the documented array of ``{errCode, docUrl, message}``."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, settings
from test_schemathesis import make_app

from sitewide.domain.money import Micros
from sitewide.domain.types import Campaign

schemathesis = pytest.importorskip("schemathesis")

OPERATOR = "sw_00112233445566_compat-schemathesis-operator"


APP = make_app(OPERATOR, [Campaign("c1", "m1", "c1", ("p00", "p02", "p04"), Decimal("2.00"), Micros(10**9))])
schema = schemathesis.openapi.from_asgi("/openapi.json", APP).include(path_regex="^/compat/")


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_compat_routes_never_5xx_and_errors_have_the_documented_body(case) -> None:  # type: ignore[no-untyped-def]
    response = case.call(headers={"Authorization": f"Bearer {OPERATOR}"})
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text[:500]}"
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body, list) and body, response.text[:300]
        for e in body:
            assert isinstance(e["errCode"], str) and e["errCode"] and isinstance(e["docUrl"], str), e
        assert response.status_code in (400, 403, 404, 405, 422), response.status_code


def test_without_a_key_every_compat_route_is_403_invalid_api_key() -> None:
    from fastapi.testclient import TestClient

    with TestClient(APP) as c:
        for path in ("/compat/v2/auctions", "/compat/v2/events"):
            r = c.post(path, json={})
            assert r.status_code == 403 and r.json()[0]["errCode"] == "invalid_api_key", r.text
