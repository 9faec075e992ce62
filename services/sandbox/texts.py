"""The sandbox's words for customers (its pages) and for the merchant (its API's errors), in
every language we speak: mark them `_("...")`; the Chinese is in
locale/zh_CN/LC_MESSAGES/messages.po (shared/i18n.py)."""

from pathlib import Path

from shared.i18n import SHARED_LOCALE, Catalog

CATALOG = Catalog(Path(__file__).parent / "locale", SHARED_LOCALE)
_ = CATALOG.text
