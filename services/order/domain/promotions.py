"""Promotions: campaigns that make the charge smaller than the credit.

The brief names spend-threshold discounts ("spend 100, get 10 off") and percentage
discounts. Campaigns do not stack: the customer gets the best single one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from shared.money import Money


class Campaign(Protocol):
    @property
    def code(self) -> str: ...

    def discount(self, credit: Money) -> Money: ...


@dataclass(frozen=True)
class SpendThreshold:
    """Spend at least `threshold_major`, get `off_major` off (both in the top-up's currency)."""

    code: str
    threshold_major: int
    off_major: int
    currencies: frozenset[str]

    def discount(self, credit: Money) -> Money:
        if credit.currency in self.currencies and credit >= Money.of_major(self.threshold_major, credit.currency):
            return Money.of_major(self.off_major, credit.currency)
        return Money.zero(credit.currency)


@dataclass(frozen=True)
class PercentageOff:
    """`basis_points`/100 percent off top-ups of at least `min_major`."""

    code: str
    basis_points: int
    min_major: int
    currencies: frozenset[str]

    def discount(self, credit: Money) -> Money:
        if credit.currency in self.currencies and credit >= Money.of_major(self.min_major, credit.currency):
            return credit.percent(self.basis_points)
        return Money.zero(credit.currency)


_MAJOR = frozenset({"AUD", "CAD", "CHF", "EUR", "GBP", "SGD", "USD"})
CAMPAIGNS: tuple[Campaign, ...] = (
    SpendThreshold("SPEND100GET10", threshold_major=100, off_major=10, currencies=_MAJOR),
    PercentageOff("BIG5", basis_points=500, min_major=300, currencies=_MAJOR),
)


@dataclass(frozen=True)
class Pricing:
    credit: Money
    charge: Money
    promotion: str | None

    @property
    def discount(self) -> Money:
        return self.credit - self.charge


def price(credit: Money, campaigns: tuple[Campaign, ...] = CAMPAIGNS) -> Pricing:
    best: tuple[Money, str | None] = (Money.zero(credit.currency), None)
    for campaign in campaigns:
        off = campaign.discount(credit)
        if off > best[0] and off < credit:
            best = (off, campaign.code)
    return Pricing(credit=credit, charge=credit - best[0], promotion=best[1])
