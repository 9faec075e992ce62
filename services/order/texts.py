"""The order service's words for customers (and callers), in every language we speak: mark
them `_("...")`; the Chinese is in locale/zh_CN/LC_MESSAGES/messages.po (shared/i18n.py)."""

from pathlib import Path

from shared.i18n import SHARED_LOCALE, Catalog

CATALOG = Catalog(Path(__file__).parent / "locale", SHARED_LOCALE)
_ = CATALOG.text
