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
from services.order.schemas import OrderOut
from services.order.texts import _
from shared.db import unit_of_work
from shared.messaging.envelope import Envelope
from shared.messaging.outbox import put
from shared.problems import Problem
from shared.service import ServiceContext
from shared.web import require_operator

BEARER: list[dict[str, list[str]]] = [{"bearer": []}]


class OperatorOrderOut(OrderOut):
    customer_id = fields.String()
    needs_operator = fields.Boolean()


class OperatorListArgs(Schema):
    needs_operator = fields.Boolean(load_default=None)
    status = fields.String(load_default=None)
    customer_id = fields.String(load_default=None)
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class OperatorListOut(Schema):
    orders = fields.List(fields.Nested(OperatorOrderOut))


def not_found(order_id: str) -> Problem:
    return Problem(404, "order_not_found", _("No such order."), _("There is no order {order_id}.", order_id=order_id))


def build_operator_blueprint(ctx: ServiceContext) -> Blueprint:
    blp = Blueprint("operator", __name__, url_prefix="/v1/operator",
                    description="Support and operations (Bearer OPERATOR_TOKEN)")
    operator = require_operator(lambda: ctx.settings.operator_token)

    @blp.route("/orders")
    class Orders(MethodView):
        decorators = [operator]

        @blp.arguments(OperatorListArgs, location="query")
        @blp.response(200, OperatorListOut)
        @blp.doc(security=BEARER)
        def get(self, args: dict[str, Any]) -> dict[str, Any]:
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
    @blp.response(200, OperatorOrderOut)
    @blp.doc(security=BEARER)
    @operator
    def get_order(order_id: str) -> Any:
        with ctx.sessions() as session:
            return load(session, order_id)

    @blp.route("/orders/<order_id>/retry-refund", methods=["POST"])
    @blp.response(202, OperatorOrderOut)
    @blp.doc(security=BEARER)
    @operator
    def retry_refund(order_id: str) -> Any:
        """Ask the payment service to try the refund again (after the gateway refused it)."""
        with unit_of_work(ctx.sessions) as session:
            order = session.scalars(select(Order).where(Order.id == order_id).with_for_update()).one_or_none()
            if order is None:
                raise not_found(order_id)
            if not order.needs_operator or order.payment_id is None:
                raise Problem(409, "no_refund_pending", _("Nothing to retry."),
                              _("Only an order whose refund failed can have its refund retried."))
            record(session, order, Event.REFUND_RETRIED, reason="operator")
            put(session, OutboxMessage, Envelope.new("payment.refund", {
                "order_id": order.id, "payment_id": order.payment_id,
                "reason": order.failure_reason or "operator_retry"}, correlation_id=order.id))
            session.flush()
            session.refresh(order, ["timeline"])
            return order

    return blp
