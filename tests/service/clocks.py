"""A clock the service tests move by hand."""

from __future__ import annotations

import time

TEST_DAY_START_MS = 1_767_571_200_000  # 2026-01-05T00:00Z, the day the tests' events happen on


class ManualClock:
    """The engine's clock in these tests: it starts at the beginning of the test day (campaigns created then
    are live for the day's events) and runs at real speed from wherever a test last set it; a test moves
    ``now`` past the day's end (``after``) before settling the day."""

    def __init__(self, now_ms: int = TEST_DAY_START_MS) -> None:
        self.now = now_ms

    @property
    def now(self) -> int:
        return self._base + int((time.monotonic() - self._set_at) * 1000)

    @now.setter
    def now(self, value: int) -> None:
        self._base = value
        self._set_at = time.monotonic()

    def now_ms(self) -> int:
        return self.now

    def after(self, day_end_ms: int) -> None:
        self.now = max(self.now, day_end_ms + 3_600_000)
