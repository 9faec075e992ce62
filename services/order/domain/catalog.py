"""What a customer may top up: per-country currency, preset amounts and single top-up caps.

The brief: countries and regions may cap the amount of a single top-up, and the customer
sees those rules before paying (GET /v1/topup-options serves exactly this table).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.order.domain.errors import (
    AmountOutOfRange,
    CurrencyNotAllowed,
    MethodNotAvailable,
    UnsupportedCountry,
)
from shared.money import Money

ALL_METHODS = ("card", "paypal", "alipay", "wechat_pay")


@dataclass(frozen=True)
class CountryRule:
    currency: str
    presets_major: tuple[int, ...]
    min_major: int
    max_major: int

    def presets(self) -> list[Money]:
        return [Money.of_major(m, self.currency) for m in self.presets_major]

    @property
    def minimum(self) -> Money:
        return Money.of_major(self.min_major, self.currency)

    @property
    def maximum(self) -> Money:
        return Money.of_major(self.max_major, self.currency)


_EUR = CountryRule("EUR", (10, 20, 50, 100), 5, 500)
COUNTRY_RULES: dict[str, CountryRule] = {
    **{c: _EUR for c in ("AT", "BE", "DE", "ES", "FI", "FR", "IE", "IT", "NL", "PT")},
    "AU": CountryRule("AUD", (15, 30, 75, 150), 5, 750),
    "CA": CountryRule("CAD", (15, 30, 75, 150), 5, 700),
    "CH": CountryRule("CHF", (10, 20, 50, 100), 5, 500),
    "CN": CountryRule("CNY", (50, 100, 200, 500), 20, 3000),
    "GB": CountryRule("GBP", (10, 20, 50, 100), 5, 400),
    "HK": CountryRule("HKD", (100, 200, 500, 1000), 50, 4000),
    "JP": CountryRule("JPY", (1000, 3000, 5000, 10000), 500, 50000),
    "KR": CountryRule("KRW", (10000, 30000, 50000, 100000), 5000, 500000),
    "SG": CountryRule("SGD", (15, 30, 75, 150), 5, 700),
    "TH": CountryRule("THB", (300, 500, 1000, 2000), 100, 20000),
    "US": CountryRule("USD", (10, 20, 50, 100), 5, 500),
}


def rule_for(country: str) -> CountryRule:
    try:
        return COUNTRY_RULES[country.upper()]
    except KeyError:
        raise UnsupportedCountry(f"top-ups are not offered in {country!r}") from None


@dataclass(frozen=True)
class Catalog:
    """The rules plus which payment methods have a working gateway right now."""

    methods: tuple[str, ...]

    def check(self, country: str, amount: Money, method: str) -> CountryRule:
        rule = rule_for(country)
        if amount.currency != rule.currency:
            raise CurrencyNotAllowed(f"accounts in {country} top up in {rule.currency}, not {amount.currency}")
        if not rule.minimum <= amount <= rule.maximum:
            raise AmountOutOfRange(f"a single top-up in {country} is between {rule.minimum} and {rule.maximum}")
        if method not in self.methods:
            raise MethodNotAvailable(f"{method!r} is not available; choose one of {', '.join(self.methods)}")
        return rule
