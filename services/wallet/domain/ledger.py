"""The ledger: accounts and immutable, balanced journal entries. No I/O here.

Double entry, signed postings: every entry's postings sum to zero per currency. A
customer's balance is the sum of the postings on `customer:<id>`; the other side of a
top-up is the money held at the gateway (`clearing:<CUR>`) and, when a promotion made the
charge smaller than the credit, the promotion budget (`promotions:<CUR>`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from enum import StrEnum

from services.wallet.domain.errors import (
    AccountFrozen,
    BalanceCapExceeded,
    CurrencyNotSupported,
    UnbalancedEntry,
)
from shared.money import Money


class AccountStatus(StrEnum):
    ACTIVE = "active"
    FROZEN = "frozen"


class EntryKind(StrEnum):
    TOPUP = "topup"


def customer_account(customer_id: str) -> str:
    return f"customer:{customer_id}"


def clearing_account(currency: str) -> str:
    return f"clearing:{currency}"


def promotions_account(currency: str) -> str:
    return f"promotions:{currency}"


@dataclass(frozen=True)
class Posting:
    account: str
    amount: Money


@dataclass(frozen=True)
class JournalEntry:
    kind: EntryKind
    order_id: str
    postings: tuple[Posting, ...]

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
    return JournalEntry(EntryKind.TOPUP, order_id, tuple(postings))
