"""What a customer is told about their balance between top-ups: that it is running low,
that a credit will expire soon, and that one has expired.

The brief: customers should top up before the balance runs out, and the system reminds
them when it is low; and a credit has a validity period, so they hear of its end before and
after it comes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.notify.domain.layout import Email
from services.notify.texts import _
from shared.i18n import Moment, Text
from shared.money import Money

CHANGE_IT = _("You can change this threshold, or turn reminders off, in your profile.")


@dataclass(frozen=True)
class LowBalance:
    balance: Money
    threshold: Money
    topup_url: str | None = None

    def email(self) -> Email:
        hint: Text = (_("Top up in a few seconds: {url}", url=self.topup_url) if self.topup_url
                      else _("Open the app and choose Top up to add money before your next trip."))
        return Email(
            subject=_("Your balance is running low: {balance}", balance=self.balance),
            intro=[_("Your balance is now {balance}, below the {threshold} you asked us to watch for.",
                     balance=self.balance, threshold=self.threshold),
                   _("Plans and usage are paid from the balance, so top up before it runs out."), hint],
            rows=[(_("Balance"), self.balance), (_("Reminder threshold"), self.threshold)],
            outro=[CHANGE_IT],
        )


@dataclass(frozen=True)
class ExpiringCredit:
    amount: Money
    expires_at: datetime
    time_zone: str
    order_id: str | None = None

    def email(self) -> Email:
        when = Moment(self.expires_at, self.time_zone)
        rows: list[tuple[Text, object]] = [(_("Amount"), self.amount), (_("Expires"), when)]
        if self.order_id:
            rows.append((_("From the top-up"), self.order_id))
        return Email(
            subject=_("{amount} of your balance expires on {date}", amount=self.amount,
                      date=Moment(self.expires_at, self.time_zone, date_only=True)),
            intro=[_("{amount} of your balance will expire on {date}. Use it for a plan before then; whatever "
                     "is left when it expires is removed from your balance.", amount=self.amount, date=when)],
            rows=rows,
            outro=[_("You can turn reminders off in your profile.")],
        )


@dataclass(frozen=True)
class ExpiredCredit:
    amount: Money
    expired_at: datetime
    balance_after: Money
    time_zone: str
    order_id: str | None = None

    def email(self) -> Email:
        when = Moment(self.expired_at, self.time_zone)
        rows: list[tuple[Text, object]] = [(_("Amount expired"), self.amount), (_("Expired"), when),
                                           (_("New balance"), self.balance_after)]
        if self.order_id:
            rows.append((_("From the top-up"), self.order_id))
        return Email(
            subject=_("{amount} of your balance has expired", amount=self.amount),
            intro=[_("The validity of a credit on your balance ended on {date}, and the {amount} left of it has "
                     "been removed from your balance.", date=when, amount=self.amount)],
            rows=rows,
            outro=[_("Your statement shows every change of your balance.")],
        )
