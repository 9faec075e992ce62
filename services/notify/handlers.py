"""What each event does to the notify service: one function each.

The message handlers only RECORD the email owed (a pending receipt); the mailer sends it.
Sending from the handler would email twice whenever the transaction that notes the message
in the inbox failed after the email left, and would tie message processing to the mail
server's health. Recording is once per order and kind, whatever the message id.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from services.notify import store
from services.notify.domain.layout import RenderedEmail
from services.notify.domain.receipt import CompletedTopUp, ReceiptKind, render_receipt
from services.notify.domain.reversal import ReversedTopUp, render_reversal_notice
from services.notify.models import ReceiptRow
from shared.loops import backoff
from shared.messaging.envelope import Envelope

ERROR_LIMIT = 500


def send_receipt(session: Session, msg: Envelope) -> None:
    """order.completed: the brief's 'every top-up leaves a receipt; receipts are emailed'."""
    p = msg.payload
    _record(session, ReceiptKind.RECEIPT, p, lambda: render_receipt(CompletedTopUp.from_payload(p)))


def send_reversal_notice(session: Session, msg: Envelope) -> None:
    """order.reversed: the customer was charged and must learn the money went back."""
    p = msg.payload
    _record(session, ReceiptKind.REVERSAL, p, lambda: render_reversal_notice(ReversedTopUp.from_payload(p)))


def _record(session: Session, kind: ReceiptKind, p: dict[str, Any], render: Callable[[], RenderedEmail]) -> None:
    if store.find_receipt(session, p["order_id"], kind) is not None:
        return
    store.add_receipt(session, kind, p["order_id"], p["customer_id"], p["email"], render())


def mark_sent(session: Session, row: ReceiptRow, now: datetime) -> None:
    """The email left: record it and tell the order service, in one transaction."""
    row.status = store.SENT
    row.sent_at = now
    row.attempts += 1
    row.last_error = None
    store.emit(session, Envelope.new(
        "receipt.sent",
        {"order_id": row.order_id, "receipt_id": row.id, "sent_at": now},
        correlation_id=row.order_id,
    ))


def mark_failed(row: ReceiptRow, error: str, now: datetime, base_seconds: float, cap_seconds: float) -> float:
    """The mail server refused or was unreachable: try again later, longer each time, for as
    long as it takes (a receipt is owed, not optional). Returns the delay chosen."""
    row.attempts += 1
    row.last_error = error[:ERROR_LIMIT]
    delay = backoff(row.attempts, base=base_seconds, cap=cap_seconds)
    row.next_attempt_at = now + timedelta(seconds=delay)
    return delay
