"""Reading and writing the payment service's records (the repository).

Plain SQL (SQLAlchemy Core) on the paths every top-up takes: a payment is read into a
`PaymentRecord`, a plain value the handlers look at and replace, and written as one INSERT
(all its columns at once) or one UPDATE of what changed. The ORM models (models.py) stay
the schema, and serve refunds and the operator's view of a payment's tries.
"""

from __future__ import annotations

import functools
import uuid
import zlib
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Row, String, Table, bindparam, func, literal, select, text, true, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
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
from shared import tracing
from shared.clock import utcnow
from shared.db import insert_into, insert_new, update_where, upsert
from shared.messaging.envelope import Envelope
from shared.messaging.outbox import put
from shared.money import Money

PAYMENTS: Table = PaymentRow.__table__  # type: ignore[assignment]
CANCELLATIONS: Table = OrderCancellationRow.__table__  # type: ignore[assignment]
REFUNDS: Table = RefundRow.__table__  # type: ignore[assignment]
WEBHOOK_EVENTS: Table = WebhookEventRow.__table__  # type: ignore[assignment]
ATTEMPTS: Table = PaymentAttemptRow.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class PaymentRecord:
    """A `payments` row as plain values, one field per column (models.PaymentRow)."""

    id: str
    order_id: str
    customer_id: str
    amount_minor: int
    currency: str
    method: str
    language: str
    status: str
    gateway: str | None
    gateway_ref: str | None
    redirect_url: str | None
    return_url: str | None
    attempts_allowed: int
    card_brand: str | None
    card_last4: str | None
    failure_reason: str | None
    queries: int
    next_query_at: datetime | None
    refund_noted_at: datetime | None
    created_at: datetime
    updated_at: datetime
    trace_parent: str | None = None
    captured_at: datetime | None = None
    refunded_at: datetime | None = None


#: payment ids are derived from their order's id under this namespace (UUID version 5)
PAYMENT_IDS = uuid.UUID("5b0d6f0e-3c1a-4f4e-9a51-7d0c2a6e8b13")


def new_payment_id(order_id: str) -> str:
    """The payment of an order (there is at most one). Derived from the order's id, not
    drawn: the checkout is opened at the gateway keyed by it before our row is stored, so a
    `payment.create` handled again after a crash or a gateway timeout asks with the same key
    and finds the same checkout rather than opening a second one."""
    return f"pay_{uuid.uuid5(PAYMENT_IDS, order_id).hex}"


def new_payment(payload: dict[str, Any], payment_id: str, attempts_allowed: int, now: datetime) -> PaymentRecord:
    """A payment for the order in `payload` (a payment.create command), not stored yet."""
    return PaymentRecord(
        id=payment_id, order_id=payload["order_id"], customer_id=payload["customer_id"],
        amount_minor=payload["amount"], currency=payload["currency"], method=payload["method"],
        language=payload.get("language", "en"), status=PaymentStatus.CREATED.value, gateway=None, gateway_ref=None,
        redirect_url=None, return_url=payload.get("return_url"), attempts_allowed=attempts_allowed,
        card_brand=None, card_last4=None, failure_reason=None, queries=0, next_query_at=None, refund_noted_at=None,
        created_at=now, updated_at=now, trace_parent=tracing.headers().get("traceparent"),
    )


def to_payment(row: PaymentRecord) -> Payment:
    return Payment(row.id, row.order_id, row.customer_id, Money(row.amount_minor, row.currency),
                   row.method, PaymentStatus(row.status), row.gateway_ref, row.language, row.attempts_allowed)


def record_of(row: Row[Any]) -> PaymentRecord:
    return PaymentRecord(**row._mapping)


#: (locked?) -> the payment by id, and by order id: built once (db.py says why)
BY_ID = {False: select(PAYMENTS).where(PAYMENTS.c.id == bindparam("key"))}
BY_ID[True] = BY_ID[False].with_for_update()
BY_ORDER = {False: select(PAYMENTS).where(PAYMENTS.c.order_id == bindparam("key"))}
BY_ORDER[True] = BY_ORDER[False].with_for_update()


