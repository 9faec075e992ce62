"""The customer's receipts, as the notify service issued them, and their copies.

The brief: every top-up leaves a record the customer can look up later, for queries and
disputes. The notify service numbers and words each receipt and announces it
(`receipt.issued`); it is kept here to be read with the order. A copy is asked for here and
sent by the notify service (`receipt.resend`): the same receipt, the same number. At most
`RESENDS_PER_HOUR` copies of one receipt an hour: more would turn the endpoint into a way
to flood an inbox.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from services.order.customers import new_id
from services.order.domain.errors import ReceiptNotFound, TooManyResends
from services.order.domain.saga import Event
from services.order.models import Customer, Order, OutboxMessage, Receipt, ReceiptResend, TimelineEntry
from services.order.texts import _
from shared.contracts import jsonable
from shared.db import insert_new
from shared.messaging.envelope import Envelope
from shared.messaging.outbox import put

RESENDS_PER_HOUR = 3
WINDOW = timedelta(hours=1)


def keep(session: Session, p: dict[str, Any]) -> None:
    """receipt.issued: keep the receipt (once: it never changes after it is issued). Its
    email's sending, if the announcement carries it, is the timeline's, not the document's."""
    document = {k: v for k, v in p.items() if k not in ("sent_at", "receipt_id")}
    session.execute(insert_new(session, RECEIPTS, ("order_id",)), {
        "order_id": p["order_id"], "customer_id": p["customer_id"], "receipt_number": p["receipt_number"],
        "issued_at": p["issued_at"], "document": jsonable(document)})


RECEIPTS: Table = Receipt.__table__  # type: ignore[assignment]


def document(receipt: Receipt) -> dict[str, Any]:
    """The receipt as kept (JSON: moments as ISO 8601 text), with its moments read back."""
    kept = dict(receipt.document)
    for moment in ("issued_at", "valid_until"):
        if kept.get(moment):
            kept[moment] = datetime.fromisoformat(kept[moment])
    return kept


def receipt_of(session: Session, customer_id: str, order_id: str) -> Receipt:
    """The receipt of one of the customer's orders; 404 until it is issued (or for an order
    that is not theirs: indistinguishable from a missing one)."""
    receipt = session.get(Receipt, order_id)
    if receipt is None or receipt.customer_id != customer_id:
        raise ReceiptNotFound(_("Order {order_id} has no receipt yet: a receipt is issued when a top-up completes.",
                                order_id=order_id))
    return receipt


def resend_for_support(session: Session, order_id: str, key: str, operator: str, note: str,
                       now: datetime) -> Receipt:
    """An operator has a copy of the receipt sent to the customer's email as it is now, with
    their name and reason on the order's timeline; once per Idempotency-Key (the copy's id
    is derived from it), and not counted against the customer's hourly copies' limit."""
    receipt = session.get(Receipt, order_id)
    if receipt is None:
        raise ReceiptNotFound(_("Order {order_id} has no receipt yet: a receipt is issued when a top-up completes.",
                                order_id=order_id))
    order = session.scalars(select(Order).where(Order.id == order_id).with_for_update()).one()
    resend_id = "rsd_" + hashlib.sha256(f"{order_id}\n{key}".encode()).hexdigest()[:32]
    if session.get(ReceiptResend, resend_id) is not None:
        return receipt
    customer = session.get_one(Customer, receipt.customer_id)
    session.add(ReceiptResend(id=resend_id, order_id=order_id, customer_id=customer.id, requested_at=now))
    put(session, OutboxMessage, Envelope.new("receipt.resend", {
        "order_id": order_id, "customer_id": customer.id, "resend_id": resend_id, "email": customer.email},
        correlation_id=order_id))
    session.add(TimelineEntry(order_id=order_id, event=Event.RECEIPT_RESENT.value, status=order.status,
                              reason="operator", occurred_at=now, operator=operator, note=note))
    return receipt


def resend(session: Session, customer: Customer, order_id: str, now: datetime) -> Receipt:
    """Ask for a copy of the receipt, to the customer's email as it is now."""
    receipt = receipt_of(session, customer.id, order_id)
    session.scalars(select(Order.id).where(Order.id == order_id).with_for_update()).one()  # one at a time
    recent = list(session.scalars(select(ReceiptResend.requested_at)
                                  .where(ReceiptResend.order_id == order_id, ReceiptResend.requested_at > now - WINDOW)
                                  .order_by(ReceiptResend.requested_at)))
    if len(recent) >= RESENDS_PER_HOUR:
        wait = recent[len(recent) - RESENDS_PER_HOUR] + WINDOW - now
        raise TooManyResends(_("This receipt was sent {count} times in the last hour; try again later.",
                               count=RESENDS_PER_HOUR), retry_after_seconds=max(1, math.ceil(wait.total_seconds())))
    resend_id = new_id("rsd")
    session.add(ReceiptResend(id=resend_id, order_id=order_id, customer_id=customer.id, requested_at=now))
    put(session, OutboxMessage, Envelope.new("receipt.resend", {
        "order_id": order_id, "customer_id": customer.id, "resend_id": resend_id, "email": customer.email},
        correlation_id=order_id))
    return receipt
