"""Money as integer micros (1 currency unit = 1,000,000 micros).

Everything stored, summed or booked is an ``int`` of micros. Floats appear only in model outputs
(probabilities, bids before rounding) and are converted at one place, :func:`micros_from_float`,
with an explicit rounding rule.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from fractions import Fraction
from typing import NewType

Micros = NewType("Micros", int)

MICROS_PER_UNIT = 1_000_000


class MoneyError(ValueError):
    """A value that cannot be money: a float where an int is required, a malformed amount, NaN."""


def micros(value: int) -> Micros:
    """Check that ``value`` is an integer amount of micros (bool and float are refused)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise MoneyError(f"money must be integer micros, got {type(value).__name__} {value!r}")
    return Micros(value)


def parse_amount(text: str | int | Decimal) -> Micros:
    """Parse a decimal amount in currency units ("12.34") into micros, exactly.

    More than six decimal places is an error, not a silent rounding.
    """
    if isinstance(text, bool) or isinstance(text, float):
        raise MoneyError(f"amounts are parsed from strings or Decimals, not {type(text).__name__}")
    try:
        d = Decimal(text) if not isinstance(text, Decimal) else text
    except InvalidOperation as exc:
        raise MoneyError(f"not a decimal amount: {text!r}") from exc
    if not d.is_finite():
        raise MoneyError(f"not a finite amount: {text!r}")
    scaled = d * MICROS_PER_UNIT
    if scaled != scaled.to_integral_value():
        raise MoneyError(f"amount {text!r} has more than 6 decimal places")
    return Micros(int(scaled))


def format_amount(value: int, places: int = 2) -> str:
    """Render micros as a decimal string in currency units, rounded half-even to ``places``."""
    d = (Decimal(micros(value)) / MICROS_PER_UNIT).quantize(Decimal(1).scaleb(-places), ROUND_HALF_EVEN)
    return f"{d:,}"


def micros_from_float(value: float) -> Micros:
    """Round a model-side float amount (already in micros) to integer micros, half to even."""
    if value != value or value in (float("inf"), float("-inf")):
        raise MoneyError(f"cannot convert {value!r} to micros")
    return Micros(round(value))


def scale(amount: int, ratio: Fraction | Decimal | int) -> Micros:
    """``amount × ratio`` rounded down to whole micros, computed exactly (no float)."""
    r = Fraction(ratio) if not isinstance(ratio, Fraction) else ratio
    return Micros((micros(amount) * r.numerator) // r.denominator)


def roi(gmv: int, spend: int) -> float | None:
    """Return on investment, GMV ÷ spend; ``None`` when nothing was spent."""
    if micros(spend) == 0:
        return None
    return micros(gmv) / spend


class HasRoi:
    """A mixin for a frozen dataclass of totals with ``spend_micros`` and ``gmv_micros`` (net of refunds): their
    :func:`roi`."""

    __slots__ = ()
    spend_micros: int
    gmv_micros: int

    @property
    def roi(self) -> float | None:
        return roi(self.gmv_micros, self.spend_micros)


def acos(spend: int, gmv: int) -> float | None:
    """Advertising cost of sales, spend ÷ GMV; ``None`` when there was no GMV."""
    if micros(gmv) == 0:
        return None
    return micros(spend) / gmv
