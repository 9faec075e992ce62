"""Quotes: the country's rules, the currency's cap, the promotions of the shipped file, and
the credit's validity, before anyone pays."""

from datetime import UTC, datetime, timedelta

import pytest

from services.order.campaigns import load_campaigns
from services.order.domain.catalog import COUNTRY_RULES, Catalog
from services.order.domain.errors import (
    AmountOutOfRange,
    BalanceCapExceeded,
    CurrencyNotAllowed,
    MethodNotAvailable,
    PromoCodeInvalid,
    PromoCodeNotApplicable,
    QuoteAlreadyUsed,
    QuoteExpired,
    UnsupportedCountry,
)
from services.order.domain.promotions import offered, price
from services.order.domain.quotes import QuoteTerms, check_quote_usable, make_quote
from shared.currencies import CURRENCY_RULES, max_balance
from shared.money import CURRENCY_EXPONENTS, Money

NOW = datetime(2026, 11, 24, tzinfo=UTC)
CATALOG = Catalog(methods=("card",))
CAMPAIGNS = load_campaigns()


def quote(country: str, amount: int, currency: str, method: str = "card", balance: Money | None = None,
          promo_code: str | None = None, now: datetime = NOW) -> QuoteTerms:
    return make_quote(CATALOG, country, Money(amount, currency), method, now=now, ttl=timedelta(minutes=15),
                      validity=timedelta(days=365), campaigns=CAMPAIGNS, balance=balance, promo_code=promo_code)


def test_spend_100_get_10_off() -> None:
    terms = quote("DE", 10000, "EUR")
    assert (terms.credit, terms.charge) == (Money(10000, "EUR"), Money(9000, "EUR"))
    assert terms.promotion is not None and terms.promotion.code == "SPEND100GET10"


def test_the_best_single_promotion_wins() -> None:
    pricing = price(Money(40000, "EUR"), CAMPAIGNS, NOW)
    assert pricing.promotion_code == "BIG5" and pricing.charge == Money(38000, "EUR")


def test_every_currency_we_sell_in_has_promotions_and_rules() -> None:
    assert set(CURRENCY_RULES) == set(CURRENCY_EXPONENTS)
    for currency in CURRENCY_EXPONENTS:
        assert offered(CAMPAIGNS, currency, NOW), currency
    for country, rule in COUNTRY_RULES.items():
        assert rule.maximum <= max_balance(rule.currency), f"{country}: a single top-up fits an empty balance"


def test_small_top_up_pays_full_price() -> None:
    terms = quote("DE", 2000, "EUR")
    assert terms.charge == terms.credit and terms.promotion is None


def test_the_credit_is_valid_until_the_moment_shown_on_the_quote() -> None:
    terms = quote("DE", 2000, "EUR")
    assert terms.valid_until == NOW + timedelta(days=365) and terms.validity_days == 365


def test_country_cap_on_a_single_top_up() -> None:
    quote("CN", 300000, "CNY")
    with pytest.raises(AmountOutOfRange):
        quote("CN", 300001, "CNY")
    with pytest.raises(AmountOutOfRange):
        quote("DE", 499, "EUR")


def test_the_balance_cap_belongs_to_the_currency_and_is_refused_before_paying() -> None:
    assert quote("KR", 30000, "KRW", balance=Money(0, "KRW")).credit == Money(30000, "KRW")
    assert quote("JP", 20000, "JPY", balance=Money(0, "JPY")).credit == Money(20000, "JPY")
    with pytest.raises(BalanceCapExceeded) as refused:
        quote("DE", 10000, "EUR", balance=Money(195_001, "EUR"))
    assert "€2,000.00" in str(refused.value.detail) and "€2,050.01" in str(refused.value.detail)
    assert "€2,000.00" in refused.value.detail.render("zh-CN") and "本次充值" in refused.value.detail.render("zh-CN")


def test_currency_must_be_the_countrys() -> None:
    with pytest.raises(CurrencyNotAllowed):
        quote("DE", 1000, "USD")


def test_unknown_country_and_unavailable_method_are_refused() -> None:
    with pytest.raises(UnsupportedCountry):
        quote("ZZ", 1000, "EUR")
    with pytest.raises(MethodNotAvailable):
        quote("DE", 1000, "EUR", method="paypal")


def test_a_refusal_names_the_country_in_the_readers_language() -> None:
    with pytest.raises(AmountOutOfRange) as refused:
        quote("DE", 499, "EUR")
    assert str(refused.value.detail) == "A single top-up in Germany is between €5.00 and €500.00."
    assert refused.value.detail.render("zh-CN") == "德国的单笔充值金额须在 €5.00 至 €500.00 之间。"


def test_a_promo_code_unlocks_its_campaign_whatever_its_case() -> None:
    terms = quote("DE", 5000, "EUR", promo_code="welcome10")
    assert terms.promotion is not None and terms.promotion.code == "WELCOME10" and terms.charge == Money(4500, "EUR")


def test_with_a_promo_code_too_the_best_single_campaign_wins() -> None:
    coded = quote("DE", 40000, "EUR", promo_code="WELCOME10")
    assert coded.promotion is not None and coded.promotion.code == "WELCOME10"  # 10 % beats BIG5's 5 %
    tie = quote("DE", 10000, "EUR", promo_code="WELCOME10")  # 10 % of 100 = the 10 off of SPEND100GET10
    assert tie.charge == Money(9000, "EUR") and tie.promotion is not None and tie.promotion.code == "SPEND100GET10"


def test_unknown_closed_and_inapplicable_promo_codes_are_refused() -> None:
    with pytest.raises(PromoCodeInvalid):
        quote("DE", 5000, "EUR", promo_code="NOSUCHCODE")
    with pytest.raises(PromoCodeInvalid) as closed:
        quote("DE", 5000, "EUR", promo_code="SPRING2027")
    assert "not valid at this time" in str(closed.value.detail)
    assert quote("DE", 5000, "EUR", promo_code="SPRING2027",
                 now=datetime(2027, 4, 1, tzinfo=UTC)).charge == Money(4500, "EUR")
    with pytest.raises(PromoCodeNotApplicable) as small:
        quote("DE", 1000, "EUR", promo_code="WELCOME10")
    assert "€20.00" in str(small.value.detail)


def test_campaign_names_are_written_for_each_language_and_currency() -> None:
    spend = next(c for c in CAMPAIGNS if c.code == "SPEND100GET10")
    assert spend.named("en", "EUR") == "Spend €100.00, get €10.00 off"
    assert spend.named("zh-CN", "CNY") == "满¥500.00减¥50.00"
    big = next(c for c in CAMPAIGNS if c.code == "BIG5")
    assert big.named("zh-CN", "JPY") == "大额充值优惠5%"


def test_quote_expiry_and_single_use() -> None:
    terms = quote("DE", 1000, "EUR")
    check_quote_usable(terms.expires_at, None, NOW)
    with pytest.raises(QuoteExpired):
        check_quote_usable(terms.expires_at, None, terms.expires_at)
    with pytest.raises(QuoteAlreadyUsed):
        check_quote_usable(terms.expires_at, "ord_1", NOW)
