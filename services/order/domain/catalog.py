"""What a customer may top up: per-country currency, preset amounts, single top-up caps,
and the time zone their receipts are dated in.

The brief: countries and regions may cap the amount of a single top-up, and the customer
sees those rules before paying (GET /v1/topup-options serves exactly this table). What the
currency allows (the largest balance, the default low-balance threshold) is the currency
table's, shared with the wallet (shared/currencies.py). A country spanning several zones
gets its most populous one.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.order.domain.errors import (
    AmountOutOfRange,
    CurrencyNotAllowed,
    MethodNotAvailable,
    UnsupportedCountry,
)
from services.order.texts import _
from shared.currencies import default_low_balance, max_balance
from shared.i18n import Country
from shared.money import Money

ALL_METHODS = ("card", "paypal", "alipay", "wechat_pay")


@dataclass(frozen=True)
class CountryRule:
    currency: str
    presets_major: tuple[int, ...]
    min_major: int
    max_major: int
    time_zone: str = "UTC"

    def presets(self) -> list[Money]:
        return [Money.of_major(m, self.currency) for m in self.presets_major]

    @property
    def minimum(self) -> Money:
        return Money.of_major(self.min_major, self.currency)

    @property
    def maximum(self) -> Money:
        return Money.of_major(self.max_major, self.currency)

    @property
    def max_balance(self) -> Money:
        return max_balance(self.currency)

    @property
    def low_balance(self) -> Money:
        return default_low_balance(self.currency)


def _eur(zone: str) -> CountryRule:
    return CountryRule("EUR", (10, 20, 50, 100), 5, 500, zone)


COUNTRY_RULES: dict[str, CountryRule] = {
    "AT": _eur("Europe/Vienna"), "BE": _eur("Europe/Brussels"), "DE": _eur("Europe/Berlin"),
    "ES": _eur("Europe/Madrid"), "FI": _eur("Europe/Helsinki"), "FR": _eur("Europe/Paris"),
    "IE": _eur("Europe/Dublin"), "IT": _eur("Europe/Rome"), "NL": _eur("Europe/Amsterdam"),
    "PT": _eur("Europe/Lisbon"),
    "AU": CountryRule("AUD", (15, 30, 75, 150), 5, 750, "Australia/Sydney"),
    "CA": CountryRule("CAD", (15, 30, 75, 150), 5, 700, "America/Toronto"),
    "CH": CountryRule("CHF", (10, 20, 50, 100), 5, 500, "Europe/Zurich"),
    "CN": CountryRule("CNY", (50, 100, 200, 500), 20, 3000, "Asia/Shanghai"),
    "GB": CountryRule("GBP", (10, 20, 50, 100), 5, 400, "Europe/London"),
    "HK": CountryRule("HKD", (100, 200, 500, 1000), 50, 4000, "Asia/Hong_Kong"),
    "JP": CountryRule("JPY", (1000, 3000, 5000, 10000), 500, 50000, "Asia/Tokyo"),
    "KR": CountryRule("KRW", (10000, 30000, 50000, 100000), 5000, 500000, "Asia/Seoul"),
    "SG": CountryRule("SGD", (15, 30, 75, 150), 5, 700, "Asia/Singapore"),
    "TH": CountryRule("THB", (300, 500, 1000, 2000), 100, 20000, "Asia/Bangkok"),
    "US": CountryRule("USD", (10, 20, 50, 100), 5, 500, "America/New_York"),
}


def rule_for(country: str) -> CountryRule:
    try:
        return COUNTRY_RULES[country.upper()]
    except KeyError:
        raise UnsupportedCountry(_("Top-ups are not offered in {country}.", country=Country(country))) from None


@dataclass(frozen=True)
class Catalog:
    """The rules plus which payment methods have a working gateway right now."""

    methods: tuple[str, ...]

    def check(self, country: str, amount: Money, method: str) -> CountryRule:
        rule = rule_for(country)
        if amount.currency != rule.currency:
            raise CurrencyNotAllowed(_("Accounts in {country} top up in {currency}, not {other}.",
                                       country=Country(country), currency=rule.currency, other=amount.currency))
        if not rule.minimum <= amount <= rule.maximum:
            raise AmountOutOfRange(_("A single top-up in {country} is between {minimum} and {maximum}.",
                                     country=Country(country), minimum=rule.minimum, maximum=rule.maximum))
        if method not in self.methods:
            raise MethodNotAvailable(_("This payment method is not available; choose one of: {methods}.",
                                       methods=", ".join(self.methods)))
        return rule
