"""The frame every customer email shares: a greeting, a table of facts, a closing line, in
the customer's language.

An email is described with words not yet in a language (shared/i18n.py: Text, and values
such as Money and Moment that are written for the reader) and rendered once, when its event
arrives, so that a retry sends exactly the email first attempted. Both parts are written
from the same rows, so the text part and the HTML part of one email can never tell the
customer different things. Every value is HTML-escaped: order ids and card brands arrive
from other services and must not be able to inject markup. An email may carry one link to
act on (a password reset): on a line of its own in the text, a real link in the HTML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from typing import Any

from services.notify.texts import _
from shared.i18n import localize

Words = Any  # a Text, a str, or any value shared.i18n.localize writes for a language


@dataclass(frozen=True)
class RenderedEmail:
    """What the mailer sends, in one language."""

    subject: str
    text_body: str
    html_body: str
    language: str = "en"


@dataclass(frozen=True)
class Email:
    subject: Words
    intro: list[Words]
    rows: list[tuple[Words, Words]]
    outro: list[Words] = field(default_factory=list)
    link: str | None = None

    def render(self, language: str) -> RenderedEmail:
        def say(value: Words) -> str:
            return localize(value, language)

        subject = one_line(say(self.subject))
        intro = [say(line) for line in self.intro]
        rows = [(say(label), say(value)) for label, value in self.rows]
        outro = [say(line) for line in self.outro]
        table = [say(_("{label}: {value}", label=label, value=value)) for label, value in rows]
        return RenderedEmail(subject, _text(intro, self.link, table, outro),
                             _html(subject, intro, self.link, rows, outro, language), language)


def as_utc(moment: datetime) -> datetime:
    """Timestamps are UTC everywhere (shared.clock); a naive one (SQLite drops the zone)
    is read as UTC too."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def one_line(text: str) -> str:
    """A header value: an id from another service must not break the subject line."""
    return " ".join(text.split())


def _text(intro: list[str], link: str | None, table: list[str], outro: list[str]) -> str:
    blocks = ["\n".join(intro), *([link] if link else []), "\n".join(table), "\n".join(outro)]
    return "\n\n".join(blocks) + "\n"


def _html(subject: str, intro: list[str], link: str | None, rows: list[tuple[str, str]], outro: list[str],
          language: str) -> str:
    cells = "\n".join(
        f'<tr><th align="left" style="padding:4px 16px 4px 0">{escape(label)}</th>'
        f'<td style="padding:4px 0">{escape(value)}</td></tr>'
        for label, value in rows
    )
    paragraphs_before = "\n".join(f"<p>{escape(line)}</p>" for line in intro)
    if link:
        paragraphs_before += f'\n<p><a href="{escape(link)}">{escape(link)}</a></p>'
    paragraphs_after = "\n".join(f"<p>{escape(line)}</p>" for line in outro)
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{escape(language)}">\n<head><meta charset="utf-8">'
        f"<title>{escape(subject)}</title></head>\n"
        '<body style="font-family:sans-serif">\n'
        f"{paragraphs_before}\n<table>\n{cells}\n</table>\n{paragraphs_after}\n"
        "</body>\n</html>\n"
    )
