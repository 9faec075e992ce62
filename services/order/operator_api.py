"""Operator API of the order service: what support needs when a customer calls.

The brief: if a top-up takes longer than expected, support must see exactly where it stands
and fix it. A customer is found by their email (with their account and newest orders); any
order can be looked up (with its whole timeline, each operator's action under their name);
orders are listed by exact filters, a page at a time (those whose refund failed at the
gateway among them), and such a refund can be tried again.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from flask import g
from flask.views import MethodView
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from services.order import ordering, receipts
from services.order.balances import balance_of
from services.order.domain.errors import OrderNotCancellable, ReceiptNotFound
from services.order.domain.saga import Event, Status
from services.order.handlers import record
from services.order.models import BalanceChange, Customer, Order, OutboxMessage, Receipt
from services.order.schemas import ORDER_EXAMPLE, STATUSES, OrderOut, TimelineOut
from services.order.texts import _
from shared.clock import utcnow
from shared.db import unit_of_work
from shared.messaging.envelope import Envelope
from shared.messaging.outbox import put
from shared.messaging.parking import parked_counts
from shared.openapi import (
    IDEMPOTENCY_KEY,
    JSON_BODY,
    OPERATOR,
    VALIDATION_FAILED,
    Blueprint,
    QueryArgs,
    problems,
    refusal,
)
from shared.problems import Problem
from shared.service import ServiceContext
from shared.web import IDEMPOTENCY_KEY_HEADER, idempotency_key, require_operator

BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
#: how many of a customer's orders their lookup shows
RECENT_ORDERS = 10


class OperatorTimelineOut(TimelineOut):
    operator = fields.String(allow_none=True, metadata={"description": "the operator who acted (their name in "
                                                                      "OPERATOR_TOKENS); null: the customer or "
                                                                      "the system"})
    note = fields.String(allow_none=True, metadata={"description": "why the operator acted, in their words"})


class OperatorOrderOut(OrderOut):
    customer_id = fields.String()
    timeline = fields.List(fields.Nested(OperatorTimelineOut))
    needs_operator = fields.Boolean(metadata={"description": "its refund failed: an operator must act"})


class AttemptOut(Schema):
    reason = fields.String(allow_none=True, metadata={"description": "why the gateway declined this try"})
    at = fields.DateTime(attribute="occurred_at")


class OperatorPaymentOut(Schema):
    payment_id = fields.String(allow_none=True)
    method = fields.String()
    card_brand = fields.String(allow_none=True)
    card_last4 = fields.String(allow_none=True)
    declined_attempts = fields.List(fields.Nested(AttemptOut))
    refund = fields.String(allow_none=True, metadata={
        "enum": ["asked", "refunded", "failed", "retried"],
        "description": "where a refund of this payment stands, as the payment service announced it; null: none"})


class ReceiptSummaryOut(Schema):
    receipt_number = fields.String()
    issued_at = fields.DateTime()
    emailed = fields.Boolean(metadata={"description": "the notify service announced the email sent"})


class WalletEntryOut(Schema):
    entry_id = fields.String()
    kind = fields.String()
    amount = fields.Integer(attribute="amount_minor", metadata={"description": "minor units, the customer's side"})
    balance_after = fields.Integer(attribute="balance_minor")
    at = fields.DateTime(attribute="occurred_at")


class OperatorOrderViewOut(OperatorOrderOut):
    """One top-up across the services, from what each announced to the order service (no
    service reads another's tables): the payment's tries and refund, the receipt, and the
    wallet's entries for it."""

    payment_view = fields.Nested(OperatorPaymentOut, data_key="payment_detail")
    receipt = fields.Nested(ReceiptSummaryOut, allow_none=True)
    wallet_entries = fields.List(fields.Nested(WalletEntryOut))


class OperatorActionIn(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=3, max=500), metadata={
        "description": "why, in the operator's words: on the order's timeline as its `note`"})


class OperatorListArgs(QueryArgs):
    needs_operator = fields.Boolean(load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))
    customer_id = fields.String(load_default=None)
    email = fields.Email(load_default=None, metadata={"description": "the customer's email (any case)"})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    cursor = fields.String(load_default=None, metadata={
        "description": "`next_cursor` of the page before (an order id); one that names no order answers 404"})


