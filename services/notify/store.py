"""Reading and writing recipients, receipts and the emails owed (the repository)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from services.notify.domain.layout import RenderedEmail
from services.notify.domain.receipt import EmailKind
from services.notify.models import UNSENT, EmailRow, OutboxMessage, ReceiptNumberRow, ReceiptRow, RecipientRow
from shared.db import upsert
from shared.messaging.envelope import Envelope
from shared.messaging.outbox import put

PENDING = "pending"
SENDING = "sending"
SENT = "sent"

# -- recipients --------------------------------------------------------------------------
def keep_recipient(session: Session, p: dict[str, Any], version: int) -> None:
    """The newest profile wins; an update older than what is kept changes nothing."""
    values = {"email": p["email"], "language": p["language"], "time_zone": p["time_zone"],
              "currency": p["currency"], "version": version}
    statement = upsert(session)(RecipientRow).values(customer_id=p["customer_id"], **values)
    session.execute(statement.on_conflict_do_update(
        index_elements=["customer_id"], set_=values, where=RecipientRow.version < version))


def recipient(session: Session, customer_id: str) -> RecipientRow:
    """Who to write to. The customer's registration always precedes news of their balance,
    but travels on another queue: if it has not arrived yet, the message is retried."""
    row = session.get(RecipientRow, customer_id)
    if row is None:
        raise LookupError(f"no recipient {customer_id} yet")
    return row


# -- receipts ----------------------------------------------------------------------------
def find_receipt(session: Session, order_id: str) -> ReceiptRow | None:
    return session.get(ReceiptRow, order_id)


def receipt_so_far(session: Session, order_id: str) -> tuple[dict[str, Any] | None, str | None]:
    """What an order.completed finds, in one round trip: the order's receipt as announced,
    if it was issued, and the receipt email already owed for the order, if any (one
    completed before receipts were numbered was emailed then)."""
    issued = select(ReceiptRow.document).where(ReceiptRow.order_id == order_id).scalar_subquery()
    owed = select(EmailRow.id).where(EmailRow.kind == EmailKind.RECEIPT.value,
                                     EmailRow.reference == order_id).scalar_subquery()
    document, email_id = session.execute(select(issued.label("document"), owed.label("email_id"))).one()
    return document, email_id


def next_receipt_number(session: Session, year: int) -> int:
    """The next number of `year`'s run, in one statement (the year's first receipt makes its
    counter row): the row is locked until the receipt commits, so two receipts never share
    a number and a rolled-back one leaves no gap."""
    counter = upsert(session)(ReceiptNumberRow).values(year=year, last=1).on_conflict_do_update(
        index_elements=["year"], set_={"last": ReceiptNumberRow.last + 1})
    number: int = session.execute(counter.returning(ReceiptNumberRow.last)).scalar_one()
    return number


# -- emails ------------------------------------------------------------------------------
def find_email(session: Session, kind: EmailKind, reference: str) -> EmailRow | None:
    return session.scalars(select(EmailRow).where(EmailRow.kind == kind.value, EmailRow.reference == reference)
                           ).one_or_none()


def emails_for_order(session: Session, order_id: str) -> Sequence[EmailRow]:
    return session.scalars(select(EmailRow).where(EmailRow.order_id == order_id).order_by(EmailRow.created_at)).all()


def add_email(session: Session, kind: EmailKind, reference: str, customer_id: str, address: str,
              content: RenderedEmail, order_id: str | None = None) -> EmailRow:
    """A pending email, due at once. Two workers racing on one event both insert; the loser
    fails on UNIQUE(kind, reference) at flush, its message is retried and finds this row."""
    row = EmailRow(
        id=f"eml_{uuid.uuid4().hex}", kind=kind.value, reference=reference, order_id=order_id,
        customer_id=customer_id, email=address, language=content.language, subject=content.subject,
        text_body=content.text_body, html_body=content.html_body, status=PENDING, attempts=0,
    )
    session.add(row)
    session.flush()
    return row


def next_due(session: Session, now: datetime) -> EmailRow | None:
    """The oldest email whose time has come, locked for the caller's (short) transaction:
    a pending one, or one claimed by a mailer whose lease ran out (it died, or hangs).

    SKIP LOCKED lets several mailers share the table: two claiming at the same moment take
    different emails. Once a claim commits, the email is no longer due until its lease
    ends, so no lock needs to outlive the claim. (SQLite renders no FOR UPDATE; it runs
    one writer at a time anyway.)
    """
    return session.scalars(
        select(EmailRow)
        .where(text(UNSENT), EmailRow.next_attempt_at <= now)
        .order_by(EmailRow.next_attempt_at, EmailRow.created_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    ).one_or_none()


def claim(row: EmailRow, now: datetime, lease_seconds: float) -> str:
    """Take the email for one sending: no other mailer takes it until the lease ends.
    Returns the claim's token."""
    row.status = SENDING
    row.claim_token = uuid.uuid4().hex
    row.claimed_at = now
    row.next_attempt_at = now + timedelta(seconds=lease_seconds)
    return row.claim_token


def unsent(session: Session, email_id: str) -> EmailRow | None:
    """The email, locked, unless it is recorded as sent already (by an earlier attempt at
    recording whose commit did succeed, or by a mailer that took over an expired claim)."""
    return session.scalars(select(EmailRow).where(EmailRow.id == email_id, EmailRow.status != SENT)
                           .with_for_update()).one_or_none()


def claimed(session: Session, email_id: str, token: str) -> EmailRow | None:
    """The email, locked, if this claim still holds it: a mailer whose lease ran out while
    it was sending must not undo what the mailer that took over decides."""
    return session.scalars(select(EmailRow).where(EmailRow.id == email_id, EmailRow.status == SENDING,
                                                  EmailRow.claim_token == token).with_for_update()).one_or_none()


def emit(session: Session, *envelopes: Envelope) -> None:
    put(session, OutboxMessage, *envelopes)
