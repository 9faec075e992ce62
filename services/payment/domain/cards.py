"""Card input, checked before any gateway sees it. Pure functions, no I/O.

The brief: payment details are checked carefully and invalid input gets a clear error, per
field. And payment information is protected: once checked, only the brand and the last four
digits are ever kept; the number itself is not even in a `repr`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from services.payment.domain.errors import InvalidCardDetails
from services.payment.texts import _
from shared.i18n import Text

MIN_DIGITS, MAX_DIGITS = 13, 19
MAX_YEARS_AHEAD = 20  # an expiry further out is a typo, not a card


@dataclass(frozen=True)
class CardSummary:
    """What may be stored and shown about a card."""

    brand: str
    last4: str


@dataclass(frozen=True)
class CardDetails:
    number: str = field(repr=False)
    exp_month: int
    exp_year: int

    @property
    def summary(self) -> CardSummary:
        return CardSummary(card_brand(self.number), last_four(self.number))


def digits_only(number: str) -> str:
    """Card numbers are typed with spaces or dashes between groups; those are not errors."""
    return "".join(ch for ch in number if ch not in " -")


def is_digits(text: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts '²' and other digits int() rejects."""
    return text.isascii() and text.isdigit()


def luhn_valid(number: str) -> bool:
    if not is_digits(number):
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_brand(number: str) -> str:
    """visa, mastercard, amex or other, by the issuer prefixes."""
    if number[:2] in ("34", "37"):
        return "amex"
    if number.startswith("4"):
        return "visa"
    if is_digits(number[:2]) and 51 <= int(number[:2]) <= 55:
        return "mastercard"
    if is_digits(number[:4]) and 2221 <= int(number[:4]) <= 2720:
        return "mastercard"
    return "other"


def last_four(number: str) -> str:
    return number[-4:]


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


def check_number(raw: object) -> Text | None:
    number = digits_only(_text(raw))
    if not number:
        return _("Enter the card number.")
    if not is_digits(number):
        return _("The card number may contain only digits.")
    if not MIN_DIGITS <= len(number) <= MAX_DIGITS:
        return _("The card number has {min} to {max} digits.", min=MIN_DIGITS, max=MAX_DIGITS)
    if not luhn_valid(number):
        return _("This card number is not valid; please check it.")
    return None


def parse_expiry(raw_month: object, raw_year: object, today: date) -> tuple[int, int] | dict[str, Text]:
    """(month, year) of a card still valid this month, or the errors per field.

    A card is valid through the last day of its expiry month; two-digit years mean 20xx.
    """
    month_text, year_text = _text(raw_month), _text(raw_year)
    errors: dict[str, Text] = {}
    if not is_digits(month_text) or not 1 <= int(month_text) <= 12:
        errors["exp_month"] = _("Enter the expiry month as a number from 1 to 12.")
    if not is_digits(year_text) or len(year_text) not in (2, 4):
        errors["exp_year"] = _("Enter the expiry year as YY or YYYY.")
    if errors:
        return errors
    month, year = int(month_text), int(year_text)
    year += 2000 if year < 100 else 0
    if (year, month) < (today.year, today.month):
        return {"exp_year": _("This card has expired.")}
    if year > today.year + MAX_YEARS_AHEAD:
        return {"exp_year": _("This expiry year is too far in the future.")}
    return month, year


def check_cvc(raw: object) -> Text | None:
    cvc = _text(raw)
    if not (is_digits(cvc) and 3 <= len(cvc) <= 4):
        return _("The security code (CVC) is 3 or 4 digits.")
    return None


def validate_card(number: object, exp_month: object, exp_year: object, cvc: object, today: date) -> CardDetails:
    """The checked card, or InvalidCardDetails listing every bad field at once (so the
    customer fixes the form in one go). The CVC is checked and then forgotten."""
    errors: dict[str, Text] = {}
    if message := check_number(number):
        errors["card_number"] = message
    expiry = parse_expiry(exp_month, exp_year, today)
    if isinstance(expiry, dict):
        errors.update(expiry)
    if message := check_cvc(cvc):
        errors["cvc"] = message
    if errors or isinstance(expiry, dict):
        raise InvalidCardDetails(errors)
    return CardDetails(digits_only(_text(number)), expiry[0], expiry[1])
