"""Operator API of the notify service: was this order's receipt sent, and if not, why not.

The brief asks that support can see exactly where a top-up stands; for the emails that is
the status, the number of attempts and the mail server's last answer.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from services.notify import store
from services.notify.models import ReceiptRow
from shared.problems import Problem
from shared.service import ServiceContext
from shared.web import require_operator


class ReceiptSchema(Schema):
    receipt_id = fields.String()
    kind = fields.String(metadata={"enum": ["receipt", "reversal"]})
    email = fields.String()
    subject = fields.String()
    status = fields.String(metadata={"enum": ["pending", "sent"]})
    attempts = fields.Integer(metadata={"description": "delivery attempts so far"})
    last_error = fields.String(allow_none=True, metadata={"description": "the mail server's last refusal"})
    created_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)


class ReceiptsSchema(Schema):
    order_id = fields.String()
    receipts = fields.List(fields.Nested(ReceiptSchema))


def receipt_view(row: ReceiptRow) -> dict[str, Any]:
    return {
        "receipt_id": row.id,
        "kind": row.kind,
        "email": row.email,
        "subject": row.subject,
        "status": row.status,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "created_at": row.created_at,
        "sent_at": row.sent_at,
    }


def build_blueprint(ctx: ServiceContext) -> Blueprint:
    blp = Blueprint("receipts", __name__, url_prefix="/v1/receipts", description="Operator API (Bearer OPERATOR_TOKEN)")
    operator = require_operator(lambda: ctx.settings.operator_token)

    @blp.route("/<order_id>")
    class Receipts(MethodView):
        decorators = [operator]

        @blp.response(200, ReceiptsSchema)
        @blp.doc(security=[{"bearer": []}])
        def get(self, order_id: str) -> dict[str, Any]:
            with ctx.sessions() as session:
                rows = store.receipts_for_order(session, order_id)
                if not rows:
                    raise Problem(404, "receipt_not_found", "No receipt for this order.",
                                  f"No receipt or notice was recorded for order {order_id}.")
                return {"order_id": order_id, "receipts": [receipt_view(r) for r in rows]}

    return blp