def get_payment(session: Session, payment_id: str, *, lock: bool = False) -> PaymentRecord | None:
    """The payment; `lock` serializes a webhook and a refund racing on one payment."""
    row = session.execute(BY_ID[lock], {"key": payment_id}).first()
    return record_of(row) if row is not None else None


def find_by_order(session: Session, order_id: str, *, lock: bool = False) -> PaymentRecord | None:
    row = session.execute(BY_ORDER[lock], {"key": order_id}).first()
    return record_of(row) if row is not None else None


def insert_payment(session: Session, row: PaymentRecord) -> None:
    """Store a new payment, every column in one INSERT.

    The caller holds the order's lock (`lock_order`) and has seen no payment for it, so a
    second one cannot get here; the unique order id stays the backstop: a duplicate fails
    the INSERT, its message is retried, and then finds the first one's row.
    """
    session.execute(insert_into(PAYMENTS), {f.name: getattr(row, f.name) for f in fields(row)})


def update_payment(session: Session, before: PaymentRecord, after: PaymentRecord) -> PaymentRecord:
    """Write what changed from `before` to `after`: one UPDATE, none when nothing did.
    Returns the payment as stored (`updated_at` moves with any change; `captured_at` and
    `refunded_at` are set when it first reaches those states)."""
    now = utcnow()
    if after.status in (PaymentStatus.CAPTURED, PaymentStatus.REFUNDED) and after.captured_at is None:
        after = replace(after, captured_at=now)  # (a refund notice that overtook the capture: both at once)
    if after.status == PaymentStatus.REFUNDED and after.refunded_at is None:
        after = replace(after, refunded_at=now)
    changes = {f.name: getattr(after, f.name) for f in fields(after)
               if getattr(after, f.name) != getattr(before, f.name)}
    if not changes:
        return after
    changes["updated_at"] = now
    session.execute(update_where(PAYMENTS, "id"), {"where_id": before.id, **changes})
    return replace(after, updated_at=changes["updated_at"])


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


@dataclass(frozen=True)
class OrderStanding:
    """What is known of an order when its payment.create arrives."""

    payment: PaymentRecord | None  # made by an earlier command for the order
    cancelled: bool  # a payment.cancel came first


_WANTED = select(bindparam("order_id", type_=String).label("order_id")).subquery("wanted")
_CANCELLED = select(CANCELLATIONS.c.order_id).where(CANCELLATIONS.c.order_id == bindparam("order_id")).exists()
ORDER_STANDING = (select(_CANCELLED.label("cancelled"), PAYMENTS)
                  .select_from(_WANTED.outerjoin(PAYMENTS, PAYMENTS.c.order_id == _WANTED.c.order_id)))


def order_standing(session: Session, order_id: str) -> OrderStanding:
    """The order's payment if it has one, and whether its cancel came first: one statement
    (the order id, left-joined to its payment, beside EXISTS of its cancellation)."""
    values = dict(session.execute(ORDER_STANDING, {"order_id": order_id}).one()._mapping)
    was_cancelled = bool(values.pop("cancelled"))
    return OrderStanding(PaymentRecord(**values) if values["id"] is not None else None, was_cancelled)


def note_cancellation(session: Session, order_id: str, reason: str) -> None:
    """Remember a cancel that came before its create (once: the first reason stays)."""
    session.execute(upsert(session)(CANCELLATIONS)
                    .values(order_id=order_id, reason=reason, cancelled_at=utcnow())
                    .on_conflict_do_nothing(index_elements=["order_id"]))


def get_refund(session: Session, payment_id: str, *, lock: bool = False) -> RefundRow | None:
    query = select(RefundRow).where(RefundRow.payment_id == payment_id)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).one_or_none()


def start_refund(session: Session, row: PaymentRecord, reason: str, now: datetime) -> RefundRow:
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


