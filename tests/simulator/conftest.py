from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from sitewide.simulator.config import SimConfig  # noqa: E402


@pytest.fixture
def tiny() -> SimConfig:
    """A market small enough for many runs per test session."""
    return SimConfig(
        days=2,
        users=150,
        merchants=5,
        products=200,
        ticks_per_day=12,
        seed=3,
        target_cvr=0.05,
        bot_share=0.05,
    )
