"""bench/load.py's max sustainable rate (what the soak runs at 70 % of): the median of the closed loop's thirds
whose p99 is bounded, not the whole minute's mean, so one fast stretch does not set it (issue 24)."""

from __future__ import annotations

from test_load_cpu import _load_bench


def test_max_is_the_median_of_the_bounded_thirds_not_the_mean() -> None:
    Sustained = _load_bench().Sustained
    fast_start = Sustained(275.0, 60.0, 8, (330.0, 240.0, 255.0), (24.0, 33.0, 31.0), (60.0, 80.0, 75.0))
    assert fast_start.rps == 255.0  # the median third; the mean (275) is what one fast third pulls up
    assert "old figure, the whole run's mean: 275.0" in fast_start.describe()
    stalled = Sustained(240.0, 60.0, 8, (250.0, 300.0, 170.0), (30.0, 25.0, 45.0), (70.0, 65.0, 900.0))
    assert stalled.rps == 275.0  # the stalled third (p99 > 2x the median p99) is not a sustained window
    assert Sustained(200.0, 60.0, 8, (190.0, 210.0, 200.0), (30.0, 29.0, 31.0)).rps == 200.0
