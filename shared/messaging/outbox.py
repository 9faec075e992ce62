"""The transactional outbox: messages are rows, written in the same transaction as the state
change that causes them, so a state change is never committed without its messages (nor a
message sent for a change that rolled back). Once the transaction commits, the thread that
committed publishes them (direct.py); the relay sends whatever that left behind."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column

from shared.clock import utcnow
from shared.db import UTCDateTime
from shared.messaging import writebehind
from shared.messaging.direct import Outgoing, note
from shared.messaging.envelope import Envelope


class OutboxMixin:
    """Mix into a service's declarative Base as `class OutboxMessage(OutboxMixin, Base)`."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    message_id: Mapped[str] = mapped_column(String(36), unique=True)
    type: Mapped[str] = mapped_column(String(64))
    correlation_id: Mapped[str | None] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Index, ...]:
        return (
            Index(
                "ix_outbox_unpublished",
                "id",
                postgresql_where=text("published_at IS NULL"),
                sqlite_where=text("published_at IS NULL"),
            ),
        )


def put(session: Session, model: type[OutboxMixin], *envelopes: Envelope) -> None:
    """Write the envelopes as outbox rows in the caller's transaction: one INSERT statement
    for all of them (plain SQL: this is on every state change's path), run now, or with the
    rest of a consumer's batch just before its commit (writebehind.py)."""
    if not envelopes:
        return
    now = utcnow()
    outgoing = [Outgoing(e.message_id, e.type, e.correlation_id, e.to_json()) for e in envelopes]
    writebehind.insert(session, model.__table__, [  # type: ignore[attr-defined]
        {"message_id": o.message_id, "type": o.type, "correlation_id": o.correlation_id, "body": o.body,
         "created_at": now} for o in outgoing])
    for one in outgoing:
        note(session, one)
