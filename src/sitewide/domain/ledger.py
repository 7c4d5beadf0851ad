"""Double-entry ledger vocabulary: accounts, balanced postings, and the checks a ledger must pass.

Signed integer micros; every transaction sums to zero. The ledger is append-only: a correction is a new
transaction with the opposite sign, never an update.

Accounts:
- ``merchant:{id}:cash``        the merchant's cash balance; charges move money out (negative)
- ``merchant:{id}:ad_credit``   ad credit granted as ROI-guarantee compensation (positive)
- ``platform:revenue``          ad revenue (positive)
- ``platform:compensation``     compensation expense (negative = paid out to merchants, or provisioned)
- ``platform:compensation_reserve``  expected compensation of open guarantee windows (see ``domain/reserve.py``)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sitewide.domain.money import Micros, micros
from sitewide.domain.types import Conflict, LedgerEntry, Transaction, ValidationError

PLATFORM_REVENUE = "platform:revenue"
PLATFORM_COMPENSATION = "platform:compensation"
PLATFORM_RESERVE = "platform:compensation_reserve"


def cash_account(merchant_id: str) -> str:
    return f"merchant:{merchant_id}:cash"


def credit_account(merchant_id: str) -> str:
    return f"merchant:{merchant_id}:ad_credit"


def merchant_accounts(merchant_id: str) -> tuple[str, str]:
    """The merchant's own accounts (exact names, never a prefix): cash and ad credit."""
    return cash_account(merchant_id), credit_account(merchant_id)


@dataclass(frozen=True, slots=True)
class EntryKeys:
    """The structured keys both legs of one booking carry (what statements and reports select the ledger by):
    the merchant, the campaign, the UTC day and the guarantee window the money is for."""

    merchant_id: str | None = None
    campaign_id: str | None = None
    day: str | None = None
    window: str | None = None

    def merchant(self) -> str:
        if self.merchant_id is None:
            raise ValidationError("a booking on a merchant's account needs its merchant id")
        return self.merchant_id


@dataclass(frozen=True, slots=True)
class LedgerLine:
    """A stored leg with its transaction's period (what the store's ``ledger_entries`` returns)."""

    period: str
    kind: str
    entry: LedgerEntry


@dataclass(slots=True)
class TransactionBuilder:
    """Collects balanced pairs of legs for one transaction."""

    txn_id: str
    legs: list[LedgerEntry] = field(default_factory=list)

    def move(self, debit: str, credit: str, amount: int, memo: str, keys: EntryKeys = EntryKeys()) -> None:
        """``amount`` into ``debit`` and out of ``credit`` (a negative amount reverses the direction); both
        legs carry the structured ``keys``."""
        a = micros(amount)
        if a == 0:
            return
        k = keys
        for account, amt in ((debit, a), (credit, -a)):
            self.legs.append(
                LedgerEntry(
                    self.txn_id, account, Micros(amt), memo, k.merchant_id, k.campaign_id, k.day, k.window
                )
            )

    def charge(self, amount: int, memo: str, keys: EntryKeys) -> None:
        """Ad spend: out of the merchant's cash into platform revenue."""
        self.move(PLATFORM_REVENUE, cash_account(keys.merchant()), amount, memo, keys)

    def compensate(self, amount: int, memo: str, keys: EntryKeys) -> None:
        """Guarantee compensation: into the merchant's ad credit, out of the compensation expense."""
        self.move(credit_account(keys.merchant()), PLATFORM_COMPENSATION, amount, memo, keys)

    def reserve(self, kind: str, amount: int, memo: str, keys: EntryKeys) -> None:
        """A booking on the compensation reserve for one guarantee window: ``kind`` "provision" sets aside the
        window's expected compensation (a negative amount gives some back), "release" returns a judged window's
        provision to the expense account (the payout is booked on its own)."""
        if kind == "provision":
            debit, credit = PLATFORM_RESERVE, PLATFORM_COMPENSATION
        elif kind == "release":
            debit, credit = PLATFORM_COMPENSATION, PLATFORM_RESERVE
        else:
            raise ValidationError(f"a reserve booking is a provision or a release, got {kind!r}")
        self.move(debit, credit, amount, memo, keys)

    def build(self, kind: str, period: str, ts_ms: int) -> Transaction | None:
        if not self.legs:
            return None
        t = Transaction(self.txn_id, kind, period, ts_ms, tuple(self.legs))
        check_balanced([t])
        return t


def check_balanced(txns: Iterable[Transaction]) -> None:
    for t in txns:
        for e in t.entries:
            micros(int(e.amount_micros))
            if e.txn_id != t.id:
                raise Conflict(f"transaction {t.id} holds a leg of {e.txn_id}")
        if not t.balanced():
            raise Conflict(f"transaction {t.id} does not balance")


def balances(txns: Iterable[Transaction]) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in txns:
        for e in t.entries:
            out[e.account] = out.get(e.account, 0) + int(e.amount_micros)
    return {k: v for k, v in out.items()}
