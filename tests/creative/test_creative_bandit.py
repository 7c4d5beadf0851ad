"""Thompson sampling over approved creatives: refuses unchecked ones, learns the best, honours pins."""

from __future__ import annotations

import numpy as np
import pytest

from sitewide.domain.creative import Angle, CheckResult, CopyDraft, Creative, Lang, Violation
from sitewide.domain.creative_bandit import CreativeRotation
from sitewide.domain.types import NotFound, ValidationError


def creative(cid: str, pid: str = "p1", angle: Angle = Angle.BRAND, passed: bool = True) -> Creative:
    chk = CheckResult(True) if passed else CheckResult(False, (Violation("price_mismatch", "x"),))
    return Creative(cid, pid, "s1", 1, CopyDraft(f"title {cid}", ("point",), Lang.EN, angle, "test"), chk)


def play(
    rot: CreativeRotation, ctr: dict[str, float], n: int, seed: int = 0, placement: str = "search"
) -> list[str]:
    rng = np.random.default_rng(seed)
    shown = []
    for i in range(n):
        (cid,) = rot.choose([f"r{i}"], ["p1"], [placement], rng)
        assert cid is not None
        shown.append(cid)
        if rng.random() < ctr[cid]:
            rot.feedback("click", f"k{i}", f"r{i}", "p1")
    return shown


def test_creatives_that_failed_the_checks_cannot_enter() -> None:
    rot = CreativeRotation()
    with pytest.raises(ValidationError, match="failed the checks"):
        rot.set_creatives("p1", [creative("a"), creative("b", passed=False)])
    assert rot.creatives("p1") == []
    with pytest.raises(ValidationError, match="another product"):
        rot.set_creatives("p1", [creative("a", pid="p2")])


@pytest.mark.parametrize("pool", [0.0, 20.0])
def test_learns_the_best_creative(pool: float) -> None:
    rot = CreativeRotation(pool_strength=pool)
    rot.set_creatives(
        "p1", [creative("a"), creative("b", angle=Angle.PRICE), creative("c", angle=Angle.REVIEW)]
    )
    ctr = {"a": 0.05, "b": 0.10, "c": 0.04}
    shown = play(rot, ctr, 6_000)
    late = shown[3_000:]
    assert late.count("b") / len(late) > 0.8
    stats = {(s.creative_id, s.placement): s for s in rot.stats("p1")}
    assert stats[("b", "search")].p_best > 0.9
    assert sum(s.impressions for s in stats.values()) == 6_000


def test_placements_learn_apart() -> None:
    rot = CreativeRotation()
    rot.set_creatives("p1", [creative("a"), creative("b")])
    play(rot, {"a": 0.2, "b": 0.02}, 2_000, placement="search")
    play(rot, {"a": 0.02, "b": 0.2}, 2_000, seed=1, placement="feed")
    best = {s.placement: s.creative_id for s in rot.stats("p1") if s.p_best > 0.5}
    assert best == {"search": "a", "feed": "b"}


def test_ctcvr_prefers_the_creative_whose_clicks_convert() -> None:
    rot = CreativeRotation(objective="ctcvr", pool_strength=0.0)
    rot.set_creatives("p1", [creative("a"), creative("b")])
    rng = np.random.default_rng(3)
    shown = []
    for i in range(6_000):
        (cid,) = rot.choose([f"r{i}"], ["p1"], ["search"], rng)
        assert cid is not None
        shown.append(cid)
        # a: more clicks, almost no orders; b: fewer clicks that convert
        if rng.random() < (0.2 if cid == "a" else 0.1):
            rot.feedback("click", f"k{i}", f"r{i}", "p1")
            if rng.random() < (0.01 if cid == "a" else 0.3):
                rot.feedback("order", f"o{i}", "", "p1", click_id=f"k{i}")
    assert shown[3_000:].count("b") > 0.8 * 3_000
    assert CreativeRotation(objective="ctr").objective == "ctr"


def test_a_pinned_creative_is_always_shown_and_still_counted() -> None:
    rot = CreativeRotation()
    rot.set_creatives("p1", [creative("a"), creative("b")])
    rot.pin("p1", "b")
    assert set(play(rot, {"a": 0.5, "b": 0.01}, 300)) == {"b"}
    assert {s.creative_id: s.impressions for s in rot.stats("p1")}["b"] == 300
    with pytest.raises(NotFound):
        rot.pin("p1", "zzz")
    rot.pin("p1", None)
    assert rot.pinned("p1") is None
    rot.pin("p1", "a")
    rot.set_creatives("p1", [creative("b")])  # the pinned creative left: the pin goes with it
    assert rot.pinned("p1") is None


def test_feedback_matches_clicks_and_orders_to_the_served_creative() -> None:
    rot = CreativeRotation()
    rot.set_creatives("p1", [creative("a")])
    rng = np.random.default_rng(0)
    assert rot.choose(["r1", "r1"], ["p1", "p9"], ["feed", "feed"], rng) == ["a", None]
    assert rot.feedback("click", "k1", "r1", "p1") == "a"
    assert rot.feedback("click", "k2", "r-unknown", "p1") is None
    assert rot.feedback("order", "o1", "", "p1", click_id="k1") == "a"
    (s,) = rot.stats("p1")
    assert (s.impressions, s.clicks, s.orders, s.placement) == (1, 1, 1, "feed")
