"""Time in the system: UTC epoch milliseconds, calendar days ``YYYY-MM-DD``, and the wall clock.

Every module that needs the length of a day or a day's bounds takes them from here. ``SystemClock`` reads the
wall clock only when asked (it satisfies the ``Clock`` port); the simulator and the tests pass their own.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

HOUR_MS = 3_600_000
DAY_MS = 86_400_000


class SystemClock:
    """The wall clock, epoch milliseconds."""

    def now_ms(self) -> int:
        return int(time.time() * 1000)


def day_of(ts_ms: int) -> str:
    """The UTC calendar day of an epoch-ms timestamp, ``YYYY-MM-DD``."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d")


def day_bounds(day: str) -> tuple[int, int]:
    """``[start, end)`` epoch ms of a UTC calendar day ``YYYY-MM-DD``."""
    start = int(datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp() * 1000)
    return start, start + DAY_MS
