"""The ledger: accounts and immutable, balanced journal entries. No I/O here.

Double entry, signed postings: every entry's postings sum to zero per currency. A
customer's balance is the sum of the postings on `customer:<id>`. The other side of each
kind of entry:

| entry | customer | other side |
|---|---|---|
| topup | + credit | `clearing:<CUR>` - charge (money held at the gateway), `promotions:<CUR>` - discount |
| debit | - amount | `sales:<CUR>` + amount (the eSIM platform sold a plan or usage) |
| debit_reversal | + amount | `sales:<CUR>` - amount (a cancelled plan, given back) |
| expiry | - rest of a credit | `expired:<CUR>` + rest (validity ended with money left) |
| adjustment | ± amount | `adjustments:<CUR>` ∓ amount (support's correction or goodwill, with a reason) |
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from enum import StrEnum

from services.wallet.domain.errors import (
    AccountFrozen,
    BalanceCapExceeded,
    CurrencyNotSupported,
    InsufficientFunds,
    UnbalancedEntry,
)
from shared.money import Money


class AccountStatus(StrEnum):
    ACTIVE = "active"
    FROZEN = "frozen"


class FreezeReason(StrEnum):
    """Why an operator froze an account: a code, so that the customer can be told in words
    of their own language (the order service says them)."""

    OVERDUE_PAYMENT = "overdue_payment"
    SUSPECTED_FRAUD = "suspected_fraud"
    CUSTOMER_REQUEST = "customer_request"
    COMPLIANCE_REVIEW = "compliance_review"
    OTHER = "other"


class EntryKind(StrEnum):
    TOPUP = "topup"
    DEBIT = "debit"
    DEBIT_REVERSAL = "debit_reversal"
    EXPIRY = "expiry"
    #: a credited top-up taken back after its payment was refunded (an operator's decision)
    REVERSAL = "reversal"
    #: an operator's correction
    ADJUSTMENT = "adjustment"


def customer_account(customer_id: str) -> str:
    return f"customer:{customer_id}"


def clearing_account(currency: str) -> str:
    return f"clearing:{currency}"


def promotions_account(currency: str) -> str:
    return f"promotions:{currency}"


def sales_account(currency: str) -> str:
    return f"sales:{currency}"


def expired_account(currency: str) -> str:
    return f"expired:{currency}"


def adjustments_account(currency: str) -> str:
    return f"adjustments:{currency}"


@dataclass(frozen=True)
class Posting:
    account: str
    amount: Money


@dataclass(frozen=True)
class JournalEntry:
    """`order_id` for a top-up; `reference` names what else the entry is about (a debit,
    the credit that expired); `description` is what the customer's statement says."""

    kind: EntryKind
    order_id: str | None
    postings: tuple[Posting, ...]
    reference: str | None = None
    description: str | None = None

    def __post_init__(self) -> None:
        if len(self.postings) < 2:
            raise UnbalancedEntry("an entry moves money between at least two accounts")
        totals: dict[str, int] = defaultdict(int)
        for posting in self.postings:
            totals[posting.amount.currency] += posting.amount.amount_minor
        if any(totals.values()):
            raise UnbalancedEntry(f"postings do not sum to zero: {dict(totals)}")

    def amount_for(self, account: str) -> int:
        return sum(p.amount.amount_minor for p in self.postings if p.account == account)


@dataclass(frozen=True)
class Account:
    customer_id: str
    currency: str
    status: AccountStatus
    balance: Money

    def check_can_receive(self, credit: Money, cap: Money) -> None:
        """Raise the reason this account may not take `credit` now; return if it may."""
        if self.status is AccountStatus.FROZEN:
            raise AccountFrozen(f"account {self.customer_id} is frozen")
        if credit.currency != self.currency:
            raise CurrencyNotSupported(f"account holds {self.currency}, not {credit.currency}")
        if self.balance + credit > cap:
            raise BalanceCapExceeded(f"balance would exceed {cap}")

    def check_can_spend(self, amount: Money, spendable: Money) -> None:
        """Raise the reason this account may not pay `amount` now. `spendable` is what its
        credits still valid hold (money past its validity is not spendable, even before
        the wallet has booked its expiry)."""
        if self.status is AccountStatus.FROZEN:
            raise AccountFrozen(f"account {self.customer_id} is frozen")
        if amount.currency != self.currency:
            raise CurrencyNotSupported(f"account holds {self.currency}, not {amount.currency}")
        if amount > spendable:
            raise InsufficientFunds(f"{amount} asked, {spendable} available")


def topup_entry(account: Account, order_id: str, credit: Money, charge: Money) -> JournalEntry:
    """The entry for a paid top-up: the customer gets `credit`; the gateway holds `charge`;
    a promotion pays the difference."""
    postings = [
        Posting(customer_account(account.customer_id), credit),
        Posting(clearing_account(charge.currency), -charge),
    ]
    discount = credit - charge
    if discount.amount_minor:
        postings.append(Posting(promotions_account(credit.currency), -discount))
    return JournalEntry(EntryKind.TOPUP, order_id, tuple(postings), reference=order_id)


def debit_entry(account: Account, debit_id: str, amount: Money, description: str) -> JournalEntry:
    return JournalEntry(EntryKind.DEBIT, None, (
        Posting(customer_account(account.customer_id), -amount),
        Posting(sales_account(amount.currency), amount),
    ), reference=debit_id, description=description)


def debit_reversal_entry(account: Account, debit_id: str, amount: Money, description: str) -> JournalEntry:
    return JournalEntry(EntryKind.DEBIT_REVERSAL, None, (
        Posting(customer_account(account.customer_id), amount),
        Posting(sales_account(amount.currency), -amount),
    ), reference=debit_id, description=description)


def expiry_entry(account: Account, lot_id: str, rest: Money) -> JournalEntry:
    """The part of a credit still unspent when its validity ended leaves the balance. The
    entry names the credit (lot), not the order it came from: the money check sums an
    order's entries as what the order put on the balance."""
    return JournalEntry(EntryKind.EXPIRY, None, (
        Posting(customer_account(account.customer_id), -rest),
        Posting(expired_account(rest.currency), rest),
    ), reference=lot_id)


def adjustment_entry(account: Account, adjustment_id: str, amount: Money) -> JournalEntry:
    """Support puts money on the balance (goodwill, a correction in the customer's favour)
    or takes it off (a correction the other way): `amount` is signed, the customer's side."""
    return JournalEntry(EntryKind.ADJUSTMENT, None, (
        Posting(customer_account(account.customer_id), amount),
        Posting(adjustments_account(amount.currency), -amount),
    ), reference=adjustment_id)
