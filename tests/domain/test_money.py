from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sitewide.domain.money import MoneyError, format_amount, micros, parse_amount, roi, scale


def test_parse_amount_is_exact_and_integer() -> None:
    assert parse_amount("12.34") == 12_340_000
    assert isinstance(parse_amount("0.000001"), int)
    assert parse_amount(Decimal("1e3")) == 1_000_000_000


@pytest.mark.parametrize("bad", ["abc", "1.0000001", "NaN", "inf"])
def test_parse_amount_refuses_malformed_or_too_precise(bad: str) -> None:
    with pytest.raises(MoneyError):
        parse_amount(bad)


@pytest.mark.parametrize("bad", [1.5, 2.0, True])
def test_floats_and_bools_are_not_money(bad: object) -> None:
    with pytest.raises(MoneyError):
        micros(bad)  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        parse_amount(bad)  # type: ignore[arg-type]


@given(st.integers(min_value=-(10**15), max_value=10**15), st.fractions(min_value=0, max_value=100))
def test_scale_rounds_down_exactly(amount: int, ratio: Fraction) -> None:
    got = scale(amount, ratio)
    assert isinstance(got, int)
    assert got <= amount * ratio < got + 1


def test_format_and_roi() -> None:
    assert format_amount(1_234_567_890) == "1,234.57"
    assert roi(3_000_000, 1_000_000) == 3.0
    assert roi(5, 0) is None
