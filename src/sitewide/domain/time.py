"""Time in the system: UTC epoch milliseconds, calendar days ``YYYY-MM-DD``, and the wall clock.

Every module that needs the length of a day, a day's bounds or a day index takes them from here. ``SystemClock`` reads the
wall clock only when asked (it satisfies the ``Clock`` port); the simulator and the tests pass their own.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from functools import lru_cache

from sitewide.domain.types import ValidationError

HOUR_MS = 3_600_000
DAY_MS = 86_400_000


class SystemClock:
    """The wall clock, epoch milliseconds."""

    def now_ms(self) -> int:
        return int(time.time() * 1000)


class ManualClock:
    """A clock that stands where it is set (simulated markets, replays, tests): ``now`` is epoch ms."""

    def __init__(self, now: int) -> None:
        self.now = now

    def now_ms(self) -> int:
        return self.now


def check_day_boundary(ts_ms: int, what: str) -> None:
    """``ts_ms`` must start a UTC day (ValidationError naming ``what`` otherwise)."""
    if ts_ms % DAY_MS:
        raise ValidationError(f"{what} {ts_ms} is not a UTC day boundary")


def day_of(ts_ms: int) -> str:
    """The UTC calendar day of an epoch-ms timestamp, ``YYYY-MM-DD``."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d")


def day_bounds(day: str) -> tuple[int, int]:
    """``[start, end)`` epoch ms of a UTC calendar day ``YYYY-MM-DD``."""
    start = int(datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp() * 1000)
    return start, start + DAY_MS


@lru_cache(maxsize=8192)  # settlement converts the same few days thousands of times a run
def day_index(day: str) -> int:
    """Days since 1970-01-01 of a UTC calendar day ``YYYY-MM-DD``; ValidationError when malformed."""
    try:
        d = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError as exc:
        raise ValidationError(f"bad day {day!r}: {exc}") from exc
    return int(d.timestamp()) // 86_400


@lru_cache(maxsize=8192)
def day_str(index: int) -> str:
    """The UTC calendar day ``YYYY-MM-DD`` of a day index (the inverse of :func:`day_index`)."""
    return datetime.fromtimestamp(index * 86_400, tz=UTC).strftime("%Y-%m-%d")
