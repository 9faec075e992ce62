"""The order service's tables: customers and their profile, quotes, orders with their
timeline, idempotency keys; and what the other services announce, kept to answer the
customer: the balance and its statement (from the wallet's account versions) and the
receipts (from the notify service)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    false,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.clock import utcnow
from shared.db import UTCDateTime, new_metadata
from shared.messaging.inbox import InboxMixin
from shared.messaging.outbox import OutboxMixin


class Base(DeclarativeBase):
    metadata = new_metadata()


def _id() -> Mapped[int]:
    return mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (Index("ix_customers_unannounced", "id",
                            postgresql_where=text("announced_version < profile_version"),
                            sqlite_where=text("announced_version < profile_version")),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    currency: Mapped[str] = mapped_column(String(3))
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    #: None: the currency's default (shared/currencies.py)
    low_balance_threshold_minor: Mapped[int | None] = mapped_column(BigInteger)
    reminders: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    #: raised by every change of the profile, so that other services keep the newest
    profile_version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    #: the profile version last announced; behind it only for customers from before profiles
    #: were announced (services/order/backfill.py announces them)
    announced_version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("0"))
    #: raised by every change or reset of the password: access tokens carry the version
    #: they were issued at, and one from an earlier version is refused (services/order/web.py)
    credentials_version: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Quote(Base):
    __tablename__ = "quotes"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    credit_minor: Mapped[int] = mapped_column(BigInteger)
    charge_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str] = mapped_column(String(16))
    promotion: Mapped[str | None] = mapped_column(String(40))
    #: the promotion's name in every language, as the customer saw it (the campaign may be
    #: gone from the promotions file by the time the receipt is written)
    promotion_names: Mapped[dict[str, str] | None] = mapped_column(JSON)
    validity_days: Mapped[int] = mapped_column(Integer)
    #: when the credit will end, as the customer confirms it (None: quotes of before)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_customer_created", "customer_id", "created_at", "id"),
                      Index("ix_orders_announce_again", "id", postgresql_where=text("announce_again"),
                            sqlite_where=text("announce_again")),
                      Index("uq_orders_customer_idempotency_key", "customer_id", "idempotency_key", unique=True))

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    quote_id: Mapped[str] = mapped_column(ForeignKey("quotes.id"), unique=True)
    status: Mapped[str] = mapped_column(String(24), index=True)
    credit_minor: Mapped[int] = mapped_column(BigInteger)
    charge_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str] = mapped_column(String(16))
    promotion: Mapped[str | None] = mapped_column(String(40))
    promotion_names: Mapped[dict[str, str] | None] = mapped_column(JSON)
    validity_days: Mapped[int] = mapped_column(Integer)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failure_reason: Mapped[str | None] = mapped_column(String(64))
    payment_id: Mapped[str | None] = mapped_column(String(64))
    redirect_url: Mapped[str | None] = mapped_column(String(500))
    #: where the payment page sends the customer back (the frontend's page), with `?order_id=`
    return_url: Mapped[str | None] = mapped_column(String(2000))
    card_brand: Mapped[str | None] = mapped_column(String(20))
    card_last4: Mapped[str | None] = mapped_column(String(4))
    balance_after_minor: Mapped[int | None] = mapped_column(BigInteger)
    needs_operator: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false(), index=True)
    #: a completed order whose completion is announced again, for its numbered receipt (orders
    #: completed before receipts were numbered; services/order/backfill.py)
    announce_again: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    payment_deadline: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    #: the Idempotency-Key the order was placed with, unique per customer, and a hash of the
    #: request it came with (the same key with another request is refused): kept on the
    #: order's own row, so placing writes one row fewer (None: orders placed before keys)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    timeline: Mapped[list[TimelineEntry]] = relationship(
        back_populates="order", order_by="TimelineEntry.id", lazy="selectin"
    )


class TimelineEntry(Base):
    """One step of an order's life, for the customer and for support."""

    __tablename__ = "order_timeline"

    id: Mapped[int] = _id()
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    event: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str | None] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: the operator who acted (OPERATOR_TOKENS' name); None for the customer and the system
    operator: Mapped[str | None] = mapped_column(String(40))
    #: why the operator acted, in their words (support's record, not shown to the customer)
    note: Mapped[str | None] = mapped_column(String(500))
    order: Mapped[Order] = relationship(back_populates="timeline")


class Balance(Base):
    """The customer's account as the wallet announced it, at `version`: the newest version
    whose every predecessor has arrived too (balance_changes holds those still waiting)."""

    __tablename__ = "balances"

    customer_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    frozen_reason: Mapped[str | None] = mapped_column(String(200))
    #: the credits with money left, soonest first: [{"amount", "expires_at"}]
    expiring: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer)


class BalanceChange(Base):
    """One version of a customer's account as the wallet announced it, and the journal
    entry that made it, if any: the statement. Versions can arrive out of order (two
    queues, retries); the balance moves to a version only once all before it are here, and
    the statement shows entries up to the balance's version, never beyond it."""

    __tablename__ = "balance_changes"
    __table_args__ = (Index("ix_balance_changes_statement", "customer_id", "version",
                            postgresql_where=text("entry_id IS NOT NULL"), sqlite_where=text("entry_id IS NOT NULL")),)

    customer_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    balance_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    frozen_reason: Mapped[str | None] = mapped_column(String(200))
    expiring: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    entry_id: Mapped[str | None] = mapped_column(String(40), unique=True)
    kind: Mapped[str | None] = mapped_column(String(16))
    amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    order_id: Mapped[str | None] = mapped_column(String(64))
    reference: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(String(200))


class Receipt(Base):
    """A completed top-up's receipt as the notify service issued it (the customer reads it
    here; it is 404 until issued)."""

    __tablename__ = "receipts"

    order_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(40), index=True)
    receipt_number: Mapped[str] = mapped_column(String(32), unique=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)


class ReceiptResend(Base):
    """A customer's request for a copy of a receipt: counted to limit them per hour."""

    __tablename__ = "receipt_resends"
    __table_args__ = (Index("ix_receipt_resends_order", "order_id", "requested_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(40))
    customer_id: Mapped[str] = mapped_column(String(40))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuthThrottle(Base):
    """Failed or repeated attempts on one account (by its email, hashed: the same for an
    email that has no account, so the throttle tells nothing about who is registered).
    Shared by every web process and replica, as the database is."""

    __tablename__ = "auth_throttles"

    #: "<action>:<sha256 of the normalized email>"
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer)
    last_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PasswordReset(Base):
    """A password-reset request. The request itself records only who asked (`customer_id`
    None when the email has no account), the same work either way, so that the answer's
    timing tells nobody who is registered; the order worker then issues an account's token
    and puts its email in the outbox (services/order/passwords.py: issue_tokens). Only the
    token's SHA-256 is kept here; the outbox row that carries the token to the notify service
    is emptied when published (shared/messaging/relay.py)."""

    __tablename__ = "password_resets"
    __table_args__ = (Index("ix_password_resets_to_issue", "requested_at",
                            postgresql_where=text("token_hash IS NULL AND customer_id IS NOT NULL"),
                            sqlite_where=text("token_hash IS NULL AND customer_id IS NOT NULL")),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(String(40), index=True)
    #: None until the worker issues the token (and for an email without an account, always)
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboxMessage(OutboxMixin, Base):
    pass


class InboxMessage(InboxMixin, Base):
    pass
