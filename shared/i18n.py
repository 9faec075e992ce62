"""Languages: which one a customer reads, the words in it, and amounts and dates written
for it.

Two languages are supported, English and Simplified Chinese (`en`, `zh-CN`): most of the
provider's customers are Chinese-speaking travellers. Customer words live in gettext
catalogs (Babel): the English text is the message id, and each package keeps its Chinese in
`<package>/locale/zh_CN/LC_MESSAGES/messages.po`, read when first needed. The .po file is
the source; nothing compiled is committed (`make translations` extracts and updates them).

Words are written as `Text` values (`catalog.text("...", name=value)`, marked `_` in the
code so that Babel's extractor finds them) and turned into a string only where the reader's
language is known: at the HTTP edge, or when an email is rendered. Amounts, dates and times
in them are formatted for that language by Babel from CLDR data, never by hand.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_time, get_datetime_format
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency
from babel.support import Translations
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from shared.money import CURRENCY_EXPONENTS, Money

EN, ZH_CN = "en", "zh-CN"
LANGUAGES = (EN, ZH_CN)
DEFAULT_LANGUAGE = EN
#: A primary language subtag -> the supported language that serves it. Chinese readers of
#: any script get Simplified Chinese, the one Chinese we have, rather than English.
_BY_PRIMARY = {"en": EN, "zh": ZH_CN}


def negotiate(accept_language: str | None) -> str | None:
    """The supported language an `Accept-Language` header prefers most, or None when it
    names none of them (then the caller falls back: the customer's own, else English)."""
    if not accept_language:
        return None
    for tag, _quality in parse_accept_header(accept_language, LanguageAccept):
        language = _BY_PRIMARY.get(tag.split("-", 1)[0].split("_", 1)[0].lower())
        if language:
            return language
    return None


def supported(language: str | None) -> str:
    """`language` when we have it (any spelling: zh_CN, zh-cn, ZH), else the default."""
    return negotiate(language) or DEFAULT_LANGUAGE


def language_of_country(country: str) -> str:
    """The brief's default for a customer who said nothing: mainland China reads Chinese."""
    return ZH_CN if country.upper() == "CN" else EN


@cache
def babel_locale(language: str) -> Locale:
    return Locale.parse(supported(language).replace("-", "_"))


# -- amounts and moments -----------------------------------------------------------------
def to_decimal(money: Money) -> Decimal:
    return Decimal(money.amount_minor).scaleb(-CURRENCY_EXPONENTS[money.currency])


def format_money(money: Money, language: str) -> str:
    """'€100.00', 'JP¥20,000', '¥100.00' in zh-CN: CLDR's symbol, digits and grouping."""
    return format_currency(to_decimal(money), money.currency, locale=babel_locale(language))


def format_moment(moment: datetime, time_zone: str, language: str) -> str:
    """A date and time in the reader's zone, saying which zone: 'November 29, 2026, 3:11:00
    AM Central European Standard Time', '2026年11月29日 中国标准时间 10:11:00'. CLDR's own
    pattern joins the date and the time."""
    zone = ZoneInfo(time_zone)
    local = moment.astimezone(zone)
    locale = babel_locale(language)
    joined = str(get_datetime_format("long", locale=locale))
    return joined.replace("'", "").format(format_time(local, "full", tzinfo=zone, locale=locale),
                                         format_date(local.date(), "long", locale=locale))


def format_day(moment: datetime, time_zone: str, language: str) -> str:
    """The date alone, in the reader's zone: 'November 29, 2026', '2026年11月29日'."""
    return format_date(moment.astimezone(ZoneInfo(time_zone)).date(), "long", locale=babel_locale(language))


# -- words -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Text:
    """Words for a customer, not yet in a language: a message id of a catalog and the
    values that fill its `{placeholders}`. Money, moments and nested Texts among the values
    are written for the reader's language too."""

    catalog: Catalog = field(repr=False, compare=False)
    message: str
    values: Mapping[str, Any] = field(default_factory=dict)

    def render(self, language: str) -> str:
        template = self.catalog.gettext(language, self.message)
        if not self.values:
            return template
        return template.format(**{name: localize(value, language) for name, value in self.values.items()})

    def __str__(self) -> str:
        """English, for logs and exceptions: never what a customer reads."""
        return self.render(DEFAULT_LANGUAGE)


@dataclass(frozen=True)
class Moment:
    """A point in time to be written in the reader's language and in this time zone."""

    at: datetime
    time_zone: str
    date_only: bool = False

    def render(self, language: str) -> str:
        if self.date_only:
            return format_day(self.at, self.time_zone, language)
        return format_moment(self.at, self.time_zone, language)


@dataclass(frozen=True)
class Country:
    """A country (ISO 3166-1 alpha-2), named in the reader's language: 'Germany', '德国'."""

    code: str

    def render(self, language: str) -> str:
        name: str | None = babel_locale(language).territories.get(self.code.upper())
        return name or self.code


def localize(value: Any, language: str) -> str:
    """A value in a text, written for `language`: money by CLDR, anything with a
    `render(language)` (Text, Moment, Country, ...) by itself, the rest as it is."""
    if isinstance(value, Money):
        return format_money(value, language)
    render_in = getattr(value, "render", None)
    if callable(render_in):
        return str(render_in(language))
    return str(value)


def render(value: Text | str | None, language: str) -> str | None:
    """A Text in `language`; a plain string (an id, a code) as it is."""
    return value.render(language) if isinstance(value, Text) else value


class Catalog:
    """The translations of one package (or several, merged: a service's own and shared/)."""

    def __init__(self, *directories: Path) -> None:
        self.directories = directories

    def text(self, message: str, **values: Any) -> Text:
        return Text(self, message, values)

    def gettext(self, language: str, message: str) -> str:
        return self._translations(supported(language)).gettext(message)

    @cache  # noqa: B019 - one per catalog and language, for the life of the process
    def _translations(self, language: str) -> Translations:
        merged = Translations()
        if language == DEFAULT_LANGUAGE:
            return merged  # the message ids are the English text
        for directory in self.directories:
            po = directory / language.replace("-", "_") / "LC_MESSAGES" / "messages.po"
            if po.is_file():
                merged.merge(compile_po(po, language))
        return merged


def compile_po(path: Path, language: str) -> Translations:
    """A .po file as gettext translations, compiled in memory. Fuzzy entries are left out,
    as gettext's own compiler leaves them out: a guess is not a translation."""
    with path.open("rb") as source:
        catalog = read_po(source, locale=language.replace("-", "_"))
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer)


SHARED_LOCALE = Path(__file__).parent / "locale"
