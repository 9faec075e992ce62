"""Promotions: campaigns that make the charge smaller than the credit.

The brief names spend-threshold discounts ("spend 100, get 10 off") and percentage
discounts. Campaigns come from one configuration file (services/order/promotions.toml,
read and checked at start by services/order/campaigns.py): their amounts per currency,
an optional window, an optional promo code the customer must enter, and their name and
description in every language we speak. Campaigns do not stack: the customer gets the best
single one they qualify for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from babel.numbers import format_percent

from services.order.domain.errors import PromoCodeInvalid, PromoCodeNotApplicable
from services.order.texts import _
from shared.i18n import babel_locale, localize, supported
from shared.money import Money


@dataclass(frozen=True)
class Wording:
    """Words from the configuration, one template per language, with `{placeholders}`
    filled by the campaign's own values for the customer's currency."""

    templates: Mapping[str, str]

    def render(self, language: str, values: Mapping[str, Any]) -> str:
        template = self.templates.get(supported(language)) or self.templates["en"]
        return template.format(**{name: localize(value, language) for name, value in values.items()})


@dataclass(frozen=True)
class Percent:
    basis_points: int

    def render(self, language: str) -> str:
        return str(format_percent(Decimal(self.basis_points) / 10_000, locale=babel_locale(language)))


@dataclass(frozen=True)
class Campaign:
    code: str
    name: Wording
    description: Wording
    promo_code: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    currencies: frozenset[str] = field(default_factory=frozenset)

    def open_at(self, now: datetime) -> bool:
        return (self.starts_at is None or self.starts_at <= now) and (self.ends_at is None or now < self.ends_at)

    def offered_in(self, currency: str) -> bool:
        return currency in self.currencies

    def discount(self, credit: Money) -> Money:
        raise NotImplementedError

    def values(self, currency: str) -> dict[str, Any]:
        """What the wording's placeholders stand for, in `currency`."""
        raise NotImplementedError

    def named(self, language: str, currency: str) -> str:
        return self.name.render(language, self.values(currency))

    def described(self, language: str, currency: str) -> str:
        return self.description.render(language, self.values(currency))


@dataclass(frozen=True)
class SpendThreshold(Campaign):
    """Spend at least `threshold`, get `off` off (whole units of each currency)."""

    threshold_major: Mapping[str, int] = field(default_factory=dict)
    off_major: Mapping[str, int] = field(default_factory=dict)

    def discount(self, credit: Money) -> Money:
        currency = credit.currency
        if self.offered_in(currency) and credit >= Money.of_major(self.threshold_major[currency], currency):
            return Money.of_major(self.off_major[currency], currency)
        return Money.zero(currency)

    def values(self, currency: str) -> dict[str, Any]:
        return {"threshold": Money.of_major(self.threshold_major[currency], currency),
                "off": Money.of_major(self.off_major[currency], currency)}


@dataclass(frozen=True)
class PercentageOff(Campaign):
    """`basis_points`/100 percent off top-ups of at least `minimum` (whole units)."""

    basis_points: int = 0
    minimum_major: Mapping[str, int] = field(default_factory=dict)

    def discount(self, credit: Money) -> Money:
        currency = credit.currency
        if self.offered_in(currency) and credit >= Money.of_major(self.minimum_major[currency], currency):
            return credit.percent(self.basis_points)
        return Money.zero(currency)

    def values(self, currency: str) -> dict[str, Any]:
        return {"percent": Percent(self.basis_points),
                "minimum": Money.of_major(self.minimum_major[currency], currency)}


@dataclass(frozen=True)
class Pricing:
    credit: Money
    charge: Money
    promotion: Campaign | None

    @property
    def discount(self) -> Money:
        return self.credit - self.charge

    @property
    def promotion_code(self) -> str | None:
        return self.promotion.code if self.promotion else None


def offered(campaigns: tuple[Campaign, ...], currency: str, now: datetime) -> list[Campaign]:
    """The campaigns a customer in `currency` gets without a code, today (what the top-up
    options list; a promo code is for those who were given it)."""
    return [c for c in campaigns if c.promo_code is None and c.open_at(now) and c.offered_in(currency)]


def coded(campaigns: tuple[Campaign, ...], promo_code: str, credit: Money, now: datetime) -> Campaign:
    """The campaign a promo code unlocks for this top-up; refused if there is none now."""
    wanted = promo_code.strip().upper()
    match = next((c for c in campaigns if c.promo_code == wanted), None)
    if match is None or not match.offered_in(credit.currency):
        raise PromoCodeInvalid(_("The promo code {code} does not exist.", code=wanted))
    if not match.open_at(now):
        raise PromoCodeInvalid(_("The promo code {code} is not valid at this time.", code=wanted))
    off = match.discount(credit)
    if not (Money.zero(credit.currency) < off < credit):
        raise PromoCodeNotApplicable(_("The promo code {code} does not apply to this amount: {terms}",
                                       code=wanted, terms=CampaignTerms(match, credit.currency)))
    return match


@dataclass(frozen=True)
class CampaignTerms:
    """A campaign's description, rendered in the reader's language inside another text."""

    campaign: Campaign
    currency: str

    def render(self, language: str) -> str:
        return self.campaign.described(language, self.currency)


def price(credit: Money, campaigns: tuple[Campaign, ...], now: datetime, promo_code: str | None = None) -> Pricing:
    eligible = offered(campaigns, credit.currency, now)
    if promo_code:
        eligible.append(coded(campaigns, promo_code, credit, now))
    best: tuple[Money, Campaign | None] = (Money.zero(credit.currency), None)
    for campaign in eligible:
        off = campaign.discount(credit)
        if off > best[0] and off < credit:
            best = (off, campaign)
    return Pricing(credit=credit, charge=credit - best[0], promotion=best[1])
