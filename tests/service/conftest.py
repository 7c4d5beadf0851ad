"""An app over a small SQLite catalogue: shop s1 (merchant m1) holds the even products, s2 (m2) the odd ones.
Clients: ``op`` (operator key), ``m1`` and ``m2`` (merchant keys), ``anon`` (no key)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from clocks import ManualClock
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sitewide.domain.guarantee import DAILY_CONTRACT
from sitewide.domain.settlement import SettlementPolicy
from sitewide.domain.types import Product, Shop
from sitewide.engine import EngineConfig
from sitewide.service.app import create_app
from sitewide.settings import Settings
from sitewide.storage.sql import SqlStore
from sitewide.wiring import seeded_engine

OPERATOR_KEY = "sw_0123456789ab_operator-key-for-tests"


@pytest.fixture()
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture()
def app(tmp_path: Path, shops: list[Shop], products: list[Product], clock: ManualClock) -> FastAPI:
    settings = Settings(data_dir=tmp_path, load_catalogue=False)
    # the classic daily guarantee, so that one settled day with a low ROI pays out (the platform default judges
    # 7-day windows with ≥ 30 orders: see tests/domain/test_reserve.py)
    config = EngineConfig(settlement=SettlementPolicy(default_contract=DAILY_CONTRACT))
    engine = seeded_engine(
        SqlStore.sqlite(tmp_path / "t.sqlite"), shops, products, config=config, clock=clock
    )
    return create_app(settings, engine, operator_key=OPERATOR_KEY)


def _client(app: FastAPI, key: str | None) -> Iterator[TestClient]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with TestClient(app, headers=headers) as c:
        yield c


@pytest.fixture()
def op(app: FastAPI) -> Iterator[TestClient]:
    yield from _client(app, OPERATOR_KEY)


@pytest.fixture()
def anon(app: FastAPI) -> Iterator[TestClient]:
    yield from _client(app, None)


def merchant_key(op: TestClient, merchant_id: str) -> str:
    r = op.post(f"/merchants/{merchant_id}/keys")
    assert r.status_code == 201, r.text
    return str(r.json()["api_key"])


@pytest.fixture()
def m1(app: FastAPI, op: TestClient) -> Iterator[TestClient]:
    yield from _client(app, merchant_key(op, "m1"))


@pytest.fixture()
def m2(app: FastAPI, op: TestClient) -> Iterator[TestClient]:
    yield from _client(app, merchant_key(op, "m2"))


@pytest.fixture()
def new_key(op: TestClient) -> Callable[[str], str]:
    """Issue a fresh API key: ``new_key("m1")`` for a merchant, ``new_key("operator")`` for the operator's."""

    def issue(who: str) -> str:
        return OPERATOR_KEY if who == "operator" else merchant_key(op, who)

    return issue
