from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import sitewide
from sitewide.domain.bidding import CampaignState, DualBidder
from sitewide.domain.policy_bidder import PolicyBidder
from sitewide.domain.types import ValidationError
from sitewide.models.bidding_policy import TRAINED_ROI_RANGE, BidderFactory, default_policy_path, load_policy
from sitewide.simulator.bidding_env import EnvConfig
from sitewide.training.bidding_policy import PolicyConfig, collect, save_policy, train_policy

SRC = str(Path(sitewide.__file__).resolve().parents[1])  # the checkout this test imports

TINY = PolicyConfig(
    hidden=8,
    epochs=3,
    train_seeds=(1000, 1001, 1002),
    dagger_rounds=1,
    rollouts_per_day=2,
    env=EnvConfig(impressions_per_day=6_000, ticks=8, substeps=2, campaigns_per_seed=3),
)


def test_policy_trained_with_a_fixed_seed_is_reproducible() -> None:
    a, b = train_policy(TINY), train_policy(TINY)
    assert len(a.layers) == len(b.layers) == 3
    for (wa, ba), (wb, bb) in zip(a.layers, b.layers, strict=True):
        assert np.array_equal(wa, wb) and np.array_equal(ba, bb)
    assert np.array_equal(a.mean, b.mean)


def test_a_different_seed_trains_a_different_policy() -> None:
    a = train_policy(TINY)
    c = train_policy(replace(TINY, seed=1))
    assert not np.array_equal(a.layers[0][0], c.layers[0][0])


def test_labels_are_log_multipliers_within_the_grid() -> None:
    X, y = collect(TINY.train_seeds[:1], TINY, None, np.random.default_rng(0))
    assert X.shape[0] == y.shape[0] == 3 * 8 * TINY.rollouts_per_day
    assert np.isfinite(X).all()
    assert (y >= np.log(0.1) - 1e-9).all() and (y <= np.log(20.0) + 1e-9).all()
    assert y.std() > 0  # the hindsight plan differs across campaigns and states


def test_saved_policy_loads_and_bids_the_same(tmp_path: Path) -> None:
    w = train_policy(TINY)
    p = tmp_path / "policy.pt"
    save_policy(w, p, {"note": "test"})
    assert p.stat().st_size < 1_000_000
    b1 = BidderFactory.load("learned", str(p))(3.0, 10**9)
    b2 = PolicyBidder(3.0, 10**9, load_policy(p))
    assert isinstance(b1, PolicyBidder)
    s = CampaignState(10**9, 0, 0, 0, 3.0, 1.0, 48)
    assert b1.multiplier(s) == pytest.approx(b2.multiplier(s))


def test_learned_falls_back_to_dual_when_no_policy_file(tmp_path: Path) -> None:
    assert isinstance(BidderFactory.load("learned", str(tmp_path / "missing.pt"))(3.0, 10**9), DualBidder)


def test_shipped_policy_loads_when_present() -> None:
    path = default_policy_path()
    if path is None:
        pytest.skip("no shipped policy file in this checkout")
    factory = BidderFactory.load("learned")
    a, b = factory(3.0, 10**9), factory(5.0, 10**8)
    assert isinstance(a, PolicyBidder) and isinstance(b, PolicyBidder)
    assert a.weights is b.weights  # read once, when the factory was built (no module-level cache)


def test_serving_knows_the_roi_range_the_training_default_covers() -> None:
    rois = PolicyConfig().env.target_rois
    assert TRAINED_ROI_RANGE == (min(rois), max(rois))


def test_an_unknown_bidder_kind_is_refused() -> None:
    with pytest.raises(ValidationError):
        BidderFactory.load("oracle")


def test_serving_the_policy_does_not_load_the_simulator_or_training() -> None:
    code = (
        "import sys\n"
        "from sitewide.models.bidding_policy import BidderFactory\n"
        "BidderFactory.load('learned')(3.0, 10**9)\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('sitewide.simulator', 'sitewide.training')))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": SRC})
