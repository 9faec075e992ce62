"""Credits as lots: each top-up's credit is kept apart with its expiry, so that the balance
can be spent in the right order and its rest expire on time. No I/O here.

The brief: a credit has a validity period, shown before payment. So a debit spends the
credits that expire first (the customer loses as little as possible to expiry), money past
its validity is not spendable even before the wallet has booked its expiry, and a reversed
debit goes back to the very credits it was taken from, keeping their original expiry.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.wallet.domain.errors import InsufficientFunds
from shared.money import Money


@dataclass(frozen=True)
class Lot:
    lot_id: str
    remaining: Money
    expires_at: datetime

    def valid_at(self, now: datetime) -> bool:
        return now < self.expires_at


@dataclass(frozen=True)
class Allocation:
    """The part of a debit taken from one lot."""

    lot_id: str
    amount: Money


def spendable(lots: Iterable[Lot], currency: str, now: datetime) -> Money:
    total = Money.zero(currency)
    for lot in lots:
        if lot.valid_at(now):
            total += lot.remaining
    return total


def allocate(lots: Sequence[Lot], amount: Money, now: datetime) -> list[Allocation]:
    """Which credits pay `amount`: the soonest to expire first (ties: as given, oldest
    first). Raises InsufficientFunds when the valid credits do not cover it."""
    left = amount
    allocations: list[Allocation] = []
    for lot in sorted((lot for lot in lots if lot.valid_at(now) and lot.remaining.amount_minor > 0),
                      key=lambda lot: lot.expires_at):
        if left.amount_minor == 0:
            break
        take = min(lot.remaining.amount_minor, left.amount_minor)
        allocations.append(Allocation(lot.lot_id, Money(take, amount.currency)))
        left -= Money(take, amount.currency)
    if left.amount_minor:
        raise InsufficientFunds(f"{amount} asked, {amount - left} available")
    return allocations


def due_to_expire(lots: Iterable[Lot], now: datetime) -> list[Lot]:
    return [lot for lot in lots if not lot.valid_at(now) and lot.remaining.amount_minor > 0]


def remind_at(created_at: datetime, expires_at: datetime, before: timedelta) -> datetime | None:
    """When to remind the owner that a credit will expire: `before` its expiry, once. A
    credit that is valid for less than that is never reminded of: its receipt already
    says when it ends, and a reminder at the moment of the top-up would be noise."""
    moment = expires_at - before
    return moment if moment > created_at else None


def crossed_low_balance(before: Money, after: Money, threshold: Money) -> bool:
    """The brief: remind customers to top up before the balance runs out. Once, when a
    debit or an expiry takes the balance from at or above the threshold to below it; the
    next reminder needs the balance back at or above the threshold first (a top-up)."""
    return before >= threshold > after
