"""Operator API of the payment service: where a payment stands, for support.

The brief: when a top-up takes longer than expected, support must see exactly where it is.
A payment is found by its id or by its order's id (one payment per order); a refund that is
being retried, or that failed, shows its attempts and the gateway's last answer.
"""

from __future__ import annotations

from typing import Any

import structlog
from flask import g
from flask.views import MethodView
from marshmallow import Schema, fields, validate
from sqlalchemy.orm import Session

from services.payment import handlers, store
from services.payment.domain.payment import PaymentStatus
from services.payment.domain.refund import RefundStatus
from services.payment.gateways import Gateways
from services.payment.models import RefundRow
from services.payment.reconcile import settle_by_query
from services.payment.store import PaymentRecord
from services.payment.texts import _
from shared.clock import utcnow
from shared.db import unit_of_work
from shared.i18n import Text
from shared.messaging.envelope import Envelope
from shared.openapi import JSON_BODY, OPERATOR, VALIDATION_FAILED, Blueprint, QueryArgs, problems, refusal
from shared.problems import Problem
from shared.service import ServiceContext
from shared.web import require_operator

log = structlog.get_logger(__name__)


class RefundSchema(Schema):
    status = fields.String(metadata={"enum": [s.value for s in RefundStatus]})
    reason = fields.String(metadata={"description": "why the refund was asked for"})
    attempts = fields.Integer(metadata={"description": "attempts at the gateway in the current series"})
    failure_code = fields.String(allow_none=True, metadata={"description": "the gateway's last refusal"})
    last_error = fields.String(allow_none=True)
    next_attempt_at = fields.DateTime(allow_none=True)
    settled_outside = fields.Dict(allow_none=True, metadata={
        "description": "made outside the system, as an operator recorded it: {reference, by, note}"})


class ReasonIn(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=3, max=500), metadata={
        "description": "why, in the operator's words: on the order's timeline with the operator's name"})


class SettledOutsideIn(Schema):
    gateway_reference = fields.String(required=True, validate=validate.Length(min=1, max=128), metadata={
        "description": "the gateway's (or bank's) reference of the refund made outside the system"})
    reason = fields.String(required=True, validate=validate.Length(min=3, max=500))


class AttemptSchema(Schema):
    attempt = fields.Integer(metadata={"description": "1 for the first try on the payment page"})
    reason = fields.String(metadata={"description": "the gateway's reason, e.g. card_declined"})
    occurred_at = fields.DateTime()


class PaymentSchema(Schema):
    payment_id = fields.String()
    order_id = fields.String()
    customer_id = fields.String()
    status = fields.String(metadata={"enum": [s.value for s in PaymentStatus]})
    amount = fields.Integer(metadata={"description": "minor units of `currency`"})
    currency = fields.String()
    method = fields.String()
    card_brand = fields.String(allow_none=True)
    card_last4 = fields.String(allow_none=True)
    failure_reason = fields.String(allow_none=True, metadata={"description": "why it failed or was cancelled"})
    attempts_allowed = fields.Integer(metadata={"description": "tries its payment page takes"})
    attempts = fields.List(fields.Nested(AttemptSchema), metadata={
        "description": "declined tries the page let the customer retry (the last one's reason is failure_reason)"})
    refund = fields.Nested(RefundSchema, allow_none=True, metadata={"description": "set once a refund was asked"})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class SyncedSchema(PaymentSchema):
    news = fields.Boolean(metadata={"description": "the gateway's answer moved the payment (or noted a declined "
                                                   "try); false: nothing new, or the gateway could not say"})


class ByOrderSchema(QueryArgs):
    order_id = fields.String(required=True)


def payment_view(session: Session, row: PaymentRecord) -> dict[str, Any]:
    refund = store.get_refund(session, row.id)
    return {
        "payment_id": row.id, "order_id": row.order_id, "customer_id": row.customer_id, "status": row.status,
        "amount": row.amount_minor, "currency": row.currency, "method": row.method,
        "card_brand": row.card_brand, "card_last4": row.card_last4, "failure_reason": row.failure_reason,
        "attempts_allowed": row.attempts_allowed,
        "attempts": [{"attempt": a.attempt, "reason": a.reason, "occurred_at": a.occurred_at}
                     for a in store.attempts_of(session, row.id)],
        "refund": refund_view(refund) if refund else None,
        "created_at": row.created_at, "updated_at": row.updated_at,
    }


def refund_view(refund: RefundRow) -> dict[str, Any]:
    return {"status": refund.status, "reason": refund.reason, "attempts": refund.attempts,
            "failure_code": refund.failure_code, "last_error": refund.last_error,
            "next_attempt_at": refund.next_attempt_at,
            "settled_outside": {"reference": refund.settled_reference, "by": refund.settled_by,
                                "note": refund.settled_note} if refund.settled_reference else None}


NOT_FOUND = refusal(404, "payment_not_found", _("No such payment."))
NO_REFUND_WAITING = refusal(409, "no_refund_waiting", _("No refund is waiting for an operator."),
                            note="Only a refund whose every attempt failed.")


def not_found(detail: Text) -> Problem:
    return Problem(404, NOT_FOUND.code, NOT_FOUND.title, detail)


