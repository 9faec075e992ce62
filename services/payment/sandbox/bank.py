"""The sandbox gateway's side: checkout sessions, their outcomes, and the webhooks it owes us.

It behaves like a real card processor seen from outside: it decides by card number, keeps
only the brand and last four digits, and reports every outcome by a signed webhook sent
later (queued here in the same transaction as the outcome, so neither exists without the
other). The test card numbers below may appear only in sandbox code and tests.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.payment.domain.cards import CardDetails
from services.payment.domain.errors import GatewayRefused
from services.payment.domain.gateway import GatewayEventKind
from services.payment.sandbox.models import SandboxDeliveryRow, SandboxSessionRow
from shared.money import Money

# Card number -> failure code (None: approved). Every other valid number is not supported.
TEST_CARDS: dict[str, str | None] = {
    "4242424242424242": None,
    "4000000000000002": "card_declined",
    "4000000000009995": "insufficient_funds",
}
UNSUPPORTED_CARD = "card_not_supported"


class SessionStatus(StrEnum):
    OPEN = "open"
    APPROVED = "approved"
    DECLINED = "declined"
    CANCELLED = "cancelled"


def decide(card: CardDetails) -> str | None:
    """The failure code for this card, or None when the payment is approved."""
    return TEST_CARDS.get(card.number, UNSUPPORTED_CARD)


def open_session(session: Session, payment_reference: str, amount: Money, method: str) -> SandboxSessionRow:
    row = SandboxSessionRow(
        id=f"cs_{uuid.uuid4().hex}", payment_reference=payment_reference, amount=amount.amount_minor,
        currency=amount.currency, method=method, status=SessionStatus.OPEN.value, refunded=False,
    )
    session.add(row)
    session.flush()
    return row


def get_session(session: Session, session_id: str, *, lock: bool = False) -> SandboxSessionRow | None:
    """`lock` makes a customer's payment and our cancel of the same checkout take turns."""
    query = select(SandboxSessionRow).where(SandboxSessionRow.id == session_id)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).one_or_none()


def complete(session: Session, row: SandboxSessionRow, card: CardDetails, webhook_url: str,
             now: datetime) -> None:
    """Approve or decline an open checkout with this card, and owe the webhook that says so."""
    failure = decide(card)
    summary = card.summary
    row.status = (SessionStatus.DECLINED if failure else SessionStatus.APPROVED).value
    row.card_brand, row.card_last4, row.failure_code = summary.brand, summary.last4, failure
    kind = GatewayEventKind.PAYMENT_FAILED if failure else GatewayEventKind.PAYMENT_SUCCEEDED
    queue_webhook(session, row, kind, webhook_url, now)


def cancel(row: SandboxSessionRow) -> bool:
    if row.status != SessionStatus.OPEN:
        return False
    row.status = SessionStatus.CANCELLED.value
    return True


def refund(session: Session, row: SandboxSessionRow, webhook_url: str, now: datetime) -> None:
    """Sandbox refunds succeed at once; the notice follows like any other event. Refunding
    twice is one refund."""
    if row.status != SessionStatus.APPROVED:
        raise GatewayRefused(f"sandbox session {row.id} is {row.status}, nothing to refund")
    if row.refunded:
        return
    row.refunded = True
    queue_webhook(session, row, GatewayEventKind.REFUND_SUCCEEDED, webhook_url, now)


def event_body(event_id: str, kind: GatewayEventKind, row: SandboxSessionRow, now: datetime) -> str:
    card = {"brand": row.card_brand, "last4": row.card_last4} if row.card_last4 else None
    return json.dumps({
        "id": event_id,
        "type": kind.value,
        "created": int(now.timestamp()),
        "data": {
            "session_id": row.id,
            "payment_reference": row.payment_reference,
            "amount": row.amount,
            "currency": row.currency,
            "card": card,
            "failure_code": row.failure_code,
        },
    }, separators=(",", ":"))


def queue_webhook(session: Session, row: SandboxSessionRow, kind: GatewayEventKind, url: str,
                  now: datetime) -> SandboxDeliveryRow:
    event_id = f"evt_{uuid.uuid4().hex}"
    delivery = SandboxDeliveryRow(event_id=event_id, url=url, body=event_body(event_id, kind, row, now),
                                  attempts=0, next_attempt_at=now)
    session.add(delivery)
    return delivery
