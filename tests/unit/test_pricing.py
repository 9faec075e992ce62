from datetime import UTC, datetime, timedelta

import pytest

from services.order.domain.catalog import Catalog
from services.order.domain.errors import (
    AmountOutOfRange,
    CurrencyNotAllowed,
    MethodNotAvailable,
    QuoteAlreadyUsed,
    QuoteExpired,
    UnsupportedCountry,
)
from services.order.domain.promotions import price
from services.order.domain.quotes import check_quote_usable, make_quote
from shared.money import Money

NOW = datetime(2026, 11, 24, tzinfo=UTC)
CATALOG = Catalog(methods=("card",))


def quote(country: str, amount: int, currency: str, method: str = "card"):  # type: ignore[no-untyped-def]
    return make_quote(CATALOG, country, Money(amount, currency), method, now=NOW, ttl=timedelta(minutes=15),
                      validity_days=365)


def test_spend_100_get_10_off() -> None:
    terms = quote("DE", 10000, "EUR")
    assert (terms.credit, terms.charge, terms.promotion) == (Money(10000, "EUR"), Money(9000, "EUR"), "SPEND100GET10")


def test_the_best_single_promotion_wins() -> None:
    pricing = price(Money(40000, "EUR"))
    assert pricing.promotion == "BIG5" and pricing.charge == Money(38000, "EUR")


def test_small_top_up_pays_full_price() -> None:
    terms = quote("DE", 2000, "EUR")
    assert terms.charge == terms.credit and terms.promotion is None


def test_country_cap_on_a_single_top_up() -> None:
    quote("CN", 300000, "CNY")
    with pytest.raises(AmountOutOfRange):
        quote("CN", 300001, "CNY")
    with pytest.raises(AmountOutOfRange):
        quote("DE", 499, "EUR")


def test_currency_must_be_the_countrys() -> None:
    with pytest.raises(CurrencyNotAllowed):
        quote("DE", 1000, "USD")


def test_unknown_country_and_unavailable_method_are_refused() -> None:
    with pytest.raises(UnsupportedCountry):
        quote("ZZ", 1000, "EUR")
    with pytest.raises(MethodNotAvailable):
        quote("DE", 1000, "EUR", method="paypal")


def test_quote_expiry_and_single_use() -> None:
    terms = quote("DE", 1000, "EUR")
    check_quote_usable(terms.expires_at, None, NOW)
    with pytest.raises(QuoteExpired):
        check_quote_usable(terms.expires_at, None, terms.expires_at)
    with pytest.raises(QuoteAlreadyUsed):
        check_quote_usable(terms.expires_at, "ord_1", NOW)
