"""Reading and writing receipts (the repository)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.notify.domain.layout import RenderedEmail
from services.notify.domain.receipt import ReceiptKind
from services.notify.models import OutboxMessage, ReceiptRow
from shared.messaging.envelope import Envelope
from shared.messaging.outbox import put

PENDING = "pending"
SENT = "sent"


def find_receipt(session: Session, order_id: str, kind: ReceiptKind) -> ReceiptRow | None:
    return session.scalars(
        select(ReceiptRow).where(ReceiptRow.order_id == order_id, ReceiptRow.kind == kind.value)
    ).one_or_none()


def receipts_for_order(session: Session, order_id: str) -> Sequence[ReceiptRow]:
    return session.scalars(
        select(ReceiptRow).where(ReceiptRow.order_id == order_id).order_by(ReceiptRow.created_at)
    ).all()


def add_receipt(session: Session, kind: ReceiptKind, order_id: str, customer_id: str, email: str,
                content: RenderedEmail) -> ReceiptRow:
    """A pending email, due at once. Two workers racing on one order both insert; the loser
    fails on UNIQUE(order_id, kind) at flush, its message is retried and finds this row."""
    row = ReceiptRow(
        id=f"rcp_{uuid.uuid4().hex}",
        order_id=order_id,
        kind=kind.value,
        customer_id=customer_id,
        email=email,
        subject=content.subject,
        text_body=content.text_body,
        html_body=content.html_body,
        status=PENDING,
        attempts=0,
    )
    session.add(row)
    session.flush()
    return row


def next_due(session: Session, now: datetime) -> ReceiptRow | None:
    """The oldest pending receipt whose time has come, locked for the caller's transaction.

    SKIP LOCKED lets several mailers share the table: each takes a different receipt, and
    none sends one that another is sending right now. (SQLite renders no FOR UPDATE; it
    runs one writer at a time anyway.)
    """
    return session.scalars(
        select(ReceiptRow)
        .where(ReceiptRow.status == PENDING, ReceiptRow.next_attempt_at <= now)
        .order_by(ReceiptRow.next_attempt_at, ReceiptRow.created_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    ).one_or_none()


def emit(session: Session, *envelopes: Envelope) -> None:
    put(session, OutboxMessage, *envelopes)
