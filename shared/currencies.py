"""What each currency we sell in allows: the largest balance, and the default low-balance
threshold below which a customer is reminded to top up.

The order service and the wallet both need these (the order service refuses a quote that
would break the cap, the wallet refuses a credit that would), so they live here, keyed by
currency; the country table (services/order/domain/catalog.py) says which currency each
country tops up in.

Caps sit well above the largest single top-up of any country that uses the currency. The
low-balance thresholds are what a few days of data cost a traveller (about 5 euros' worth).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.money import Money


@dataclass(frozen=True)
class CurrencyRule:
    max_balance_major: int
    low_balance_major: int


CURRENCY_RULES: dict[str, CurrencyRule] = {
    "AUD": CurrencyRule(3_000, 10),
    "CAD": CurrencyRule(2_800, 10),
    "CHF": CurrencyRule(2_000, 5),
    "CNY": CurrencyRule(15_000, 40),
    "EUR": CurrencyRule(2_000, 5),
    "GBP": CurrencyRule(1_700, 5),
    "HKD": CurrencyRule(16_000, 50),
    "JPY": CurrencyRule(300_000, 1_000),
    "KRW": CurrencyRule(3_000_000, 8_000),
    "SGD": CurrencyRule(2_800, 8),
    "THB": CurrencyRule(70_000, 200),
    "USD": CurrencyRule(2_000, 5),
}


def max_balance(currency: str) -> Money:
    return Money.of_major(CURRENCY_RULES[currency].max_balance_major, currency)


def default_low_balance(currency: str) -> Money:
    return Money.of_major(CURRENCY_RULES[currency].low_balance_major, currency)
