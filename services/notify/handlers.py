"""What each event does to the notify service: one function each.

The message handlers only RECORD the email owed (a pending email); the mailer sends it.
Sending from the handler would email twice whenever the transaction that notes the message
in the inbox failed after the email left, and would tie message processing to the mail
server's health. Recording is once per kind and reference (the order, the credit, the
copy asked for, the password reset), whatever the message id. Every email is written in
the customer's language and dated in their time zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from services.notify import store
from services.notify.domain.balance import ExpiredCredit, ExpiringCredit, LowBalance
from services.notify.domain.layout import Email, RenderedEmail
from services.notify.domain.password_reset import REDACTED, WITH_SECRETS, PasswordReset
from services.notify.domain.receipt import ABOUT_AN_ORDER, CompletedTopUp, EmailKind, Merchant, Receipt, receipt_number
from services.notify.domain.reversal import ReversedTopUp
from services.notify.models import EmailRow, RecipientRow
from shared.clock import utcnow
from shared.loops import backoff
from shared.messaging.envelope import Envelope
from shared.money import Money

log = structlog.get_logger(__name__)

ERROR_LIMIT = 500


@dataclass(frozen=True)
class NotifyRules:
    merchant: Merchant
    #: where a customer tops up, linked from the low-balance reminder
    topup_url: str | None = None
    #: the frontend's page that takes a password-reset token (`?token=`); None: the code alone
    password_reset_url: str | None = None
    #: whether a mailer sends (SMTP_HOST is set): it announces each receipt with its email
    mailer_runs: bool = False


def remember_customer(session: Session, msg: Envelope) -> None:
    """customer.registered: where and in which language to write to them (version 1)."""
    store.keep_recipient(session, msg.payload, version=1)


def update_customer(session: Session, msg: Envelope) -> None:
    store.keep_recipient(session, msg.payload, version=msg.payload["version"])


def send_receipt(session: Session, msg: Envelope, rules: NotifyRules) -> None:
    """order.completed: the brief's 'every top-up leaves a receipt; receipts are emailed'.
    The receipt is numbered and worded once. Its announcement (`receipt.issued`, which lets
    the customer fetch it from the order service) leaves with its email's first outcome, so
    one message says both (issue 10); with no mailer running, or for a receipt emailed
    before receipts were numbered, it leaves now."""
    p = msg.payload
    issued, was_announced, owed = store.receipt_so_far(session, p["order_id"])
    if issued is not None:
        if was_announced:
            store.emit(session, Envelope.new("receipt.issued", issued, caused_by=msg))
        return
    issued_at = utcnow()
    number = receipt_number(issued_at.year, store.next_receipt_number(session, issued_at.year))
    receipt = Receipt(number, issued_at, CompletedTopUp.from_payload(p), rules.merchant)
    language = p["language"]
    # An order completed before receipts were numbered was emailed then: it is numbered now,
    # not emailed again (services/order/backfill.py announces those completions once more).
    email_id = owed or store.add_email(
        session, EmailKind.RECEIPT, p["order_id"], p["customer_id"], p["email"], receipt.email().render(language),
        order_id=p["order_id"])
    document = receipt.document(language, p["customer_id"])
    announced_now = owed is not None or not rules.mailer_runs
    announced = Envelope.new("receipt.issued", document, caused_by=msg)
    store.add_receipt(session, order_id=p["order_id"], number=number, customer_id=p["customer_id"],
                      language=language, issued_at=issued_at, document=announced.payload, email_id=email_id,
                      announced_at=issued_at if announced_now else None)
    if announced_now:
        store.emit(session, announced)


def resend_receipt(session: Session, msg: Envelope) -> None:
    """receipt.resend: the same receipt (same number, same words) again, to the address the
    customer has now."""
    p = msg.payload
    receipt = store.find_receipt(session, p["order_id"])
    original = session.get(EmailRow, receipt.email_id) if receipt else None
    if receipt is None or original is None:
        raise LookupError(f"no receipt issued for order {p['order_id']}")
    if store.find_email(session, EmailKind.RECEIPT_COPY, p["resend_id"]) is not None:
        return
    copy = RenderedEmail(original.subject, original.text_body, original.html_body, original.language)
    store.add_email(session, EmailKind.RECEIPT_COPY, p["resend_id"], p["customer_id"], p["email"], copy,
                    order_id=p["order_id"])


def send_reversal_notice(session: Session, msg: Envelope) -> None:
    """order.reversed: the customer was charged and must learn the money went back."""
    p = msg.payload
    _owe(session, EmailKind.REVERSAL, p["order_id"], Reader(p["customer_id"], p["email"], p["language"]),
         ReversedTopUp.from_payload(p).email(), order_id=p["order_id"])


def send_low_balance_reminder(session: Session, msg: Envelope, rules: NotifyRules) -> None:
    p = msg.payload
    who = store.recipient(session, p["customer_id"])
    reminder = LowBalance(Money(p["balance"], p["currency"]), Money(p["threshold"], p["currency"]), rules.topup_url)
    _owe(session, EmailKind.LOW_BALANCE, f"{p['customer_id']}:v{p['account_version']}", who, reminder.email())


def send_expiry_reminder(session: Session, msg: Envelope) -> None:
    p = msg.payload
    who = store.recipient(session, p["customer_id"])
    reminder = ExpiringCredit(Money(p["amount"], p["currency"]), p["expires_at"], who.time_zone, p.get("order_id"))
    _owe(session, EmailKind.EXPIRY_REMINDER, p["lot_id"], who, reminder.email())


def send_expiry_notice(session: Session, msg: Envelope) -> None:
    p = msg.payload
    who = store.recipient(session, p["customer_id"])
    notice = ExpiredCredit(Money(p["amount"], p["currency"]), p["expired_at"], Money(p["balance_after"], p["currency"]),
                           who.time_zone, p.get("order_id"))
    _owe(session, EmailKind.CREDIT_EXPIRED, p["entry_id"], who, notice.email())


def send_password_reset(session: Session, msg: Envelope, rules: NotifyRules) -> None:
    """customer.password_reset_requested: the link (or code) to choose a new password, once
    per reset request, in the language the request came in. The token opens the account:
    it is never logged, not even inside a database error (whose text would show the
    statement's parameters, the bodies), and its bodies are redacted once sent."""
    p = msg.payload
    if store.find_email(session, EmailKind.PASSWORD_RESET, p["reset_id"]) is not None:
        return
    now = utcnow()
    known = session.get(RecipientRow, p["customer_id"])  # for the zone; not worth waiting for
    reset = PasswordReset(p["token"], p["expires_at"], known.time_zone if known else "UTC", rules.password_reset_url)
    if reset.expired(now):
        log.info("password_reset_expired", reset_id=p["reset_id"], customer_id=p["customer_id"])
        return
    try:
        _owe(session, EmailKind.PASSWORD_RESET, p["reset_id"], Reader(p["customer_id"], p["email"], p["language"]),
             reset.email(now))
    except StatementError as exc:
        exc.hide_parameters = True
        raise


@dataclass(frozen=True)
class Reader:
    """Who an email goes to, and in which language (a recipient row has the same fields)."""

    customer_id: str
    email: str
    language: str


def _owe(session: Session, kind: EmailKind, reference: str, who: Reader | RecipientRow, email: Email,
         order_id: str | None = None) -> None:
    """Record the email owed, once per kind and reference, in the reader's language."""
    if store.find_email(session, kind, reference) is None:
        store.add_email(session, kind, reference, who.customer_id, who.email, email.render(who.language),
                        order_id=order_id)


def mark_sent(session: Session, email: store.ClaimedEmail, now: datetime) -> int | None:
    """The email left: record it and, for an email about an order, tell the order service
    (its timeline shows it), in one transaction. A receipt's first outcome announces the
    receipt too, in the same message. Returns its attempts, or None if it was recorded sent
    before (and announced then)."""
    attempts = store.record_sent(session, email.id, now, bodies=REDACTED if email.kind in WITH_SECRETS else None)
    if attempts is not None and email.order_id and email.kind in ABOUT_AN_ORDER:
        sent = {"sent_at": now, "receipt_id": email.id}
        document = _first_outcome(session, email, now)
        store.emit(session, Envelope.new("receipt.issued", {**document, **sent}, correlation_id=email.order_id)
                   if document is not None else
                   Envelope.new("receipt.sent", {"order_id": email.order_id, "kind": email.kind, **sent},
                                correlation_id=email.order_id))
    return attempts


def _first_outcome(session: Session, email: store.ClaimedEmail, now: datetime) -> dict[str, Any] | None:
    """The receipt to announce, if this is its email's first outcome (sent or failed)."""
    if email.kind != EmailKind.RECEIPT.value or email.order_id is None:
        return None
    return store.announce_receipt(session, email.order_id, now)


@dataclass(frozen=True)
class Retry:
    """A failed sending, as recorded: the email is pending again after `delay` seconds."""

    attempts: int
    error: str
    delay: float


def mark_failed(session: Session, email: store.ClaimedEmail, error: str, now: datetime, base_seconds: float,
                cap_seconds: float) -> Retry | None:
    """The mail server refused or was unreachable: try again later, longer each time, for as
    long as it takes (a receipt is owed, not optional). None if the claim no longer holds
    the email (its lease ran out and another mailer took it: that one's outcome counts)."""
    attempts = email.attempts + 1
    retry = Retry(attempts, error[:ERROR_LIMIT], backoff(attempts, base=base_seconds, cap=cap_seconds))
    if not store.record_failure(session, email, retry.attempts, retry.error, now + timedelta(seconds=retry.delay)):
        return None
    document = _first_outcome(session, email, now)
    if document is not None:  # the customer can fetch it while the email waits to be sent again
        store.emit(session, Envelope.new("receipt.issued", document, correlation_id=email.order_id))
    return retry
