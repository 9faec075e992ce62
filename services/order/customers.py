"""The customer: registering, logging in, and their profile (language, low-balance
threshold, reminders), announced to the services that write to them or watch their balance.

Each function runs in the caller's unit of work; the messages it causes go to the outbox in
that same transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.order import passwords
from services.order.domain import catalog as catalog_rules
from services.order.domain.errors import EmailTaken, OrderError
from services.order.models import Customer, OutboxMessage
from services.order.texts import _
from shared.i18n import language_of_country
from shared.messaging.envelope import Envelope
from shared.messaging.outbox import put
from shared.money import Money


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


class ThresholdOutOfRange(OrderError):
    code = "threshold_out_of_range"
    title = _("This threshold cannot be used.")


def may_register(session: Session, email: str, password: str, country: str) -> None:
    """Refuse a registration before its password is hashed: a weak password, a country
    without top-ups, an email already registered."""
    passwords.check_strength(password)
    catalog_rules.rule_for(country)
    if session.scalar(select(func.count()).select_from(Customer).where(Customer.email == email.strip().lower())):
        raise EmailTaken(_("An account with this email already exists."))


def register(session: Session, email: str, password_hash: str, country: str, language: str | None) -> Customer:
    """The customer, with the password hashed by the caller (outside the transaction).
    `language`: what the customer chose, else what their browser asked for (the caller
    passes it), else the default of their country. A racing registration of the same email
    fails on the unique email."""
    rule = catalog_rules.rule_for(country)
    customer = Customer(id=new_id("cus"), email=email.strip().lower(), password_hash=password_hash,
                        country=country.upper(), currency=rule.currency,
                        language=language or language_of_country(country), low_balance_threshold_minor=None,
                        reminders=True, profile_version=1, announced_version=1)
    session.add(customer)
    session.flush()
    put(session, OutboxMessage, Envelope.new("customer.registered", profile_payload(customer)))
    return customer


@dataclass(frozen=True)
class Profile:
    """What GET /v1/me shows: the customer and their choices, with the defaults filled in."""

    customer: Customer

    @property
    def time_zone(self) -> str:
        return catalog_rules.rule_for(self.customer.country).time_zone

    @property
    def low_balance_threshold(self) -> Money:
        chosen = self.customer.low_balance_threshold_minor
        if chosen is None:
            return catalog_rules.rule_for(self.customer.country).low_balance
        return Money(chosen, self.customer.currency)


def update_profile(session: Session, customer: Customer, changes: dict[str, Any]) -> Customer:
    """PATCH /v1/me: only what is sent changes; `low_balance_threshold: null` goes back to
    the currency's default. Announced (with a new version) only if something changed. The
    row is locked first: two changes at once must not both become the same version."""
    session.refresh(customer, with_for_update=True)
    changed = False
    if "language" in changes and changes["language"] != customer.language:
        customer.language, changed = changes["language"], True
    if "reminders" in changes and changes["reminders"] != customer.reminders:
        customer.reminders, changed = changes["reminders"], True
    if "low_balance_threshold" in changes:
        threshold = changes["low_balance_threshold"]
        cap = catalog_rules.rule_for(customer.country).max_balance
        if threshold is not None and not 0 <= threshold <= cap.amount_minor:
            raise ThresholdOutOfRange(_("The threshold is an amount in {currency} between {zero} and {cap}.",
                                        currency=customer.currency, zero=Money.zero(customer.currency), cap=cap))
        if threshold != customer.low_balance_threshold_minor:
            customer.low_balance_threshold_minor, changed = threshold, True
    if changed:
        customer.profile_version += 1
        announce_profile(session, customer)
    return customer


def announce_profile(session: Session, customer: Customer) -> None:
    """customer.updated at the profile's version (what the wallet and the notify service keep)."""
    put(session, OutboxMessage, Envelope.new("customer.updated",
                                             {**profile_payload(customer), "version": customer.profile_version}))
    customer.announced_version = customer.profile_version


def profile_payload(customer: Customer) -> dict[str, Any]:
    return {"customer_id": customer.id, "email": customer.email, "country": customer.country,
            "currency": customer.currency, "language": customer.language,
            "time_zone": catalog_rules.rule_for(customer.country).time_zone,
            "low_balance_threshold": customer.low_balance_threshold_minor, "reminders": customer.reminders}
