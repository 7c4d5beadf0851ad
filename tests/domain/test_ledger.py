"""The transaction builder's bookings: which accounts each moves between and the keys both legs carry."""

from __future__ import annotations

import pytest

from sitewide.domain.ledger import (
    PLATFORM_COMPENSATION,
    PLATFORM_RESERVE,
    PLATFORM_REVENUE,
    EntryKeys,
    TransactionBuilder,
    cash_account,
    credit_account,
)
from sitewide.domain.types import ValidationError


def test_each_booking_moves_between_its_accounts_and_both_legs_carry_the_keys() -> None:
    tb = TransactionBuilder("t")
    day = EntryKeys("m1", "c1", "2026-01-02")
    tb.charge(5, "spend", day)
    win = EntryKeys("m1", "c1", "2026-01-04", "2026-01-02+3d")
    tb.compensate(2, "paid", win)
    tb.reserve("provision", 3, "held", EntryKeys("m1", "c1", window="2026-01-02+3d"))
    tb.reserve("release", 0, "nothing held", win)  # zero books nothing
    t = tb.build("settlement", "2026-01-05", 1)
    assert t is not None
    legs = [
        (e.account, int(e.amount_micros), e.merchant_id, e.campaign_id, e.day, e.window) for e in t.entries
    ]
    assert legs == [
        (PLATFORM_REVENUE, 5, "m1", "c1", "2026-01-02", None),
        (cash_account("m1"), -5, "m1", "c1", "2026-01-02", None),
        (credit_account("m1"), 2, "m1", "c1", "2026-01-04", "2026-01-02+3d"),
        (PLATFORM_COMPENSATION, -2, "m1", "c1", "2026-01-04", "2026-01-02+3d"),
        (PLATFORM_RESERVE, 3, "m1", "c1", None, "2026-01-02+3d"),
        (PLATFORM_COMPENSATION, -3, "m1", "c1", None, "2026-01-02+3d"),
    ]


def test_a_booking_on_a_merchants_account_needs_the_merchant() -> None:
    tb = TransactionBuilder("t")
    with pytest.raises(ValidationError):
        tb.charge(5, "spend", EntryKeys(campaign_id="c1"))
    with pytest.raises(ValidationError):
        tb.compensate(5, "paid", EntryKeys())
    with pytest.raises(ValidationError):
        tb.reserve("hold", 1, "?", EntryKeys("m1"))
    assert tb.build("settlement", "p", 1) is None  # nothing half-written
