"""Credits as lots: a debit spends what expires first, expired money is not spendable, a
credit is reminded of once, and a low balance is reminded of once per crossing."""

from datetime import UTC, datetime, timedelta

import pytest

from services.wallet.domain.errors import InsufficientFunds
from services.wallet.domain.lots import (
    Allocation,
    Lot,
    allocate,
    crossed_low_balance,
    due_to_expire,
    remind_at,
    spendable,
)
from shared.money import Money

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
EUR = "EUR"


def lot(lot_id: str, remaining: int, days: float) -> Lot:
    return Lot(lot_id, Money(remaining, EUR), NOW + timedelta(days=days))


def test_a_debit_spends_the_credits_that_expire_first() -> None:
    lots = [lot("late", 5000, 300), lot("soon", 1000, 10), lot("middle", 2000, 100)]
    assert allocate(lots, Money(2500, EUR), NOW) == [Allocation("soon", Money(1000, EUR)),
                                                      Allocation("middle", Money(1500, EUR))]


def test_expired_money_is_not_spendable_even_before_its_expiry_is_booked() -> None:
    lots = [lot("gone", 1000, -1), lot("valid", 500, 1)]
    assert spendable(lots, EUR, NOW) == Money(500, EUR)
    with pytest.raises(InsufficientFunds):
        allocate(lots, Money(600, EUR), NOW)
    assert due_to_expire(lots, NOW) == [lots[0]]
    assert due_to_expire([lot("edge", 100, 0)], NOW), "a credit ends at its expires_at, not a moment later"


def test_a_debit_of_exactly_what_is_valid_empties_it() -> None:
    assert sum(a.amount.amount_minor for a in allocate([lot("a", 300, 1), lot("b", 200, 2)], Money(500, EUR), NOW)) \
        == 500


def test_the_expiry_reminder_comes_before_the_expiry_unless_the_credit_is_shorter_lived() -> None:
    created = NOW
    assert remind_at(created, NOW + timedelta(days=365), timedelta(days=7)) == NOW + timedelta(days=358)
    assert remind_at(created, NOW + timedelta(seconds=30), timedelta(days=7)) is None


@pytest.mark.parametrize(("before", "after", "crossed"), [
    (1000, 400, True),    # from above to below
    (500, 499, True),     # from exactly the threshold to below
    (400, 300, False),    # already below: no second reminder
    (1000, 500, False),   # down to the threshold, not below it
    (300, 800, False),    # a top-up
])
def test_a_low_balance_is_crossed_once(before: int, after: int, crossed: bool) -> None:
    assert crossed_low_balance(Money(before, EUR), Money(after, EUR), Money(500, EUR)) is crossed
