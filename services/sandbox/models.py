"""The sandbox gateways' tables, in the sandbox's own database (SANDBOX_DATABASE_URL): their
checkout sessions, the answers they owe to a repeated request (idempotency keys), their
outgoing webhooks and their keys. The payment service never reads them: it asks the
sandbox's API, as it would a real provider's.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, Text, text
from sqlalchemy import false as sa_false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.clock import utcnow
from shared.db import UTCDateTime, new_metadata


class Base(DeclarativeBase):
    metadata = new_metadata()


class SandboxSessionRow(Base):
    __tablename__ = "sandbox_sessions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    #: the merchant's payment id (Alipay's out_trade_no): one checkout per payment, so a
    #: repeated create finds the first one
    payment_reference: Mapped[str] = mapped_column(String(64), unique=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str] = mapped_column(String(16))
    #: the language the merchant asked its pages to be shown in
    locale: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    status: Mapped[str] = mapped_column(String(16))
    card_brand: Mapped[str | None] = mapped_column(String(16))
    card_last4: Mapped[str | None] = mapped_column(String(4))
    failure_code: Mapped[str | None] = mapped_column(String(64))
    provider_ref: Mapped[str | None] = mapped_column(String(40))  # e.g. PayPal's capture id
    refunded: Mapped[bool] = mapped_column(Boolean, default=False)
    #: the merchant's id of the refund (Alipay's out_request_no, WeChat Pay's out_refund_no)
    refund_reference: Mapped[str | None] = mapped_column(String(64))
    # Test switches, set from the card when it is paid: refuse refunds with this code;
    # never send a webhook for this session.
    refund_failure: Mapped[str | None] = mapped_column(String(64))
    silent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    #: tries the merchant allows on this checkout, and those declined so far (the last one's
    #: reason is in failure_code while the checkout stays open)
    attempts_allowed: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    #: where the customer's browser goes after each decision (the merchant's return endpoint)
    return_url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    #: when the provider captured the money and when it paid it back: the days its
    #: settlement report lists them (settlement.py)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class SandboxDeliveryRow(Base):
    """One webhook to send, by `provider` (who signs it, and what answer counts as taken).
    `next_attempt_at` is None once delivered or given up on."""

    __tablename__ = "sandbox_webhook_deliveries"
    __table_args__ = (
        Index("ix_sandbox_deliveries_due", "next_attempt_at",
              postgresql_where=text("delivered_at IS NULL"), sqlite_where=text("delivered_at IS NULL")),
    )

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider: Mapped[str] = mapped_column(String(16), default="sandbox", server_default="sandbox")
    url: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SandboxKeyRow(Base):
    """The sandbox providers' key material (their private keys, certificates, ids), made at
    the first start of a deployment and shared by all its processes. Sandbox only: a real
    provider's private keys never leave the provider."""

    __tablename__ = "sandbox_keys"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    material: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SandboxRequestRow(Base):
    """A merchant's request the sandbox answered, under the idempotency key it came with
    (Stripe's Idempotency-Key, PayPal-Request-Id): the same key again gets the same answer,
    and the work is never done twice. Stored in the transaction that did the work."""

    __tablename__ = "sandbox_requests"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    operation: Mapped[str] = mapped_column(String(16), primary_key=True)
    #: what was asked (a digest of the request): the same key with other parameters is refused
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
