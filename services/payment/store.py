"""Reading and writing the payment service's records (the repository)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.payment.domain.gateway import GatewayEvent
from services.payment.domain.payment import Payment, PaymentStatus
from services.payment.models import OutboxMessage, PaymentRow, WebhookEventRow
from shared.messaging.envelope import Envelope
from shared.messaging.outbox import put
from shared.money import Money


def new_payment_id() -> str:
    return f"pay_{uuid.uuid4().hex}"


def to_payment(row: PaymentRow) -> Payment:
    return Payment(row.id, row.order_id, row.customer_id, Money(row.amount_minor, row.currency),
                   row.method, PaymentStatus(row.status), row.gateway_ref)


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


def add_payment(session: Session, payload: dict[str, Any], payment_id: str) -> PaymentRow:
    """A new payment for the order in `payload` (a payment.create command).

    Two commands for one order racing each other both get here; the loser fails on the
    unique order id at flush, its message is retried, and it then finds the winner's row.
    """
    row = PaymentRow(
        id=payment_id, order_id=payload["order_id"], customer_id=payload["customer_id"],
        amount_minor=payload["amount"], currency=payload["currency"], method=payload["method"],
        status=PaymentStatus.CREATED.value,
    )
    session.add(row)
    session.flush()
    return row


def record_webhook(session: Session, provider: str, event: GatewayEvent, raw_body: bytes) -> bool:
    """Note a webhook event; False if it was already noted (a redelivery).

    A savepoint makes a concurrent redelivery (both requests passed the lookup) a clean
    'duplicate' rather than a failed request.
    """
    existing = session.scalars(
        select(WebhookEventRow.id).where(WebhookEventRow.provider == provider,
                                         WebhookEventRow.event_id == event.event_id)
    ).first()
    if existing is not None:
        return False
    row = WebhookEventRow(provider=provider, event_id=event.event_id, type=event.kind.value,
                          payment_id=event.payment_id, payload=raw_body.decode("utf-8", errors="replace"))
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return False
    return True


def emit(session: Session, *envelopes: Envelope) -> None:
    put(session, OutboxMessage, *envelopes)
