"""Amounts as providers write them: decimal strings in major units ("12.50" EUR, "1000"
JPY), as PayPal's `amount.value` and Alipay's `total_amount` are. Converted with the
currency's ISO 4217 exponent, digit by digit: never through a float, and never rounded (an
amount with more decimals than its currency has is not an amount we charged).
"""

from __future__ import annotations

import re

from shared.money import CURRENCY_EXPONENTS, Money, check_currency

_DECIMAL = re.compile(r"(0|[1-9][0-9]*)(?:\.([0-9]+))?")


class InvalidAmountText(ValueError):
    """A provider's amount we cannot read exactly."""


def to_major(money: Money) -> str:
    """'12.50' for 1250 EUR cents, '1000' for 1000 JPY."""
    exponent = CURRENCY_EXPONENTS[money.currency]
    if money.amount_minor < 0:
        raise InvalidAmountText("providers' amounts are never negative")
    if exponent == 0:
        return str(money.amount_minor)
    whole, fraction = divmod(money.amount_minor, 10**exponent)
    return f"{whole}.{fraction:0{exponent}d}"


def from_major(text: str, currency: str) -> Money:
    """Money from a provider's decimal string: '12.5' and '12.50' are 1250 cents; '12.505'
    EUR, '-1', '1e3', ' 12' and '12.' are refused."""
    try:
        exponent = CURRENCY_EXPONENTS[check_currency(currency)]
    except ValueError as exc:
        raise InvalidAmountText(f"unknown currency {currency!r}") from exc
    match = _DECIMAL.fullmatch(text) if text.isascii() else None
    if match is None:
        raise InvalidAmountText(f"not a decimal amount: {text!r}")
    whole, fraction = match.group(1), match.group(2) or ""
    if len(fraction) > exponent:
        raise InvalidAmountText(f"{text!r} has more decimals than {currency} has")
    return Money(int(whole) * 10**exponent + int(fraction.ljust(exponent, "0") or "0"), currency)