class OperatorListOut(Schema):
    orders = fields.List(fields.Nested(OperatorOrderOut))
    next_cursor = fields.String(allow_none=True, metadata={"description": "null on the last page"})


class ParkedOut(Schema):
    total = fields.Integer()
    queues = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={
        "description": "`<service>.<handler>` -> messages parked there (only queues holding any); `make parked` "
                       "reads, replays and discards them"})


class CustomerLookupArgs(QueryArgs):
    email = fields.Email(required=True, metadata={"description": "the customer's email (any case)"})


class AccountOut(Schema):
    """The customer's wallet account as the wallet last announced it (the order service's
    projection; the wallet stays the authority)."""

    status = fields.String(metadata={"enum": ["active", "frozen"]})
    frozen_reason = fields.String(allow_none=True)
    balance = fields.Integer(attribute="amount_minor", metadata={"description": "minor units"})
    currency = fields.String()
    version = fields.Integer(metadata={"description": "the account version announced last; 0: none yet"})


class OperatorCustomerOut(Schema):
    customer_id = fields.String(attribute="id")
    email = fields.String()
    country = fields.String()
    currency = fields.String()
    language = fields.String()
    created_at = fields.DateTime()
    account = fields.Nested(AccountOut)
    recent_orders = fields.List(fields.Nested(OperatorOrderOut), metadata={
        "description": f"the newest {RECENT_ORDERS}; the rest: GET /v1/operator/orders?customer_id=...&cursor=..."})


class OperatorCustomersOut(Schema):
    customers = fields.List(fields.Nested(OperatorCustomerOut), metadata={
        "description": "the customer with this email, or none (an email belongs to one customer at most)"})


NOT_FOUND = refusal(404, "order_not_found", _("No such order."))
NO_REFUND_PENDING = refusal(409, "no_refund_pending", _("Nothing to retry."),
                            note="Only an order whose refund failed can have its refund retried.")
OPERATOR_ORDER_EXAMPLE = {**ORDER_EXAMPLE, "status": "paid", "next_action": None, "customer_id": "cus_8c1d2e",
                          "needs_operator": True, "failure_reason": "balance_cap_exceeded"}
OPERATOR_ORDER_VIEW_EXAMPLE = {
    **OPERATOR_ORDER_EXAMPLE, "status": "completed", "needs_operator": False, "failure_reason": None,
    "payment_detail": {"payment_id": "pay_3c9a", "method": "card", "card_brand": "visa", "card_last4": "4242",
                       "declined_attempts": [{"reason": "card_declined", "at": "2026-05-02T08:16:40Z"}],
                       "refund": None},
    "receipt": {"receipt_number": "R-2026-000042", "issued_at": "2026-05-02T08:17:03Z", "emailed": True},
    "wallet_entries": [{"entry_id": "je_77d1", "kind": "topup", "amount": 10000, "balance_after": 10000,
                        "at": "2026-05-02T08:17:02Z"}]}


def not_found(order_id: str) -> Problem:
    return Problem(404, NOT_FOUND.code, NOT_FOUND.title, _("There is no order {order_id}.", order_id=order_id))


