"""A clock the service tests move by hand."""

from __future__ import annotations

TEST_DAY_START_MS = 1_767_571_200_000  # 2026-01-05T00:00Z, the day the tests' events happen on


class ManualClock:
    """The engine's clock in these tests: campaigns start at the beginning of the test day (events must fall
    under a live campaign); a test moves ``now`` past the day's end before settling it."""

    def __init__(self, now_ms: int = TEST_DAY_START_MS) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now

    def after(self, day_end_ms: int) -> None:
        self.now = max(self.now, day_end_ms + 3_600_000)
