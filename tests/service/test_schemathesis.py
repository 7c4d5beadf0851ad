"""Property-based run of the OpenAPI spec: schemathesis generates requests for every operation (valid and
invalid ones) and the server must never answer with a 5xx. Bounded to a few examples per operation so that it
stays well under a minute on two cores."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, settings

from sitewide.domain.money import Micros
from sitewide.domain.types import Campaign, Product, Shop
from sitewide.service.app import create_app
from sitewide.settings import Settings
from sitewide.storage.memory import MemoryStore
from sitewide.wiring import seeded_engine

schemathesis = pytest.importorskip("schemathesis")

OPERATOR = "sw_00112233445566_schemathesis-operator"


def make_app(operator: str, campaigns: Sequence[Campaign] = ()) -> FastAPI:
    """The app the property-based runs call: eight products in two shops, ``campaigns`` over them."""
    shops = [Shop("s1", "m1", "One"), Shop("s2", "m2", "Two")]
    products = [
        Product(
            f"p{i:02d}", f"s{1 + i % 2}", f"usb flash drive model {i}", "usb drives", Micros(10_000_000 + i)
        )
        for i in range(8)
    ]
    engine = seeded_engine(MemoryStore(), shops, products, list(campaigns))
    conf = Settings(load_catalogue=False, bid_secret="schemathesis-bid-secret-0123456789")
    return create_app(conf, engine, operator_key=operator, announce=None)


APP = make_app(OPERATOR)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
# derandomize: the same generated requests on every run, so a red CI run is reproducible here (one unexplained
# failure was seen with random generation); widen exploration locally with max_examples / derandomize=False
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors(case) -> None:  # type: ignore[no-untyped-def]
    response = case.call(headers={"Authorization": f"Bearer {OPERATOR}"})
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text[:500]}"
    if response.status_code >= 400 and not case.path.startswith(
        "/compat/"
    ):  # compat: test_compat_schemathesis
        assert "detail" in response.json()
