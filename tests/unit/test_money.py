import pytest

from shared.money import CurrencyMismatch, Money, UnknownCurrency


def test_money_adds_only_within_one_currency() -> None:
    assert Money(1050, "EUR") + Money(50, "EUR") == Money(1100, "EUR")
    with pytest.raises(CurrencyMismatch):
        Money(1, "EUR") + Money(1, "USD")


def test_money_refuses_floats_and_unknown_currencies() -> None:
    with pytest.raises(TypeError):
        Money(10.5, "EUR")  # type: ignore[arg-type]
    with pytest.raises(UnknownCurrency):
        Money(1, "XXX")


def test_major_units_follow_the_currency_exponent() -> None:
    assert Money.of_major(100, "EUR").amount_minor == 10000
    assert Money.of_major(100, "JPY").amount_minor == 100


def test_formatting_for_receipts() -> None:
    assert Money(1205, "EUR").format() == "12.05 EUR"
    assert Money(1000, "JPY").format() == "1000 JPY"
    assert Money(-5, "USD").format() == "-0.05 USD"


def test_percentage_never_overshoots() -> None:
    assert Money(999, "EUR").percent(500) == Money(49, "EUR")
