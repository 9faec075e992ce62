"""The eSIM platform's API: it charges plans and usage to the balance and needs an answer at
once (debited, or why not). Authenticated with its own secret, `PLATFORM_TOKEN`.

Like Stripe's API: amounts in minor units with their currency, `Idempotency-Key` required
on a debit (the same key and body: the same debit, answered again with
`Idempotent-Replayed: true`; the same key with another body: 422), errors as problem+json
with a stable `code`.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from services.wallet import spending
from services.wallet.api import MoneySchema, refused
from services.wallet.domain.errors import WalletError
from services.wallet.models import DebitRow
from shared import metrics
from shared.clock import utcnow
from shared.db import unit_of_work
from shared.money import CURRENCY_EXPONENTS, Money
from shared.openapi import IDEMPOTENCY_KEY, JSON_BODY, Blueprint, problems, token_required
from shared.service import ServiceContext
from shared.web import (
    IDEMPOTENCY_KEY_HEADER,
    REPLAYED_HEADER,
    idempotency_key,
    replayed,
    request_hash,
    require_bearer,
    takes_idempotency_key,
)

BEARER: list[dict[str, list[str]]] = [{"bearer": []}]


class DebitIn(Schema):
    amount = fields.Integer(required=True, strict=True, validate=validate.Range(min=1),
                            metadata={"description": "minor units of `currency`"})
    currency = fields.String(required=True, validate=validate.OneOf(sorted(CURRENCY_EXPONENTS)))
    reference = fields.String(required=True, validate=validate.Length(min=1, max=64),
                              metadata={"description": "the platform's own id for what is paid (plan, usage)"})
    description = fields.String(required=True, validate=validate.Length(min=1, max=200),
                                metadata={"description": "what the customer's statement says"})


class DebitOut(Schema):
    debit_id = fields.String()
    customer_id = fields.String()
    amount = fields.Integer()
    currency = fields.String()
    reference = fields.String()
    description = fields.String()
    created_at = fields.DateTime()
    reversed_at = fields.DateTime(allow_none=True)
    balance = fields.Nested(MoneySchema, metadata={"description": "the balance right after this debit"})


class ReversalOut(DebitOut):
    balance = fields.Nested(MoneySchema, metadata={"description": "the balance right after the reversal"})


DEBIT_EXAMPLE = {
    "debit_id": "dbt_6a2f9c", "customer_id": "cus_8c1d2e", "amount": 2500, "currency": "EUR",
    "reference": "plan-eu-5gb", "description": "Europe 5 GB, 30 days", "created_at": "2025-03-02T10:00:00+00:00",
    "reversed_at": None, "balance": {"amount": 7500, "currency": "EUR"},
}
PLATFORM = token_required("PLATFORM_TOKEN")


def debit_view(row: DebitRow, balance_after: int | None = None) -> dict[str, Any]:
    return {
        "debit_id": row.id, "customer_id": row.customer_id, "amount": row.amount_minor, "currency": row.currency,
        "reference": row.reference, "description": row.description, "created_at": row.created_at,
        "reversed_at": row.reversed_at,
        "balance": {"amount": row.balance_after_minor if balance_after is None else balance_after,
                    "currency": row.currency},
    }



def build_platform_blueprint(ctx: ServiceContext) -> Blueprint:
    blp = Blueprint("platform", __name__, url_prefix="/v1/accounts",
                    description="The eSIM platform spends the balance (Bearer PLATFORM_TOKEN)")
    platform = require_bearer(lambda: ctx.settings.platform_token, "PLATFORM_TOKEN")

    # The token is checked first (outermost): a caller without it learns nothing, not even
    # whether its body would have been valid.
    @blp.route("/<customer_id>/debits", methods=["POST"])
    @platform
    @blp.arguments(DebitIn, example={"amount": 2500, "currency": "EUR", "reference": "plan-eu-5gb",
                                     "description": "Europe 5 GB, 30 days"})
    @blp.response(201, DebitOut, example=DEBIT_EXAMPLE, headers=REPLAYED_HEADER)
    @blp.doc(security=BEARER, parameters=[IDEMPOTENCY_KEY_HEADER])
    @problems(*JSON_BODY, PLATFORM, IDEMPOTENCY_KEY, *refused(
        "account_not_found", "account_frozen", "insufficient_funds", "currency_mismatch", "idempotency_key_reused"))
    @takes_idempotency_key
    def create_debit(body: dict[str, Any], customer_id: str) -> Any:
        """Debit the balance now, or refuse with nothing debited.

        Spends the credits that expire first, and only credits still valid."""
        debit_request = spending.DebitRequest(
            customer_id=customer_id, key=idempotency_key(), request_hash=request_hash(body),
            amount=Money(body["amount"], body["currency"]), reference=body["reference"],
            description=body["description"])
        try:
            with unit_of_work(ctx.sessions) as session:
                row, was = spending.debit(session, debit_request, utcnow())
                view = debit_view(row)
        except WalletError as refusal:
            metrics.DEBITS.labels(refusal.code).inc()
            raise
        metrics.DEBITS.labels("replayed" if was else "debited").inc()
        return view, 201, replayed(was)

    @blp.route("/<customer_id>/debits/<debit_id>/reversal", methods=["POST"])
    @platform
    @blp.response(201, ReversalOut, headers=REPLAYED_HEADER, example={
        **DEBIT_EXAMPLE, "reversed_at": "2025-03-05T08:00:00+00:00", "balance": {"amount": 10000, "currency": "EUR"}})
    @blp.doc(security=BEARER)
    @problems(PLATFORM, *refused("account_not_found", "debit_not_found"))
    def reverse_debit(customer_id: str, debit_id: str) -> Any:
        """Give a debit back (a cancelled plan), once: asking again answers the same reversal."""
        with unit_of_work(ctx.sessions) as session:
            row, was = spending.reverse(session, customer_id, debit_id, utcnow())
            view = debit_view(row, row.reversal_balance_after_minor)
        return view, 201, replayed(was)

    return blp
