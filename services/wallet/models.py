"""The wallet's tables. Balances are cached on `accounts` for speed and locked per account;
`postings` are the truth, and the invariant check recomputes balances from them. Each
top-up's credit is also a `credit_lots` row holding what is left of it and when it expires
(their rests add up to the balance); `debits` are the eSIM platform's charges, with the
lots each one was paid from (`debit_allocations`), so that a reversal can give it back."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, text, true
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.clock import utcnow
from shared.db import UTCDateTime, new_metadata
from shared.messaging.inbox import InboxMixin
from shared.messaging.outbox import OutboxMixin


class Base(DeclarativeBase):
    metadata = new_metadata()


class AccountRow(Base):
    __tablename__ = "accounts"

    customer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), default="active")
    frozen_reason: Mapped[str | None] = mapped_column(String(200))
    #: the operator who last froze or unfroze the account (OPERATOR_TOKENS' name), and when
    status_changed_by: Mapped[str | None] = mapped_column(String(40))
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    balance_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    version: Mapped[int] = mapped_column(Integer, default=1)
    #: the customer's choice (None: the currency's default), and whether they want reminders
    low_balance_threshold_minor: Mapped[int | None] = mapped_column(BigInteger)
    reminders: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    #: the version of the customer's profile these two came from (a late update loses)
    profile_version: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class JournalEntryRow(Base):
    __tablename__ = "journal_entries"
    __table_args__ = (UniqueConstraint("kind", "order_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    #: the top-up's order (top-up entries only)
    order_id: Mapped[str | None] = mapped_column(String(64))
    customer_id: Mapped[str] = mapped_column(String(64), index=True)
    #: what else the entry is about: the debit, the credit lot that expired
    reference: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(String(200))
    balance_after_minor: Mapped[int] = mapped_column(BigInteger)
    #: the account's version this entry made: the entries' order on the statement
    account_version: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    postings: Mapped[list[PostingRow]] = relationship(back_populates="entry", lazy="selectin")


class PostingRow(Base):
    __tablename__ = "postings"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    entry_id: Mapped[str] = mapped_column(ForeignKey("journal_entries.id"), index=True)
    account: Mapped[str] = mapped_column(String(80), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    entry: Mapped[JournalEntryRow] = relationship(back_populates="postings")


class CreditRefusalRow(Base):
    """A top-up the wallet would not take (its payment is refunded): one per order, so that a
    repeated command for it is refused again, whatever the balance has become since."""

    __tablename__ = "credit_refusals"

    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(64))
    refused_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CreditLotRow(Base):
    __tablename__ = "credit_lots"
    __table_args__ = (
        Index("ix_credit_lots_open", "customer_id", "expires_at",
              postgresql_where=text("remaining_minor > 0"), sqlite_where=text("remaining_minor > 0")),
        # The worker's questions: which credits have expired with money left, which are due a reminder.
        Index("ix_credit_lots_due", "expires_at",
              postgresql_where=text("remaining_minor > 0"), sqlite_where=text("remaining_minor > 0")),
        Index("ix_credit_lots_remind", "remind_at",
              postgresql_where=text("reminded_at IS NULL AND remaining_minor > 0"),
              sqlite_where=text("reminded_at IS NULL AND remaining_minor > 0")),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(64))
    #: the entry that put it on the balance, and the top-up it came from
    entry_id: Mapped[str] = mapped_column(String(40))
    order_id: Mapped[str | None] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    remaining_minor: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    remind_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DebitRow(Base):
    """A charge of the eSIM platform. UNIQUE(customer_id, idempotency_key): the same key is
    the same debit, whatever happens to the requests."""

    __tablename__ = "debits"
    __table_args__ = (UniqueConstraint("customer_id", "idempotency_key"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    reference: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(200))
    entry_id: Mapped[str] = mapped_column(String(40))
    balance_after_minor: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reversal_entry_id: Mapped[str | None] = mapped_column(String(40))
    reversal_balance_after_minor: Mapped[int | None] = mapped_column(BigInteger)
    reversed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AdjustmentRow(Base):
    """An operator's adjustment of a balance, with who and why. UNIQUE(customer_id,
    idempotency_key): the same key is the same adjustment."""

    __tablename__ = "adjustments"
    __table_args__ = (UniqueConstraint("customer_id", "idempotency_key"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(String(500))
    operator: Mapped[str] = mapped_column(String(40))
    entry_id: Mapped[str] = mapped_column(String(40))
    balance_after_minor: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DebitAllocationRow(Base):
    """The part of a debit paid from one credit lot (where a reversal puts it back)."""

    __tablename__ = "debit_allocations"

    debit_id: Mapped[str] = mapped_column(ForeignKey("debits.id"), primary_key=True)
    lot_id: Mapped[str] = mapped_column(ForeignKey("credit_lots.id"), primary_key=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)


class OutboxMessage(OutboxMixin, Base):
    pass


class InboxMessage(InboxMixin, Base):
    pass
