"""Money as a value type: an integer count of minor units and its ISO 4217 currency.

Floats never hold money here: a top-up of 10.10 must credit exactly 1010 cents, and two
amounts in different currencies must never be added by accident.
"""

from __future__ import annotations

from dataclasses import dataclass

# ISO 4217 minor-unit exponents of the currencies the product sells in.
CURRENCY_EXPONENTS: dict[str, int] = {
    "AUD": 2, "CAD": 2, "CHF": 2, "CNY": 2, "EUR": 2, "GBP": 2, "HKD": 2, "JPY": 0,
    "KRW": 0, "SGD": 2, "THB": 2, "USD": 2,
}


class CurrencyMismatch(ValueError):
    """Two amounts of different currencies met in one calculation."""


class UnknownCurrency(ValueError):
    """A currency code that is not one of the ISO 4217 codes we sell in."""


def check_currency(code: str) -> str:
    if code not in CURRENCY_EXPONENTS:
        raise UnknownCurrency(code)
    return code


@dataclass(frozen=True, order=False)
class Money:
    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount_minor, bool) or not isinstance(self.amount_minor, int):
            raise TypeError("money is an integer number of minor units")
        check_currency(self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def of_major(cls, major: int, currency: str) -> Money:
        """Whole major units (e.g. 100 EUR) as money; used for configured limits."""
        return cls(major * 10 ** CURRENCY_EXPONENTS[check_currency(currency)], currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(f"{self.currency} vs {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount_minor + other.amount_minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount_minor - other.amount_minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount_minor, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount_minor < other.amount_minor

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount_minor <= other.amount_minor

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount_minor > other.amount_minor

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount_minor >= other.amount_minor

    def percent(self, basis_points: int) -> Money:
        """A share of this amount, rounded half down so a discount never overshoots."""
        return Money(self.amount_minor * basis_points // 10_000, self.currency)

    def format(self) -> str:
        """Human form for receipts: '12.50 EUR', '1000 JPY'."""
        exp = CURRENCY_EXPONENTS[self.currency]
        sign = "-" if self.amount_minor < 0 else ""
        whole, frac = divmod(abs(self.amount_minor), 10**exp) if exp else (abs(self.amount_minor), 0)
        text = f"{whole}.{frac:0{exp}d}" if exp else str(whole)
        return f"{sign}{text} {self.currency}"

    def __str__(self) -> str:
        return self.format()