PAYMENT_EXAMPLE = {
    "payment_id": "pay_2d9e41", "order_id": "ord_5b7e", "customer_id": "cus_8c1d2e", "status": "refunded",
    "amount": 9000, "currency": "EUR", "method": "card", "card_brand": "visa", "card_last4": "4242",
    "failure_reason": None, "attempts_allowed": 3,
    "attempts": [{"attempt": 1, "reason": "card_declined", "occurred_at": "2025-03-01T09:30:40+00:00"}],
    "refund": {"status": "succeeded", "reason": "account_frozen", "attempts": 1, "failure_code": None,
               "last_error": None, "next_attempt_at": None},
    "created_at": "2025-03-01T09:30:00+00:00", "updated_at": "2025-03-01T09:32:10+00:00",
}


def build_blueprint(ctx: ServiceContext, gateways: Gateways) -> Blueprint:
    blp = Blueprint("payments", __name__, url_prefix="/v1/payments", description="Operator API (Bearer OPERATOR_TOKEN)")
    operator = require_operator(ctx.settings.operators)

    @blp.route("")
    class ByOrder(MethodView):
        decorators = [operator]

        @blp.arguments(ByOrderSchema, location="query")
        @blp.response(200, PaymentSchema, example=PAYMENT_EXAMPLE)
        @blp.doc(security=[{"bearer": []}])
        @problems(OPERATOR, VALIDATION_FAILED, NOT_FOUND)
        def get(self, args: dict[str, str]) -> dict[str, Any]:
            """The payment of an order (there is at most one)."""
            with ctx.sessions() as session:
                row = store.find_by_order(session, args["order_id"])
                if row is None:
                    raise not_found(_("There is no payment for order {order_id}.", order_id=args["order_id"]))
                return payment_view(session, row)

    @blp.route("/<payment_id>")
    class OnePayment(MethodView):
        decorators = [operator]

        @blp.response(200, PaymentSchema, example=PAYMENT_EXAMPLE)
        @blp.doc(security=[{"bearer": []}])
        @problems(OPERATOR, NOT_FOUND)
        def get(self, payment_id: str) -> dict[str, Any]:
            """A payment: where it stands at the gateway, and its refund if one was asked for."""
            with ctx.sessions() as session:
                row = store.get_payment(session, payment_id)
                if row is None:
                    raise not_found(_("There is no payment {payment_id}.", payment_id=payment_id))
                return payment_view(session, row)

    @blp.route("/<payment_id>/refund/settled", methods=["POST"])
    @operator
    @blp.arguments(SettledOutsideIn, example={"gateway_reference": "re_3PqX2", "reason": "refunded by hand in "
                                                                                        "the gateway's dashboard"})
    @blp.response(200, PaymentSchema, example={**PAYMENT_EXAMPLE, "status": "refunded"})
    @blp.doc(security=[{"bearer": []}])
    @problems(*JSON_BODY, OPERATOR, NOT_FOUND, NO_REFUND_WAITING)
    def refund_settled(body: dict[str, Any], payment_id: str) -> dict[str, Any]:
        """Record a refund made outside the system after every attempt of ours failed (the
        order waits for an operator): the payment becomes refunded and the order hears it as
        from the gateway. The gateway's reference, the operator and the reason are kept; the
        same reference again changes nothing."""
        with unit_of_work(ctx.sessions) as session:
            try:
                row = handlers.refund_settled_outside(session, payment_id, body["gateway_reference"], g.operator,
                                                      body["reason"], utcnow())
            except handlers.NoRefundWaiting:
                raise Problem(409, NO_REFUND_WAITING.code, NO_REFUND_WAITING.title, _(
                    "Only a refund whose every attempt failed can be recorded as made outside the system.")) from None
            if row is None:
                raise not_found(_("There is no payment {payment_id}.", payment_id=payment_id))
            return payment_view(session, row)

    @blp.route("/<payment_id>/sync", methods=["POST"])
    @operator
    @blp.arguments(ReasonIn, example={"reason": "the customer says they paid ten minutes ago"})
    @blp.response(200, SyncedSchema, example={**PAYMENT_EXAMPLE, "news": True})
    @blp.doc(security=[{"bearer": []}])
    @problems(*JSON_BODY, OPERATOR, NOT_FOUND)
    def sync(body: dict[str, Any], payment_id: str) -> dict[str, Any]:
        """Ask the gateway about a payment now, rather than wait for its notification or the
        next scheduled question: its answer is applied as the notification would be (once;
        asking again changes nothing twice), and the saga hears of it as usual. Logged with
        the operator's name."""
        with ctx.sessions() as session:
            row = store.get_payment(session, payment_id)
        if row is None:
            raise not_found(_("There is no payment {payment_id}.", payment_id=payment_id))
        applied = settle_by_query(ctx.sessions, gateways, store.to_payment(row), row.gateway) if row.gateway else None
        news = applied is not None and applied.fresh
        log.info("payment_synced_by_operator", payment_id=payment_id, news=news)
        with unit_of_work(ctx.sessions) as session:  # the order's timeline shows who asked, and why
            store.emit(session, Envelope.new("payment.synced", {
                "order_id": row.order_id, "payment_id": payment_id, "operator": g.operator, "note": body["reason"],
                "news": news}, correlation_id=row.order_id))
            now = applied.payment if applied is not None and applied.payment else store.get_payment(session, payment_id)
            assert now is not None
            return {**payment_view(session, now), "news": news}

    return blp
