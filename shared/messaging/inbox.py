"""The inbox: a note of every message a handler has processed, committed with its effect.

A message redelivered (broker retry, relay republish after a crash) finds its note and
changes nothing twice.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, Session, mapped_column

from shared.clock import utcnow
from shared.db import UTCDateTime, upsert


class InboxMixin:
    """Mix into a service's declarative Base as `class InboxMessage(InboxMixin, Base)`."""

    __tablename__ = "inbox"

    handler: Mapped[str] = mapped_column(String(64), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def first_time(session: Session, model: type[InboxMixin], handler: str, message_id: str, type: str) -> bool:
    """Record the message as processed by `handler`; False if it already was.

    One statement (INSERT ... ON CONFLICT DO NOTHING) on the hot path of every message. Two
    workers racing on one message: the second waits on the first's row lock and then finds
    the conflict, so only one runs the handler.
    """
    table = model.__table__  # type: ignore[attr-defined]
    values = {"handler": handler, "message_id": message_id, "type": type, "processed_at": utcnow()}
    statement = (upsert(session)(table).values(**values)
                 .on_conflict_do_nothing(index_elements=["handler", "message_id"])
                 .returning(table.c.message_id))
    return session.execute(statement).first() is not None
