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

from services.order.balances import balance_of
from services.order.domain.saga import Event
from services.order.handlers import record
from services.order.models import Customer, Order, OutboxMessage
from services.order.schemas import ORDER_EXAMPLE, STATUSES, OrderOut, TimelineOut
from services.order.texts import _
from shared.db import unit_of_work
from shared.messaging.envelope import Envelope
from shared.messaging.outbox import put
from shared.openapi import OPERATOR, VALIDATION_FAILED, Blueprint, QueryArgs, problems, refusal
from shared.problems import Problem
from shared.service import ServiceContext
from shared.web import require_operator

BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
#: how many of a customer's orders their lookup shows
RECENT_ORDERS = 10


class OperatorTimelineOut(TimelineOut):
    operator = fields.String(allow_none=True, metadata={"description": "the operator who acted (their name in "
                                                                      "OPERATOR_TOKENS); null: the customer or "
                                                                      "the system"})


class OperatorOrderOut(OrderOut):
    customer_id = fields.String()
    timeline = fields.List(fields.Nested(OperatorTimelineOut))
    needs_operator = fields.Boolean(metadata={"description": "its refund failed: an operator must act"})


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
        """Keyset-paginated on (created_at, id), which never change: pages never skip or repeat."""
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
        if args["cursor"]:
            anchor = load(session, args["cursor"])
            query = query.where((Order.created_at < anchor.created_at)
                                | ((Order.created_at == anchor.created_at) & (Order.id < anchor.id)))
        limit = args["limit"]
        rows = list(session.scalars(query.order_by(Order.created_at.desc(), Order.id.desc()).limit(limit + 1)))
        return rows[:limit], (rows[limit - 1].id if len(rows) > limit else None)

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
            orders, _cursor = find_orders(session, {"needs_operator": None, "status": None, "email": None,
                                                    "customer_id": customer.id, "cursor": None,
                                                    "limit": RECENT_ORDERS})
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
    @blp.response(200, OperatorOrderOut, example=OPERATOR_ORDER_EXAMPLE)
    @blp.doc(security=BEARER)
    @problems(OPERATOR, NOT_FOUND)
    @operator
    def get_order(order_id: str) -> Any:
        """Any order, with its whole timeline and whether it waits for an operator."""
        with ctx.sessions() as session:
            return load(session, order_id)

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
