"""The password-reset email: someone asked to reset the password of a customer's account,
and the order service made a single-use token for it (shared.contracts.order.
PasswordResetRequested).

The brief asks that personal information be protected. The token opens the account until
it is used or expires, so the email says plainly what happened, how long the link or code
works, that it works once, and that a customer who did not ask can ignore it: their
password is unchanged. How long is read from the token's expiry, not assumed. The token is
a live credential in our database only until the email is sent: then its stored bodies are
replaced by REDACTED (services/notify/handlers.py: mark_sent), and it is never logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from babel.dates import format_timedelta

from services.notify.domain.layout import Email, Words
from services.notify.domain.receipt import EmailKind
from services.notify.texts import _
from shared.i18n import Moment, babel_locale

#: what a sent password-reset email keeps of its text and HTML: nothing that opens the account
REDACTED = "[redacted after sending: password reset link or code]"
#: the kinds of email whose bodies carry a credential, redacted once sent
WITH_SECRETS = frozenset({EmailKind.PASSWORD_RESET})


@dataclass(frozen=True)
class Duration:
    """A length of time written for the reader by CLDR: '15 minutes', '15分钟', '1 hour'."""

    length: timedelta

    def render(self, language: str) -> str:
        # threshold=1: 59 minutes stay 59 minutes rather than becoming 'one hour'
        return str(format_timedelta(self.length, granularity="minute", threshold=1, locale=babel_locale(language)))


def reset_link(page: str, token: str) -> str:
    """The frontend's reset page with the token as its `token` parameter, URL-encoded."""
    return f"{page}{'&' if '?' in page else '?'}{urlencode({'token': token})}"


@dataclass(frozen=True)
class PasswordReset:
    token: str
    expires_at: datetime
    #: the customer's zone for the expiry time, when we know it (else UTC, named as such)
    time_zone: str = "UTC"
    #: the frontend's reset page (PASSWORD_RESET_URL); without it the customer types the code
    page: str | None = None

    def expired(self, now: datetime) -> bool:
        return self.expires_at <= now

    def email(self, now: datetime) -> Email:
        """Written at `now`, when the request arrives: the validity left is what it says."""
        valid_for = Duration(self.expires_at - now)
        rows: list[tuple[Words, Words]] = [(_("Valid until"), Moment(self.expires_at, self.time_zone))]
        if self.page:
            intro = [_("To choose a new password, open this link:")]
            link: str | None = reset_link(self.page, self.token)
            rule = _("The link works for {duration} and only once.", duration=valid_for)
        else:
            intro = [_("To choose a new password, enter this code on the password reset page:")]
            link = None
            rows.insert(0, (_("Reset code"), self.token))
            rule = _("The code works for {duration} and only once.", duration=valid_for)
        return Email(
            subject=_("Reset your password"),
            intro=[_("Someone asked to reset the password of your account."), *intro],
            link=link,
            rows=rows,
            outro=[rule,
                   _("If it was not you, ignore this email: your password has not been changed.")],
        )