def record_webhook(session: Session, provider: str, event: GatewayEvent, raw_body: bytes) -> bool:
    """Note a webhook event; False if it was already noted (a redelivery).

    One statement: INSERT ... ON CONFLICT (provider, event_id) DO NOTHING. A concurrent
    redelivery waits on the first one's row and then meets the conflict, a clean
    'duplicate' rather than a failed request (or, if the first rolled back, inserts).
    """
    statement = insert_new(session, WEBHOOK_EVENTS, ("provider", "event_id"))
    return session.execute(statement, _webhook_values(provider, event, raw_body)).first() is not None


def note_and_lock(session: Session, provider: str, event: GatewayEvent,
                  raw_body: bytes) -> tuple[bool, PaymentRecord | None]:
    """Note a webhook event (record_webhook) and lock the payment it names (get_payment):
    (new?, the payment or None). On PostgreSQL one statement, the INSERT as a WITH beside
    the locking read (every webhook and every answer to our question takes this path, two
    of them per top-up); on SQLite the two statements. A redelivery meets the conflict and
    answers not new (the lock it took is released with its transaction, having changed
    nothing)."""
    if session.get_bind().dialect.name != "postgresql":
        if not record_webhook(session, provider, event, raw_body):
            return False, None
        return True, get_payment(session, event.payment_id, lock=True)
    row = session.execute(_noted_and_locked(), _webhook_values(provider, event, raw_body)).one()
    fresh = bool(row.fresh)
    return fresh, (record_of_prefixed(row) if fresh and row.p_id is not None else None)


def _webhook_values(provider: str, event: GatewayEvent, raw_body: bytes) -> dict[str, Any]:
    return {"provider": provider, "event_id": event.event_id, "type": event.kind.value,
            "payment_id": event.payment_id, "payload": raw_body.decode("utf-8", errors="replace"),
            "received_at": utcnow()}


@functools.cache
def _noted_and_locked() -> Any:
    """note_and_lock's statement on PostgreSQL, built once on first use."""
    noted = (pg_insert(WEBHOOK_EVENTS)
             .values({name: bindparam(name) for name in ("provider", "event_id", "type", "payment_id", "payload",
                                                          "received_at")})
             .on_conflict_do_nothing(index_elements=["provider", "event_id"])
             .returning(WEBHOOK_EVENTS.c.event_id).cte("noted"))
    locked = select(PAYMENTS).where(PAYMENTS.c.id == bindparam("payment_id")).with_for_update().cte("locked")
    one = select(literal(1).label("one")).subquery("one")
    return (select(select(func.count()).select_from(noted).scalar_subquery().label("fresh"),
                   *(column.label(f"p_{column.name}") for column in locked.c))
            .select_from(one.outerjoin(locked, true())))


def record_of_prefixed(row: Row[Any]) -> PaymentRecord:
    return PaymentRecord(**{f.name: getattr(row, f"p_{f.name}") for f in fields(PaymentRecord)})


def record_attempt(session: Session, payment_id: str, attempt: int, reason: str, occurred_at: datetime) -> bool:
    """Note a failed try; False if it was noted already (its notice and our question both
    name it). One statement: INSERT ... ON CONFLICT (payment_id, attempt) DO NOTHING."""
    statement = insert_new(session, ATTEMPTS, ("payment_id", "attempt"))
    return session.execute(statement, {"payment_id": payment_id, "attempt": attempt, "reason": reason,
                                       "occurred_at": occurred_at}).first() is not None


def settle_refund(session: Session, payment_id: str) -> None:
    """The gateway says the money went back: our own attempts, if any, are over (one UPDATE)."""
    session.execute(update(REFUNDS)
                    .where(REFUNDS.c.payment_id == payment_id, REFUNDS.c.status != RefundStatus.SUCCEEDED.value)
                    .values(status=RefundStatus.SUCCEEDED.value, next_attempt_at=None))


def attempts_of(session: Session, payment_id: str) -> list[PaymentAttemptRow]:
    return list(session.scalars(select(PaymentAttemptRow).where(PaymentAttemptRow.payment_id == payment_id)
                                .order_by(PaymentAttemptRow.attempt)))


def emit(session: Session, *envelopes: Envelope) -> None:
    put(session, OutboxMessage, *envelopes)
