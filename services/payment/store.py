"""Reading and writing the payment service's records (the repository)."""

from __future__ import annotations

import uuid
import zlib
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from services.payment.domain.gateway import GatewayEvent
from services.payment.domain.payment import Payment, PaymentStatus
from services.payment.domain.refund import RefundStatus
from services.payment.models import (
    OrderCancellationRow,
    OutboxMessage,
    PaymentAttemptRow,
    PaymentRow,
    RefundRow,
    WebhookEventRow,
)
from shared.clock import utcnow
from shared.db import upsert
from shared.messaging.envelope import Envelope
from shared.messaging.outbox import put
from shared.money import Money


def new_payment_id() -> str:
    return f"pay_{uuid.uuid4().hex}"


def to_payment(row: PaymentRow) -> Payment:
    return Payment(row.id, row.order_id, row.customer_id, Money(row.amount_minor, row.currency),
                   row.method, PaymentStatus(row.status), row.gateway_ref, row.language, row.attempts_allowed)


def get_payment(session: Session, payment_id: str, *, lock: bool = False) -> PaymentRow | None:
    """The payment row; `lock` serializes a webhook and a refund racing on one payment."""
    query = select(PaymentRow).where(PaymentRow.id == payment_id)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).one_or_none()


def find_by_order(session: Session, order_id: str, *, lock: bool = False) -> PaymentRow | None:
    query = select(PaymentRow).where(PaymentRow.order_id == order_id)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).one_or_none()


def _int4(value: int) -> int:
    return value - 2**32 if value >= 2**31 else value


ORDER_LOCK_CLASS = _int4(zlib.crc32(b"topup.payment.order"))


def lock_order(session: Session, order_id: str) -> None:
    """Make the commands about one order take turns until this transaction ends.

    A create and a cancel of the same order, handled at the same moment by two consumers,
    would each see nothing of the other (no payment yet, no cancellation yet) and both
    commit: a checkout open for an expired order. On PostgreSQL a transaction-level
    advisory lock per order serializes them; SQLite already lets one writer in at a time.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:cls, :key)"),
                        {"cls": ORDER_LOCK_CLASS, "key": _int4(zlib.crc32(order_id.encode()))})


def find_cancellation(session: Session, order_id: str) -> OrderCancellationRow | None:
    return session.get(OrderCancellationRow, order_id)


def note_cancellation(session: Session, order_id: str, reason: str) -> None:
    if find_cancellation(session, order_id) is None:
        session.add(OrderCancellationRow(order_id=order_id, reason=reason))
        session.flush()


def get_refund(session: Session, payment_id: str, *, lock: bool = False) -> RefundRow | None:
    query = select(RefundRow).where(RefundRow.payment_id == payment_id)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).one_or_none()


def start_refund(session: Session, row: PaymentRow, reason: str, now: datetime) -> RefundRow:
    """A refund due now: a new one, or (an operator's retry) a fresh series on the old one.
    The caller holds the payment's lock, so two commands cannot both create it."""
    refund = get_refund(session, row.id, lock=True)
    if refund is None:
        refund = RefundRow(payment_id=row.id, order_id=row.order_id)
        session.add(refund)
    refund.status, refund.reason, refund.attempts = RefundStatus.PENDING.value, reason, 0
    refund.next_attempt_at, refund.failure_code, refund.last_error = now, None, None
    session.flush()
    return refund


def add_payment(session: Session, payload: dict[str, Any], payment_id: str, attempts_allowed: int) -> PaymentRow:
    """A new payment for the order in `payload` (a payment.create command).

    Two commands for one order racing each other both get here; the loser fails on the
    unique order id at flush, its message is retried, and it then finds the winner's row.
    """
    row = PaymentRow(
        id=payment_id, order_id=payload["order_id"], customer_id=payload["customer_id"],
        amount_minor=payload["amount"], currency=payload["currency"], method=payload["method"],
        language=payload.get("language", "en"), status=PaymentStatus.CREATED.value,
        return_url=payload.get("return_url"), attempts_allowed=attempts_allowed,
    )
    session.add(row)
    session.flush()
    return row


def record_webhook(session: Session, provider: str, event: GatewayEvent, raw_body: bytes) -> bool:
    """Note a webhook event; False if it was already noted (a redelivery).

    One statement: INSERT ... ON CONFLICT (provider, event_id) DO NOTHING. A concurrent
    redelivery waits on the first one's row and then meets the conflict, a clean
    'duplicate' rather than a failed request (or, if the first rolled back, inserts).
    """
    table = WebhookEventRow.__table__
    statement = (upsert(session)(table)
                 .values(provider=provider, event_id=event.event_id, type=event.kind.value,
                         payment_id=event.payment_id, payload=raw_body.decode("utf-8", errors="replace"),
                         received_at=utcnow())
                 .on_conflict_do_nothing(index_elements=["provider", "event_id"])
                 .returning(table.c.id))
    return session.execute(statement).first() is not None


def record_attempt(session: Session, payment_id: str, attempt: int, reason: str, occurred_at: datetime) -> bool:
    """Note a failed try; False if it was noted already. The caller holds the payment's
    lock, so two notices of the same try cannot both get past the lookup."""
    if session.get(PaymentAttemptRow, (payment_id, attempt)) is not None:
        return False
    session.add(PaymentAttemptRow(payment_id=payment_id, attempt=attempt, reason=reason, occurred_at=occurred_at))
    session.flush()
    return True


def attempts_of(session: Session, payment_id: str) -> list[PaymentAttemptRow]:
    return list(session.scalars(select(PaymentAttemptRow).where(PaymentAttemptRow.payment_id == payment_id)
                                .order_by(PaymentAttemptRow.attempt)))


def emit(session: Session, *envelopes: Envelope) -> None:
    put(session, OutboxMessage, *envelopes)
