"""The payment service's tables. A gateway keeps its state on its side: the sandbox gateways
too, in their own database (services/sandbox).

No column here ever holds a card number or CVC: only the brand and last four digits.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.clock import utcnow
from shared.db import UTCDateTime, new_metadata
from shared.messaging.inbox import InboxMixin
from shared.messaging.outbox import OutboxMixin


class Base(DeclarativeBase):
    metadata = new_metadata()


class PaymentRow(Base):
    """One payment per order: the unique order id makes `payment.create` idempotent.

    `queries` and `next_query_at` pace our questions to the gateway about a payment whose
    webhook has not come; `refund_noted_at` holds a refund notice that overtook the capture.
    """

    __tablename__ = "payments"
    __table_args__ = (
        Index("ix_payments_awaiting", "created_at",
              postgresql_where=text("status = 'created'"), sqlite_where=text("status = 'created'")),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[str] = mapped_column(String(64), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str] = mapped_column(String(16))
    #: the customer's language: the gateway's page is shown in it
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    status: Mapped[str] = mapped_column(String(16))
    gateway: Mapped[str | None] = mapped_column(String(32))
    gateway_ref: Mapped[str | None] = mapped_column(String(64), index=True)
    redirect_url: Mapped[str | None] = mapped_column(Text)
    #: the frontend's page the customer goes back to after paying (None: our result page)
    return_url: Mapped[str | None] = mapped_column(Text)
    #: tries the payment page allows (PAYMENT_ATTEMPTS when it opened)
    attempts_allowed: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    card_brand: Mapped[str | None] = mapped_column(String(16))
    card_last4: Mapped[str | None] = mapped_column(String(4))
    failure_reason: Mapped[str | None] = mapped_column(String(64))
    queries: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    next_query_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refund_noted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    #: the W3C traceparent of the top-up's trace when the payment was opened: the gateway's
    #: webhook, which knows nothing of it, continues that trace (shared/tracing.py)
    trace_parent: Mapped[str | None] = mapped_column(String(64))
    #: when we recorded the capture and the refund: the days a provider's settlement report
    #: must show them (domain/settlement.py)
    captured_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PaymentAttemptRow(Base):
    """A try on the payment page that failed while more were allowed, once each: the
    gateway's notice and our question about the same try both name its number."""

    __tablename__ = "payment_attempts"

    payment_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    reason: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RefundRow(Base):
    """The refund of one payment and where its attempts at the gateway stand (at most one
    per payment: a duplicate `payment.refund` finds it and refunds nothing twice).

    `reason` is why the saga asked; `failure_code` the gateway's last no (what an operator
    sees in `payment.refund_failed`). `next_attempt_at` is None once it succeeded or failed.
    """

    __tablename__ = "refunds"
    __table_args__ = (
        Index("ix_refunds_due", "next_attempt_at",
              postgresql_where=text("status = 'pending'"), sqlite_where=text("status = 'pending'")),
    )

    payment_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failure_code: Mapped[str | None] = mapped_column(String(64))
    #: an operator's record of a refund made outside the system (the gateway's dashboard, a
    #: bank transfer) after our attempts failed: the gateway's reference, who and why
    settled_reference: Mapped[str | None] = mapped_column(String(128))
    settled_by: Mapped[str | None] = mapped_column(String(40))
    settled_note: Mapped[str | None] = mapped_column(String(500))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class OrderCancellationRow(Base):
    """A `payment.cancel` that came before the order's `payment.create` (messages on two
    queues overtake each other). Remembered, so that the late create opens no checkout for
    an order that has already expired."""

    __tablename__ = "order_cancellations"

    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(64))
    cancelled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookEventRow(Base):
    """Every webhook event we accepted, once: gateways redeliver, and the unique
    (provider, event_id) turns a redelivery into a no-op. Kept for disputes and support."""

    __tablename__ = "webhook_events"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(64))
    payment_id: Mapped[str | None] = mapped_column(String(40), index=True)
    payload: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboxMessage(OutboxMixin, Base):
    pass


class InboxMessage(InboxMixin, Base):
    pass
