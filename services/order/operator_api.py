"""Operator API of the order service: what support needs when a customer calls.

The brief: if a top-up takes longer than expected, support must see exactly where it stands
and fix it. Any order can be looked up (with its whole timeline); orders whose refund failed
at the gateway are listed, and their refund can be tried again.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from services.order.domain.saga import Event
from services.order.handlers import record
from services.order.models import Order, OutboxMessage
from services.order.schemas import ORDER_EXAMPLE, STATUSES, OrderOut
from services.order.texts import _
from shared.db import unit_of_work
from shared.messaging.envelope import Envelope
from shared.messaging.outbox import put
from shared.openapi import OPERATOR, VALIDATION_FAILED, problems, refusal
from shared.problems import Problem
from shared.service import ServiceContext
from shared.web import require_operator

BEARER: list[dict[str, list[str]]] = [{"bearer": []}]


class OperatorOrderOut(OrderOut):
    customer_id = fields.String()
    needs_operator = fields.Boolean(metadata={"description": "its refund failed: an operator must act"})


class OperatorListArgs(Schema):
    needs_operator = fields.Boolean(load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))
    customer_id = fields.String(load_default=None)
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class OperatorListOut(Schema):
    orders = fields.List(fields.Nested(OperatorOrderOut))


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
    operator = require_operator(lambda: ctx.settings.operator_token)

    @blp.route("/orders")
    class Orders(MethodView):
        decorators = [operator]

        @blp.arguments(OperatorListArgs, location="query")
        @blp.response(200, OperatorListOut, example={"orders": [OPERATOR_ORDER_EXAMPLE]})
        @blp.doc(security=BEARER)
        @problems(OPERATOR, VALIDATION_FAILED)
        def get(self, args: dict[str, Any]) -> dict[str, Any]:
            """Orders, most recently changed first: e.g. every order waiting for an operator."""
            query = select(Order).order_by(Order.updated_at.desc()).limit(args["limit"])
            if args["needs_operator"] is not None:
                query = query.where(Order.needs_operator.is_(args["needs_operator"]))
            if args["status"]:
                query = query.where(Order.status == args["status"])
            if args["customer_id"]:
                query = query.where(Order.customer_id == args["customer_id"])
            with ctx.sessions() as session:
                return {"orders": list(session.scalars(query))}

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
            record(session, order, Event.REFUND_RETRIED, reason="operator")
            put(session, OutboxMessage, Envelope.new("payment.refund", {
                "order_id": order.id, "payment_id": order.payment_id,
                "reason": order.failure_reason or "operator_retry"}, correlation_id=order.id))
            session.flush()
            session.refresh(order, ["timeline"])
            return order

    return blp
