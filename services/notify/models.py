"""The notify service's tables.

- `recipients`: who the customers are to us (email, language, time zone), kept from the
  order service's customer events, for the emails that come from the wallet.
- `receipts`: each completed top-up's receipt, numbered (R-<year>-<n>, counted per year in
  `receipt_numbers`) and worded once, when issued.
- `emails`: every email we owe a customer, written when its event arrives, claimed by a
  mailer (`sending`) and marked sent after the mail server accepted it (services/notify/mailer.py).
  UNIQUE(kind, reference) is what makes a redelivered or repeated event never email twice
  (the reference: the order, the credit lot, the debit entry, the copy asked for, the
  password reset).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.clock import utcnow
from shared.db import UTCDateTime, new_metadata
from shared.messaging.inbox import InboxMixin
from shared.messaging.outbox import OutboxMixin


class Base(DeclarativeBase):
    metadata = new_metadata()


class RecipientRow(Base):
    __tablename__ = "recipients"

    customer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(8))
    time_zone: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    version: Mapped[int] = mapped_column(Integer)


class ReceiptRow(Base):
    """A receipt as issued: its number and its words never change (a copy is the same)."""

    __tablename__ = "receipts"

    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    customer_id: Mapped[str] = mapped_column(String(64), index=True)
    language: Mapped[str] = mapped_column(String(8))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: the receipt as announced (shared.contracts.notify.ReceiptIssued), JSON-ready
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: the email that carried it first: a copy sends the same subject and bodies again
    email_id: Mapped[str] = mapped_column(String(40))
    #: when `receipt.issued` was written to the outbox: by the mailer, with the email's first
    #: outcome (one message tells the order service both), or at once when no mailer runs
    announced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReceiptNumberRow(Base):
    """The last receipt number given out in a year: numbers run without gaps, as tax offices
    like them, and the row lock hands out each number once."""

    __tablename__ = "receipt_numbers"

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


#: The emails a mailer may take: pending ones, and claimed ones whose claim may have been
#: abandoned. Written out (not bound) so that the query and the partial index say the same.
UNSENT = "status IN ('pending', 'sending')"


class EmailRow(Base):
    __tablename__ = "emails"
    __table_args__ = (
        UniqueConstraint("kind", "reference"),
        # The mailer's question, "which unsent emails are due?", without scanning sent ones.
        Index("ix_emails_due", "next_attempt_at", postgresql_where=text(UNSENT), sqlite_where=text(UNSENT)),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    reference: Mapped[str] = mapped_column(String(100))
    #: the order it is about, if any (receipts and reversal notices; support looks them up by it)
    order_id: Mapped[str | None] = mapped_column(String(64), index=True)
    customer_id: Mapped[str] = mapped_column(String(64), index=True)
    email: Mapped[str] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    subject: Mapped[str] = mapped_column(String(255))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    #: pending -> sending (claimed by a mailer) -> sent; a refused send goes back to pending
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: when a mailer may take it: at once, after a failure's backoff, or when a claim's lease ends
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: the claim of the mailer sending it now: only that claim may record a failure
    claim_token: Mapped[str | None] = mapped_column(String(32))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the W3C traceparent of what made the email owed: its sending (and the receipt.sent it
    #: causes) continues that trace (shared/tracing.py)
    trace_parent: Mapped[str | None] = mapped_column(String(64))


class OutboxMessage(OutboxMixin, Base):
    pass


class InboxMessage(InboxMixin, Base):
    pass
