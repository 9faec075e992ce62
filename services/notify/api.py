"""Operator API of the notify service: was this order's receipt issued and sent, and if not,
why not.

The brief asks that support can see exactly where a top-up stands; for the emails that is
the receipt's number, and each email's status, attempts and the mail server's last answer.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields

from services.notify import store
from services.notify.domain.receipt import EmailKind
from services.notify.models import EmailRow
from services.notify.texts import _
from shared.openapi import OPERATOR, Blueprint, problems, refusal
from shared.problems import Problem
from shared.service import ServiceContext
from shared.web import require_operator


class EmailSchema(Schema):
    email_id = fields.String()
    kind = fields.String(metadata={"enum": [k.value for k in EmailKind]})
    email = fields.String()
    language = fields.String()
    subject = fields.String()
    status = fields.String(metadata={"enum": ["pending", "sending", "sent"],
                                     "description": "sending: a mailer claimed it at `claimed_at`"})
    attempts = fields.Integer(metadata={"description": "delivery attempts so far"})
    last_error = fields.String(allow_none=True, metadata={"description": "the mail server's last refusal"})
    created_at = fields.DateTime()
    claimed_at = fields.DateTime(allow_none=True, metadata={"description": "when a mailer last took it to send"})
    sent_at = fields.DateTime(allow_none=True)


class OrderEmailsSchema(Schema):
    order_id = fields.String()
    receipt_number = fields.String(allow_none=True, metadata={"description": "once the receipt is issued"})
    emails = fields.List(fields.Nested(EmailSchema))


def email_view(row: EmailRow) -> dict[str, Any]:
    """Never the bodies: an operator needs where an email stands, not what it says."""
    return {
        "email_id": row.id, "kind": row.kind, "email": row.email, "language": row.language,
        "subject": row.subject, "status": row.status, "attempts": row.attempts, "last_error": row.last_error,
        "created_at": row.created_at, "claimed_at": row.claimed_at, "sent_at": row.sent_at,
    }


NOT_FOUND = refusal(404, "receipt_not_found", _("No receipt for this order."))
EMAILS_EXAMPLE = {
    "order_id": "ord_5b7e", "receipt_number": "R-2025-000042",
    "emails": [{"email_id": "eml_1c9a", "kind": "receipt", "email": "ana@example.com", "language": "en",
                "subject": "Your receipt R-2025-000042", "status": "sent", "attempts": 1, "last_error": None,
                "created_at": "2025-03-01T09:32:00+00:00", "sent_at": "2025-03-01T09:32:03+00:00"}],
}


def build_blueprint(ctx: ServiceContext) -> Blueprint:
    blp = Blueprint("receipts", __name__, url_prefix="/v1/receipts", description="Operator API (Bearer OPERATOR_TOKEN)")
    operator = require_operator(ctx.settings.operators)

    @blp.route("/<order_id>")
    class Receipts(MethodView):
        decorators = [operator]

        @blp.response(200, OrderEmailsSchema, example=EMAILS_EXAMPLE)
        @blp.doc(security=[{"bearer": []}])
        @problems(OPERATOR, NOT_FOUND)
        def get(self, order_id: str) -> dict[str, Any]:
            """An order's receipt number and every email about it, with where each stands."""
            with ctx.sessions() as session:
                rows = store.emails_for_order(session, order_id)
                receipt = store.find_receipt(session, order_id)
                if not rows and receipt is None:
                    raise Problem(404, NOT_FOUND.code, NOT_FOUND.title,
                                  _("No receipt or notice was recorded for order {order_id}.", order_id=order_id))
                return {"order_id": order_id, "receipt_number": receipt.number if receipt else None,
                        "emails": [email_view(r) for r in rows]}

    return blp
