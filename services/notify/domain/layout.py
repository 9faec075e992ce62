"""The frame every customer email shares: a greeting, a table of facts, a closing line.

Both parts are written from the same rows, so the text part and the HTML part of one email
can never tell the customer different things. Every value is HTML-escaped: order ids and
card brands arrive from other services and must not be able to inject markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape


@dataclass(frozen=True)
class RenderedEmail:
    """What the mailer sends. Rendered once, when the event arrives, so a retry sends
    exactly the email that was first attempted."""

    subject: str
    text_body: str
    html_body: str


def as_utc(moment: datetime) -> datetime:
    """Timestamps are UTC everywhere (shared.clock); a naive one (SQLite drops the zone)
    is read as UTC too."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def format_date(moment: datetime) -> str:
    """The date a customer reads, in UTC and saying so: the customer may be anywhere."""
    return as_utc(moment).strftime("%d %b %Y, %H:%M UTC")


def one_line(text: str) -> str:
    """A header value: an id from another service must not break the subject line."""
    return " ".join(text.split())


def render(subject: str, intro: list[str], rows: list[tuple[str, str]], outro: list[str]) -> RenderedEmail:
    subject = one_line(subject)
    return RenderedEmail(subject, _text(intro, rows, outro), _html(subject, intro, rows, outro))


def _text(intro: list[str], rows: list[tuple[str, str]], outro: list[str]) -> str:
    width = max((len(label) for label, _ in rows), default=0) + 2
    table = [f"{label + ':':<{width}}{value}" for label, value in rows]
    return "\n\n".join(["\n".join(intro), "\n".join(table), "\n".join(outro)]) + "\n"


def _html(subject: str, intro: list[str], rows: list[tuple[str, str]], outro: list[str]) -> str:
    cells = "\n".join(
        f'<tr><th align="left" style="padding:4px 16px 4px 0">{escape(label)}</th>'
        f'<td style="padding:4px 0">{escape(value)}</td></tr>'
        for label, value in rows
    )
    paragraphs_before = "\n".join(f"<p>{escape(line)}</p>" for line in intro)
    paragraphs_after = "\n".join(f"<p>{escape(line)}</p>" for line in outro)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head><meta charset="utf-8">'
        f"<title>{escape(subject)}</title></head>\n"
        '<body style="font-family:sans-serif">\n'
        f"{paragraphs_before}\n<table>\n{cells}\n</table>\n{paragraphs_after}\n"
        "</body>\n</html>\n"
    )
