"""The messages a saga action sends, built from the order they concern."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from services.order.domain.catalog import rule_for
from services.order.domain.saga import Action
from services.order.models import Customer
from shared.clock import utcnow
from shared.messaging.envelope import Envelope

Message = tuple[str, dict[str, Any]]
CUSTOMERS = Customer.__table__
#: what the messages say of the customer: where to write and in which words
CUSTOMER = select(CUSTOMERS.c.email, CUSTOMERS.c.language, CUSTOMERS.c.country).where(
    CUSTOMERS.c.id == bindparam("customer_id"))


def _authorize_credit(order: Any, _: Any) -> Message:
    return ("wallet.authorize_credit", {
        "order_id": order.id, "customer_id": order.customer_id,
        "amount": order.credit_minor, "currency": order.currency})


def _create_payment(order: Any, customer: Any) -> Message:
    return ("payment.create", {
        "order_id": order.id, "customer_id": order.customer_id, "amount": order.charge_minor,
        "currency": order.currency, "method": order.method,
        "description": f"Balance top-up {order.id}", "language": customer.language,
        "return_url": order.return_url})


def _credit_wallet(order: Any, _: Any) -> Message:
    return ("wallet.credit", {
        "order_id": order.id, "customer_id": order.customer_id, "amount": order.credit_minor,
        "charge_amount": order.charge_minor, "currency": order.currency,
        "valid_until": order.valid_until, "validity_days": order.validity_days})


def _refund_payment(order: Any, _: Any) -> Message:
    return ("payment.refund", {
        "order_id": order.id, "payment_id": order.payment_id,
        "reason": order.failure_reason or "order_not_fulfilled"})


def _cancel_payment(order: Any, _: Any) -> Message:
    return ("payment.cancel", {"order_id": order.id, "reason": order.failure_reason or "expired"})


def _announce_completed(order: Any, customer: Any) -> Message:
    return ("order.completed", {
        "order_id": order.id, "customer_id": order.customer_id, "email": customer.email,
        "credit_amount": order.credit_minor, "charge_amount": order.charge_minor, "currency": order.currency,
        "method": order.method, "card_brand": order.card_brand, "card_last4": order.card_last4,
        "completed_at": utcnow(), "balance_after": order.balance_after_minor or 0, **_reader(customer),
        "promotion": order.promotion, "promotion_name": (order.promotion_names or {}).get(customer.language),
        "valid_until": order.valid_until})


def _announce_reversed(order: Any, customer: Any) -> Message:
    return ("order.reversed", {
        "order_id": order.id, "customer_id": order.customer_id, "email": customer.email,
        "charge_amount": order.charge_minor, "currency": order.currency, "method": order.method,
        "reason": order.failure_reason or "credit_failed", "reversed_at": utcnow(), **_reader(customer)})


def _reader(customer: Any) -> dict[str, str]:
    """How the customer reads what they are sent: their language, their country's zone."""
    return {"language": customer.language, "time_zone": rule_for(customer.country).time_zone}


BUILDERS: dict[Action, Callable[[Any, Any], Message]] = {
    Action.AUTHORIZE_CREDIT: _authorize_credit,
    Action.CREATE_PAYMENT: _create_payment,
    Action.CREDIT_WALLET: _credit_wallet,
    Action.REFUND_PAYMENT: _refund_payment,
    Action.CANCEL_PAYMENT: _cancel_payment,
    Action.ANNOUNCE_COMPLETED: _announce_completed,
    Action.ANNOUNCE_REVERSED: _announce_reversed,
}


#: the messages that say something of the customer (their words, their address)
ADDRESSED = frozenset({Action.CREATE_PAYMENT, Action.ANNOUNCE_COMPLETED, Action.ANNOUNCE_REVERSED})


def messages_for(session: Session, order: Any, actions: tuple[Action, ...],
                 caused_by: Envelope | None, customer: Any = None) -> list[Envelope]:
    """The messages of `actions` about `order` (an Order, or its row's values), addressed
    from `customer` (read when not given)."""
    if not actions:
        return []
    if customer is None and any(action in ADDRESSED for action in actions):
        customer = session.execute(CUSTOMER, {"customer_id": order.customer_id}).one()
    return [
        Envelope.new(*BUILDERS[action](order, customer), correlation_id=order.id, caused_by=caused_by)
        for action in actions
    ]