def build_operator_blueprint(ctx: ServiceContext) -> Blueprint:
    blp = Blueprint("operator", __name__, url_prefix="/v1/operator",
                    description="Support and operations (Bearer OPERATOR_TOKEN)")
    operator = require_operator(ctx.settings.operators)

    @blp.route("/orders")
    class Orders(MethodView):
        decorators = [operator]

        @blp.arguments(OperatorListArgs, location="query")
        @blp.response(200, OperatorListOut, example={"orders": [OPERATOR_ORDER_EXAMPLE], "next_cursor": None})
        @blp.doc(security=BEARER)
        @problems(OPERATOR, VALIDATION_FAILED, refusal(NOT_FOUND, note="The cursor names no order."))
        def get(self, args: dict[str, Any]) -> dict[str, Any]:
            """Orders, newest first, a page at a time, filtered: e.g. every order waiting for an
            operator, or a customer's by their email. A parameter it does not know is refused."""
            with ctx.sessions() as session:
                orders, cursor = find_orders(session, args)
                return {"orders": orders, "next_cursor": cursor}

    def find_orders(session: Any, args: dict[str, Any]) -> tuple[list[Order], str | None]:
        query = select(Order)
        if args["needs_operator"] is not None:
            query = query.where(Order.needs_operator.is_(args["needs_operator"]))
        if args["status"]:
            query = query.where(Order.status == args["status"])
        if args["customer_id"]:
            query = query.where(Order.customer_id == args["customer_id"])
        if args["email"]:
            query = query.join(Customer, Customer.id == Order.customer_id).where(
                Customer.email == args["email"].strip().lower())
        after = load(session, args["cursor"]) if args["cursor"] else None
        return ordering.newest_page(session, query, args["limit"], after)

    @blp.route("/parked")
    @blp.response(200, ParkedOut, example={"total": 2, "queues": {"wallet.credit": 1, "notify.send_receipt": 1}})
    @blp.doc(security=BEARER)
    @problems(OPERATOR)
    @operator
    def parked() -> dict[str, Any]:
        """How many messages wait in the parking queues, per queue: each is a step of some
        top-up that failed every attempt (or could not be read)."""
        counts = parked_counts(ctx.settings)
        return {"total": sum(counts.values()), "queues": counts}

    @blp.route("/customers")
    @blp.arguments(CustomerLookupArgs, location="query")
    @blp.response(200, OperatorCustomersOut, example={"customers": [{
        "customer_id": "cus_8c1d2e", "email": "li.wei@example.com", "country": "CN", "currency": "CNY",
        "language": "zh-CN", "created_at": "2026-05-02T08:15:00Z",
        "account": {"status": "active", "frozen_reason": None, "balance": 12000, "currency": "CNY", "version": 4},
        "recent_orders": [OPERATOR_ORDER_EXAMPLE]}]})
    @blp.doc(security=BEARER)
    @problems(OPERATOR, VALIDATION_FAILED)
    @operator
    def find_customer(args: dict[str, Any]) -> dict[str, Any]:
        """A customer by email: their account's status and balance as the wallet announced
        them, and their newest orders (what support looks at first when a customer calls)."""
        with ctx.sessions() as session:
            customer = session.scalars(select(Customer).where(
                Customer.email == args["email"].strip().lower())).one_or_none()
            if customer is None:
                return {"customers": []}
            orders, _cursor = ordering.newest_page(session, select(Order).where(Order.customer_id == customer.id),
                                                   RECENT_ORDERS, None)
            found = SimpleNamespace(id=customer.id, email=customer.email, country=customer.country,
                                    currency=customer.currency, language=customer.language,
                                    created_at=customer.created_at, account=balance_of(session, customer),
                                    recent_orders=orders)
            return {"customers": [found]}

    def load(session: Any, order_id: str) -> Order:
        order = session.get(Order, order_id)
        if order is None:
            raise not_found(order_id)
        return order  # type: ignore[no-any-return]

    @blp.route("/orders/<order_id>")
    @blp.response(200, OperatorOrderViewOut, example=OPERATOR_ORDER_VIEW_EXAMPLE)
    @blp.doc(security=BEARER)
    @problems(OPERATOR, NOT_FOUND)
    @operator
    def get_order(order_id: str) -> Any:
        """Any top-up across the services: the order with its whole timeline (each operator's
        action under their name) and whether it waits for an operator; its payment's declined
        tries and refund; its receipt; the wallet's entries for it."""
        with ctx.sessions() as session:
            return view(session, load(session, order_id))

    @blp.route("/orders/<order_id>/cancel", methods=["POST"])
    @blp.arguments(OperatorActionIn, example={"reason": "the customer asked by phone: wrong amount"})
    @blp.response(202, OperatorOrderViewOut, example={**OPERATOR_ORDER_VIEW_EXAMPLE, "status": "cancelled"})
    @blp.doc(security=BEARER)
    @problems(OPERATOR, *JSON_BODY, NOT_FOUND, refusal(OrderNotCancellable, note="It has been paid, or has ended."))
    @operator
    def cancel(body: dict[str, Any], order_id: str) -> Any:
        """Cancel an order not yet paid, for the customer: as if they had (its payment at the
        gateway is cancelled, a capture racing it refunded), with the operator's name and
        reason on the timeline. Asking again answers the same."""
        with unit_of_work(ctx.sessions) as session:
            ordering.cancel_order(session, None, order_id, operator=g.operator, note=body["reason"])
        with ctx.sessions() as session:
            return view(session, load(session, order_id)), 202

    @blp.route("/orders/<order_id>/receipt/resend", methods=["POST"])
    @blp.arguments(OperatorActionIn, example={"reason": "the customer's spam filter ate it"})
    @blp.response(202, OperatorOrderViewOut, example=OPERATOR_ORDER_VIEW_EXAMPLE)
    @blp.doc(security=BEARER, parameters=[IDEMPOTENCY_KEY_HEADER])
    @problems(OPERATOR, *JSON_BODY, IDEMPOTENCY_KEY, refusal(ReceiptNotFound, note="Not issued yet, or no such order."))
    @operator
    def resend_receipt(body: dict[str, Any], order_id: str) -> Any:
        """Email a copy of the receipt (same number, same words) to the customer's address now,
        with the operator's name and reason on the timeline; once per Idempotency-Key."""
        key = idempotency_key()
        with unit_of_work(ctx.sessions) as session:
            receipts.resend_for_support(session, order_id, key, g.operator, body["reason"], utcnow())
        with ctx.sessions() as session:
            return view(session, load(session, order_id)), 202

    @blp.route("/orders/<order_id>/retry-refund", methods=["POST"])
    @blp.response(202, OperatorOrderOut, example=OPERATOR_ORDER_EXAMPLE)
    @blp.doc(security=BEARER)
    @problems(OPERATOR, NOT_FOUND, NO_REFUND_PENDING)
    @operator
    def retry_refund(order_id: str) -> Any:
        """Ask the payment service to try the refund again (after the gateway refused it)."""
        with unit_of_work(ctx.sessions) as session:
            order = session.scalars(select(Order).where(Order.id == order_id).with_for_update()).one_or_none()
            if order is None:
                raise not_found(order_id)
            if not order.needs_operator or order.payment_id is None:
                raise Problem(409, NO_REFUND_PENDING.code, NO_REFUND_PENDING.title,
                              _("Only an order whose refund failed can have its refund retried."))
            record(session, order, Event.REFUND_RETRIED, reason="operator", operator=g.operator)
            put(session, OutboxMessage, Envelope.new("payment.refund", {
                "order_id": order.id, "payment_id": order.payment_id,
                "reason": order.failure_reason or "operator_retry"}, correlation_id=order.id))
            session.flush()
            session.refresh(order, ["timeline"])
            return order

    return blp


