"""The wallet's tables. Balances are cached on `accounts` for speed and locked per account;
`postings` are the truth, and the invariant check recomputes balances from them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, UniqueConstraint
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
    balance_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    version: Mapped[int] = mapped_column(Integer, default=1)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class JournalEntryRow(Base):
    __tablename__ = "journal_entries"
    __table_args__ = (UniqueConstraint("kind", "order_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    order_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str] = mapped_column(String(64), index=True)
    balance_after_minor: Mapped[int] = mapped_column(BigInteger)
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


class OutboxMessage(OutboxMixin, Base):
    pass


class InboxMessage(InboxMixin, Base):
    pass
