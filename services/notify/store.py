"""Reading and writing recipients, receipts and the emails owed (the repository)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Boolean, Table, bindparam, literal_column, select, text, update
from sqlalchemy.orm import Session

from services.notify.domain.layout import RenderedEmail
from services.notify.domain.receipt import EmailKind
from services.notify.models import UNSENT, EmailRow, OutboxMessage, ReceiptNumberRow, ReceiptRow, RecipientRow
from shared import tracing
from shared.clock import utcnow
from shared.db import insert_into, upsert
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


def receipt_so_far(session: Session, order_id: str) -> tuple[dict[str, Any] | None, bool, str | None]:
    """What an order.completed finds, in one round trip: the order's receipt, if it was
    issued, whether it was announced, and the receipt email already owed for the order, if
    any (one completed before receipts were numbered was emailed then)."""
    document, announced_at, email_id = session.execute(RECEIPT_SO_FAR, {"order_id": order_id}).one()
    return document, announced_at is not None, email_id


_RECEIPT = select(ReceiptRow.document, ReceiptRow.announced_at).where(ReceiptRow.order_id == bindparam("order_id"))
RECEIPT_SO_FAR = select(
    _RECEIPT.with_only_columns(ReceiptRow.document).scalar_subquery().label("document"),
    _RECEIPT.with_only_columns(ReceiptRow.announced_at).scalar_subquery().label("announced_at"),
    select(EmailRow.id).where(EmailRow.kind == EmailKind.RECEIPT.value, EmailRow.reference == bindparam("order_id"))
    .scalar_subquery().label("email_id"))


def announce_receipt(session: Session, order_id: str, now: datetime) -> dict[str, Any] | None:
    """The receipt's document, if it is not announced yet; it is from now on. One statement:
    its row lock orders two mailers recording the same receipt, and only one gets it."""
    document: dict[str, Any] | None = session.execute(
        ANNOUNCE, {"receipt_of": order_id, "now": now}).scalar_one_or_none()
    return document


ANNOUNCE = (update(ReceiptRow).where(ReceiptRow.order_id == bindparam("receipt_of"), ReceiptRow.announced_at.is_(None))
            .values(announced_at=bindparam("now")).returning(ReceiptRow.document)
            .execution_options(synchronize_session=False))


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
              content: RenderedEmail, order_id: str | None = None) -> str:
    """A pending email, due at once; its id. Two workers racing on one event both insert; the
    loser fails on UNIQUE(kind, reference) here, its message is retried and finds this row.
    One plain INSERT (an ORM add and flush cost several times more: issue 10)."""
    email_id, now = f"eml_{uuid.uuid4().hex}", utcnow()
    session.execute(insert_into(EMAILS), {
        "id": email_id, "kind": kind.value, "reference": reference, "order_id": order_id,
        "customer_id": customer_id, "email": address, "language": content.language, "subject": content.subject,
        "text_body": content.text_body, "html_body": content.html_body, "status": PENDING, "attempts": 0,
        "next_attempt_at": now, "created_at": now, "trace_parent": tracing.headers().get("traceparent")})
    return email_id


EMAILS: Table = EmailRow.__table__  # type: ignore[assignment]
RECEIPTS: Table = ReceiptRow.__table__  # type: ignore[assignment]


def add_receipt(session: Session, **values: Any) -> None:
    """The receipt as issued, in one plain INSERT (its number is unique: a second is refused)."""
    session.execute(insert_into(RECEIPTS), values)


@dataclass(frozen=True)
class ClaimedEmail:
    """An email as a mailer claimed it: what composing it and recording the outcome take."""

    id: str
    kind: str
    order_id: str | None
    email: str
    language: str
    subject: str
    text_body: str
    html_body: str
    created_at: datetime
    #: before this sending
    attempts: int
    token: str
    #: whether another email was due at the claim's moment (whether or not a mailer held it)
    another_due: bool
    #: the trace the email was made owed in
    trace_parent: str | None = None


#: In a claim's RETURNING: is another email due besides the one claimed? Written out, because
#: SQLite's RETURNING names no tables and this must tell the two `emails` apart.
ANOTHER_DUE = literal_column(
    f"EXISTS (SELECT 1 FROM emails AS other WHERE other.{UNSENT} "
    "AND other.next_attempt_at <= emails.claimed_at AND other.id <> emails.id)", Boolean).label("another_due")


_OLDEST_DUE = (select(EmailRow.id).where(text(UNSENT), EmailRow.next_attempt_at <= bindparam("now"))
               .order_by(EmailRow.next_attempt_at, EmailRow.created_at).limit(1)
               .with_for_update(skip_locked=True).scalar_subquery())
CLAIM = (update(EmailRow).where(EmailRow.id == _OLDEST_DUE)
         .values(status=SENDING, claim_token=bindparam("token"), claimed_at=bindparam("now"),
                 next_attempt_at=bindparam("lease_end"))
         .returning(EmailRow.id, EmailRow.kind, EmailRow.order_id, EmailRow.email, EmailRow.language,
                    EmailRow.subject, EmailRow.text_body, EmailRow.html_body, EmailRow.created_at,
                    EmailRow.attempts, EmailRow.trace_parent, ANOTHER_DUE)
         .execution_options(synchronize_session=False))


def claim_next(session: Session, now: datetime, lease_seconds: float) -> ClaimedEmail | None:
    """Take the oldest email whose time has come for one sending, in one statement: a
    pending one, or one claimed by a mailer whose lease ran out (it died, or hangs). It is
    `sending` under a new claim token until the lease ends, and no other mailer takes it
    meanwhile.

    SKIP LOCKED lets several mailers share the table: two claiming at the same moment take
    different emails. Once the claim commits, the email is no longer due until its lease
    ends, so no lock needs to outlive the claim. (SQLite renders no FOR UPDATE; it runs
    one writer at a time anyway.)
    """
    token = uuid.uuid4().hex
    row = session.execute(CLAIM, {"now": now, "token": token,
                                  "lease_end": now + timedelta(seconds=lease_seconds)}).one_or_none()
    if row is None:
        return None
    return ClaimedEmail(**{**row._asdict(), "another_due": bool(row.another_due)}, token=token)


def record_sent(session: Session, email_id: str, now: datetime, bodies: str | None = None) -> int | None:
    """Mark the email sent (its bodies replaced by `bodies`, if given), unless it is recorded
    as sent already: by an earlier attempt at recording whose commit did succeed, or by a
    mailer that took over an expired claim. Returns its attempts, or None if it was.

    One statement: the UPDATE's row lock orders it after any other recording, which, once
    committed, leaves the email `sent` and this one matching nothing."""
    params: dict[str, Any] = {"email_id": email_id, "now": now}
    if bodies is not None:
        params["bodies"] = bodies
    attempts: int | None = session.execute(RECORD_SENT[bodies is not None], params).scalar_one_or_none()
    return attempts


_SENT = (update(EmailRow).where(EmailRow.id == bindparam("email_id"), EmailRow.status != SENT)
         .values(status=SENT, sent_at=bindparam("now"), attempts=EmailRow.attempts + 1, last_error=None,
                 claim_token=None)
         .returning(EmailRow.attempts).execution_options(synchronize_session=False))
#: (bodies replaced?) -> the statement, built once (shared/db.py says why)
RECORD_SENT = {False: _SENT, True: _SENT.values(text_body=bindparam("bodies"), html_body=bindparam("bodies"))}


def record_failure(session: Session, email: ClaimedEmail, attempts: int, error: str, retry_at: datetime) -> bool:
    """Pending again from `retry_at`, after `attempts`, if this claim still holds the email:
    a mailer whose lease ran out while it was sending must not undo what the mailer that
    took over decides. Returns whether it did."""
    failed = (update(EmailRow)
              .where(EmailRow.id == email.id, EmailRow.status == SENDING, EmailRow.claim_token == email.token)
              .values(status=PENDING, claim_token=None, attempts=attempts, last_error=error,
                      next_attempt_at=retry_at)
              .returning(EmailRow.id).execution_options(synchronize_session=False))
    return session.execute(failed).first() is not None


def emit(session: Session, *envelopes: Envelope) -> None:
    put(session, OutboxMessage, *envelopes)
