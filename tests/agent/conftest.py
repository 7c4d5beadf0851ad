"""The agent tests' market (see ``agent_market``)."""

from __future__ import annotations

import pytest
from agent_market import Market, build_market

from sitewide.domain.types import Campaign, Product, Shop


@pytest.fixture()
def market(shops: list[Shop], products: list[Product], campaigns: list[Campaign]) -> Market:
    return build_market(shops, products, campaigns)
