"""Settlement on the operator's call: a day, a period, or by default yesterday; idempotent per period."""

from __future__ import annotations

from sitewide.domain.settlement import SettlementReport
from sitewide.domain.time import DAY_MS, day_of
from sitewide.domain.types import ValidationError
from sitewide.engine import Engine


def settle(
    engine: Engine, day: str | None, start_ms: int | None, end_ms: int | None, preview: bool
) -> SettlementReport:
    """A period that has not ended is refused unless ``preview`` (which books nothing)."""
    if (start_ms is None) != (end_ms is None):
        raise ValidationError("start_ms and end_ms: give both, or a day, or neither (yesterday)")
    if day is not None and start_ms is not None:
        raise ValidationError("day: give a day or start_ms/end_ms, not both")
    if day is not None:
        try:
            return engine.settle_day(day, preview=preview)
        except ValueError as exc:
            raise ValidationError(f"bad day {day!r}: {exc}") from exc
    if start_ms is not None and end_ms is not None:
        return engine.settle(start_ms, end_ms, preview=preview)
    return engine.settle_day(day_of(engine.clock.now_ms() - DAY_MS), preview=preview)
