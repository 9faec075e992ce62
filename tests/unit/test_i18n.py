"""Languages: which one a reader gets, amounts and dates written for it by CLDR, and
catalogs that translate every customer word the code contains."""

from __future__ import annotations

import string
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from shared.i18n import (
    Country,
    Moment,
    format_money,
    language_of_country,
    localize,
    negotiate,
    supported,
)
from shared.money import Money
from shared.problems import validation_message

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["shared", "services/order", "services/payment", "services/wallet", "services/notify"]


@pytest.mark.parametrize(("header", "language"), [
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
    ("zh-TW", "zh-CN"),
    ("zh-Hans", "zh-CN"),
    ("en-GB,en;q=0.9", "en"),
    ("fr-FR, en;q=0.5", "en"),
    ("de, zh;q=0.4", "zh-CN"),
    ("fr, de", None),
    ("", None),
    (None, None),
    ("*", None),
])
def test_the_caller_gets_the_supported_language_it_prefers(header: str | None, language: str | None) -> None:
    assert negotiate(header) == language


def test_other_spellings_are_read_and_the_default_is_english() -> None:
    assert supported("zh_CN") == supported("ZH-cn") == "zh-CN"
    assert supported("fr") == supported(None) == "en"
    assert language_of_country("cn") == "zh-CN" and language_of_country("DE") == "en"


@pytest.mark.parametrize(("amount", "currency", "english", "chinese"), [
    (10000, "EUR", "€100.00", "€100.00"),
    (45000, "CNY", "CN¥450.00", "¥450.00"),
    (2000000, "JPY", "¥2,000,000", "JP¥2,000,000"),
    (30000, "KRW", "₩30,000", "₩30,000"),
    (-1050, "USD", "-$10.50", "-US$10.50"),
])
def test_money_is_written_by_cldr_for_each_language(amount: int, currency: str, english: str, chinese: str) -> None:
    money = Money(amount, currency)
    assert format_money(money, "en") == english
    assert format_money(money, "zh-CN") == chinese


def test_moments_are_written_in_the_readers_zone_and_say_which() -> None:
    moment = Moment(datetime(2026, 11, 29, 2, 11, tzinfo=UTC), "Asia/Shanghai")
    assert moment.render("zh-CN") == "2026年11月29日 中国标准时间 10:11:00"
    assert moment.render("en").replace("\u202f", " ") == "November 29, 2026, 10:11:00 AM China Standard Time"
    assert Moment(moment.at, "America/New_York", date_only=True).render("en") == "November 28, 2026"


def test_countries_are_named_in_the_readers_language() -> None:
    assert localize(Country("de"), "zh-CN") == "德国" and localize(Country("DE"), "en") == "Germany"
    assert localize(Country("QQ"), "en") == "QQ", "a code CLDR does not know is shown as it is"


def test_marshmallows_own_messages_are_translated_too() -> None:
    assert validation_message("Missing data for required field.").render("zh-CN") == "缺少必填字段。"
    assert validation_message("Must be one of: card, paypal.").render("zh-CN") == "必须是以下之一：card, paypal。"
    assert validation_message("Something we never wrote.").render("zh-CN") == "Something we never wrote."


def catalog(package: str) -> dict[str, tuple[str, set[str]]]:
    with open(ROOT / package / "locale/zh_CN/LC_MESSAGES/messages.po", "rb") as source:
        return {m.id: (m.string, m.flags) for m in read_po(source) if m.id}


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("package", PACKAGES)
def test_every_word_for_a_customer_has_its_chinese(package: str) -> None:
    """The .po file is complete: every message the code marks is in it (`make translations`
    adds new ones), translated, not fuzzy, with the same placeholders as the English."""
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    marked = {message for _file, _line, message, _comments, _context
              in extract_from_dir(ROOT / package, method_map, options_map) if isinstance(message, str)}
    translated = catalog(package)
    assert marked - set(translated) == set(), f"run `make translations` and translate them ({package})"
    for message in marked:
        chinese, flags = translated[message]
        assert chinese and "fuzzy" not in flags, f"untranslated in {package}: {message!r}"
        assert placeholders(chinese) == placeholders(message), f"placeholders differ: {message!r}"
