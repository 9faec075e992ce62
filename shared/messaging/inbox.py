"""The inbox: a note of every message a handler has processed, committed with its effect.

A message redelivered (broker retry, relay republish after a crash) finds its note and
changes nothing twice.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, Session, mapped_column

from shared.clock import utcnow
from shared.db import UTCDateTime, insert_new

NOTE_KEY = ("handler", "message_id")


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
    statement = insert_new(session, model.__table__, NOTE_KEY)  # type: ignore[attr-defined]
    values = {"handler": handler, "message_id": message_id, "type": type, "processed_at": utcnow()}
    return session.execute(statement, values).first() is not None


def first_times(session: Session, model: type[InboxMixin], notes: list[tuple[str, str, str]]) -> list[bool]:
    """`first_time` for a batch of (handler, message_id, type) notes, in one statement: for
    each, whether it is new (a note repeated within the batch is new only the first time)."""
    if len(notes) == 1:
        return [first_time(session, model, *notes[0])]
    now = utcnow()
    unique = {(handler, message_id): type for handler, message_id, type in notes}
    statement = insert_new(session, model.__table__, NOTE_KEY)  # type: ignore[attr-defined]
    rows = [{"handler": h, "message_id": m, "type": t, "processed_at": now} for (h, m), t in unique.items()]
    new = {(row.handler, row.message_id) for row in session.execute(statement, rows)}
    fresh = []
    for handler, message_id, _ in notes:
        fresh.append((handler, message_id) in new)
        new.discard((handler, message_id))
    return fresh
