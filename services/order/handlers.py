"""The saga's message handlers: each turns an answer from another service into a saga event
and lets `advance` apply the transition table. One function per message type."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import structlog
from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from services.order import balances, receipts
from services.order.commands import ADDRESSED, CUSTOMER, CUSTOMERS, messages_for
from services.order.domain.saga import TERMINAL, USUALLY_FROM, Event, Status, Transition, decide
from services.order.models import Order, OutboxMessage, TimelineEntry
from shared import metrics
from shared.clock import utcnow
from shared.db import update_where
from shared.messaging import writebehind
from shared.messaging.envelope import Envelope
from shared.messaging.outbox import put

log = structlog.get_logger(__name__)


def record(session: Session, order: Order, event: Event, reason: str | None = None,
           operator: str | None = None, note: str | None = None) -> TimelineEntry:
    """A timeline entry for an order handled through the ORM (placing it, an operator's
    action, with the operator's name and why)."""
    entry = TimelineEntry(order_id=order.id, event=event.value, status=order.status, reason=reason,
                          occurred_at=utcnow(), operator=operator, note=note)
    session.add(entry)
    return entry


ORDERS: Table = Order.__table__  # type: ignore[assignment]
TIMELINE: Table = TimelineEntry.__table__  # type: ignore[assignment]
LOCK_ORDER = select(ORDERS).where(ORDERS.c.id == bindparam("order_id")).with_for_update()


def advance(session: Session, order_id: str, event: Event, caused_by: Envelope | None = None,
            reason: str | None = None, facts: dict[str, Any] | None = None,
            operator: str | None = None, note: str | None = None) -> Transition | None:
    """Apply `event` to the order: new status, timeline entry, and the transition's messages,
    all in the caller's transaction. Facts (payment id, card, balance) are kept only when the
    event is accepted, so a stale message cannot overwrite newer knowledge.

    Plain statements, no ORM (every saga message comes through here): lock and read the
    order, update it, append to its timeline, and put the messages (reading the customer
    only when there are messages to address). In a consumer's batch the timeline entry and
    the messages are written with the batch's others, just before its commit.

    Where the order usually is when `event` comes (USUALLY_FROM), it is moved in one
    statement that changes it only if it is still there, and answers with what its messages
    say of the customer; otherwise, or if it was not there, it is locked and read, and the
    table decides."""
    now = utcnow()
    row, transition, changes = _move_if_usual(session, order_id, event, reason, facts, now)
    usual_from = USUALLY_FROM.get(event) if transition is not None else None  # the row is as it is now
    if transition is None:
        row = session.execute(LOCK_ORDER, {"order_id": order_id}).mappings().one_or_none()
        if row is None:
            # Every saga message answers an order we created; its absence is a bug, so retry/park.
            raise LookupError(f"unknown order {order_id}")
        transition = decide(Status(row["status"]), event)
        if transition is None:
            log.info("saga_event_ignored", order_id=order_id, status=row["status"], saga_event=event.value)
            return None
        changes = _changes(transition, facts, now)
        if reason and row["failure_reason"] is None and not transition.reason_is_a_note:
            changes["failure_reason"] = reason
        session.execute(update_where(ORDERS, "id"), {"where_id": order_id, **changes})
    if transition.to in TERMINAL and (usual_from or Status(row["status"])) not in TERMINAL:
        count_ending(session, row["method"], transition.to, row["created_at"], now)
    writebehind.insert(session, TIMELINE, [{"order_id": order_id, "event": event.value, "status": transition.to.value,
                                            "reason": reason, "occurred_at": now, "operator": operator,
                                            "note": note}])
    if transition.actions:
        order = SimpleNamespace(**{**row, **changes})
        customer = SimpleNamespace(**{name: row[f"customer_{name}"] for name in CUSTOMER.selected_columns.keys()}
                                   ) if "customer_email" in row else None
        put(session, OutboxMessage, *messages_for(session, order, transition.actions, caused_by, customer=customer))
    return transition


def count_ending(session: Session, method: str, ending: Status, placed_at: datetime, now: datetime) -> None:
    """A top-up ended: counted by method and ending, with the time since it was placed, once
    its transaction commits (shared/metrics.py)."""
    seconds = max(0.0, (now - placed_at).total_seconds())

    def count() -> None:
        metrics.TOPUPS.labels(method, ending.value).inc()
        metrics.TOPUP_SECONDS.labels(ending.value).observe(seconds)

    metrics.after_commit(session, count)


def _changes(transition: Transition, facts: dict[str, Any] | None, now: Any) -> dict[str, Any]:
    changes: dict[str, Any] = {**(facts or {}), "status": transition.to.value, "updated_at": now}
    if transition.needs_operator:
        changes["needs_operator"] = True
    return changes


MOVE_IF = (update(ORDERS).where(ORDERS.c.id == bindparam("where_id"), ORDERS.c.status == bindparam("where_status"))
           .returning(*ORDERS.c))
#: the same, answering with what the transition's messages say of the customer (commands.CUSTOMER)
MOVE_IF_ADDRESSED = MOVE_IF.returning(*(
    select(column).where(CUSTOMERS.c.id == ORDERS.c.customer_id).scalar_subquery().label(f"customer_{column.name}")
    for column in CUSTOMER.selected_columns))


def _move_if_usual(session: Session, order_id: str, event: Event, reason: str | None, facts: dict[str, Any] | None,
                   now: Any) -> tuple[Any, Transition | None, dict[str, Any]]:
    """The order moved by `event` from where it usually is, in one statement, if it is
    there: (the order as it is now, the transition, the changes); (None, None, {}) if not
    (an order elsewhere, or unknown). A reason that would become the order's failure reason
    depends on the order's, so such an event is always decided on the order read."""
    usual = USUALLY_FROM.get(event)
    transition = decide(usual, event) if usual is not None else None
    if usual is None or transition is None or (reason and not transition.reason_is_a_note):
        return None, None, {}
    changes = _changes(transition, facts, now)
    statement = MOVE_IF_ADDRESSED if ADDRESSED.intersection(transition.actions) else MOVE_IF
    row = session.execute(statement, {"where_id": order_id, "where_status": usual.value, **changes}).mappings().first()
    return (row, transition, changes) if row is not None else (None, None, {})


def on(event: Event, reason_key: str | None = None,
       facts: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> Callable[[Session, Envelope], None]:
    """A handler that feeds one message type into the saga as `event`."""

    def handler(session: Session, msg: Envelope) -> None:
        p = msg.payload
        advance(session, p["order_id"], event, caused_by=msg,
                reason=p.get(reason_key) if reason_key else None,
                facts=facts(p) if facts else None)

    handler.__name__ = f"on_{event.value}"
    return handler


def _payment_created(p: dict[str, Any]) -> dict[str, Any]:
    return {"payment_id": p["payment_id"], "redirect_url": p["redirect_url"]}


def _payment_captured(p: dict[str, Any]) -> dict[str, Any]:
    return {"payment_id": p["payment_id"], "card_brand": p.get("card_brand"), "card_last4": p.get("card_last4")}


def _credited(p: dict[str, Any]) -> dict[str, Any]:
    """The balance it left, and the credit's end as the wallet booked it (the one the quote
    showed, unless it had passed by the time the money came)."""
    facts = {"balance_after_minor": p["balance_after"]}
    if p.get("valid_until") is not None:
        facts["valid_until"] = p["valid_until"]
    return facts


def account_updated(session: Session, msg: Envelope) -> None:
    balances.keep(session, msg.payload)


def credited(session: Session, msg: Envelope) -> None:
    """The saga moves on, and the balance the customer sees is never behind a top-up they
    see completed: this message is the announcement of the credit's account version."""
    p = msg.payload
    if p.get("account") is not None:
        balances.keep(session, p["account"])
    advance(session, p["order_id"], Event.CREDITED, caused_by=msg, facts=_credited(p))


def refunded(session: Session, msg: Envelope) -> None:
    """The money went back: by the gateway, or by hand outside the system, which the
    operator who recorded it put on the timeline with why and the gateway's reference."""
    p = msg.payload
    note = " ".join(filter(None, [p.get("note"), f"(gateway reference {p['gateway_reference']})"
                                  if p.get("gateway_reference") else None])) or None
    advance(session, p["order_id"], Event.PAYMENT_REFUNDED, caused_by=msg, facts={"needs_operator": False},
            operator=p.get("operator"), note=note[:500] if note else None)


def payment_synced(session: Session, msg: Envelope) -> None:
    """An operator had the gateway asked about the order's payment: on the timeline, under
    their name and why; the order's status is not this message's to move."""
    p = msg.payload
    status = session.execute(select(ORDERS.c.status).where(ORDERS.c.id == p["order_id"])).scalar_one_or_none()
    if status is None:
        raise LookupError(f"unknown order {p['order_id']}")
    writebehind.insert(session, TIMELINE, [{
        "order_id": p["order_id"], "event": Event.PAYMENT_SYNCED.value, "status": status,
        "reason": "news" if p["news"] else "no_news", "occurred_at": msg.occurred_at, "operator": p["operator"],
        "note": p["note"]}])


def receipt_issued(session: Session, msg: Envelope) -> None:
    """The receipt, kept to be read with the order; announced with its email's sending, it
    also puts `receipt_sent` on the timeline (one message where there were two)."""
    receipts.keep(session, msg.payload)
    if msg.payload.get("sent_at") is not None:
        advance(session, msg.payload["order_id"], Event.RECEIPT_SENT, caused_by=msg)


SAGA_HANDLERS: dict[str, Callable[[Session, Envelope], None]] = {
    "credit_authorized": on(Event.CREDIT_AUTHORIZED),
    "credit_refused": on(Event.CREDIT_REFUSED, reason_key="reason"),
    "payment_created": on(Event.PAYMENT_CREATED, facts=_payment_created),
    "payment_captured": on(Event.PAYMENT_CAPTURED, facts=_payment_captured),
    "payment_failed": on(Event.PAYMENT_FAILED, reason_key="reason"),
    "payment_attempt_failed": on(Event.PAYMENT_ATTEMPT_FAILED, reason_key="reason"),
    "payment_refunded": refunded,
    "refund_failed": on(Event.REFUND_FAILED, reason_key="reason", facts=lambda p: {"needs_operator": True}),
    "credited": credited,
    "credit_failed": on(Event.CREDIT_FAILED, reason_key="reason"),
    "receipt_sent": on(Event.RECEIPT_SENT),
    "account_updated": account_updated,
    "receipt_issued": receipt_issued,
    "payment_synced": payment_synced,
}


def expire_overdue(session: Session, now: Any, limit: int = 100) -> int:
    """Expire orders whose payment deadline passed (the durable deadline: it is a column)."""
    ids = session.scalars(
        select(Order.id)
        .where(Order.status.in_([Status.PENDING.value, Status.AWAITING_PAYMENT.value]), Order.payment_deadline < now)
        .limit(limit)
    ).all()
    for order_id in ids:
        advance(session, order_id, Event.PAYMENT_DEADLINE_PASSED, reason="payment_timeout")
    return len(ids)