def view(session: Any, order: Order) -> SimpleNamespace:
    """The order with what the other services announced about it (no service reads
    another's tables): all from the order service's own records of those announcements."""
    steps = list(order.timeline)
    refund = None
    for step in steps:
        if step.event == Event.PAYMENT_CAPTURED.value and step.status in LATE_MONEY:
            refund = "asked"  # money on an order that had ended without it: given back
        refund = REFUND_STEPS.get(step.event, refund)
    receipt = session.get(Receipt, order.id)
    entries = session.scalars(select(BalanceChange).where(
        BalanceChange.customer_id == order.customer_id, BalanceChange.order_id == order.id,
        BalanceChange.entry_id.is_not(None)).order_by(BalanceChange.version)).all()
    fields_ = {column.key: getattr(order, column.key) for column in Order.__table__.columns}
    return SimpleNamespace(
        **fields_, timeline=steps,
        payment_view=SimpleNamespace(
            payment_id=order.payment_id, method=order.method, card_brand=order.card_brand,
            card_last4=order.card_last4, refund=refund,
            declined_attempts=[s for s in steps if s.event == Event.PAYMENT_ATTEMPT_FAILED.value]),
        receipt=SimpleNamespace(receipt_number=receipt.receipt_number, issued_at=receipt.issued_at,
                                emailed=any(s.event == Event.RECEIPT_SENT.value for s in steps))
        if receipt is not None else None,
        wallet_entries=entries)


#: an order that ended without money: a capture after it is refunded (domain/saga.py)
LATE_MONEY = frozenset({Status.EXPIRED.value, Status.FAILED.value, Status.CANCELLED.value})
#: where a refund stands after each of these timeline events
REFUND_STEPS = {Event.CREDIT_FAILED.value: "asked", Event.PAYMENT_REFUNDED.value: "refunded",
                Event.REFUND_FAILED.value: "failed", Event.REFUND_RETRIED.value: "retried"}
