"""Operator API of the wallet: look at an account and its credits, freeze or unfreeze it,
read its ledger."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from services.wallet import handlers, store
from services.wallet.credits import threshold
from services.wallet.domain.ledger import FreezeReason
from services.wallet.models import AccountRow, JournalEntryRow
from services.wallet.spending import AccountNotFound
from shared.db import unit_of_work
from shared.service import ServiceContext
from shared.web import require_operator


class MoneySchema(Schema):
    amount = fields.Integer(required=True, metadata={"description": "minor units"})
    currency = fields.String(required=True)


class LotSchema(Schema):
    lot_id = fields.String()
    order_id = fields.String(allow_none=True)
    amount = fields.Integer(metadata={"description": "credited, minor units"})
    remaining = fields.Integer(metadata={"description": "still on the balance"})
    expires_at = fields.DateTime()
    reminded_at = fields.DateTime(allow_none=True)


class AccountSchema(Schema):
    customer_id = fields.String()
    balance = fields.Nested(MoneySchema)
    status = fields.String(metadata={"enum": ["active", "frozen"]})
    frozen_reason = fields.String(allow_none=True)
    version = fields.Integer()
    low_balance_threshold = fields.Nested(MoneySchema)
    reminders = fields.Boolean()
    credits = fields.List(fields.Nested(LotSchema), metadata={"description": "credits with money left"})


class FreezeSchema(Schema):
    reason = fields.String(load_default=FreezeReason.OTHER.value, validate=validate.OneOf(list(FreezeReason)),
                           metadata={"description": "why; the customer is told this in their language"})


class PostingSchema(Schema):
    account = fields.String()
    amount = fields.Integer()
    currency = fields.String()


class EntrySchema(Schema):
    entry_id = fields.String()
    kind = fields.String()
    order_id = fields.String(allow_none=True)
    reference = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    amount = fields.Integer(metadata={"description": "change of this customer's balance"})
    balance_after = fields.Integer()
    created_at = fields.DateTime()
    postings = fields.List(fields.Nested(PostingSchema))


class EntriesSchema(Schema):
    customer_id = fields.String()
    entries = fields.List(fields.Nested(EntrySchema))


def account_view(session: Any, row: AccountRow) -> dict[str, Any]:
    limit = threshold(row)
    return {
        "customer_id": row.customer_id,
        "balance": {"amount": row.balance_minor, "currency": row.currency},
        "status": row.status,
        "frozen_reason": row.frozen_reason,
        "version": row.version,
        "low_balance_threshold": {"amount": limit.amount_minor, "currency": limit.currency},
        "reminders": row.reminders,
        "credits": [{"lot_id": lot.id, "order_id": lot.order_id, "amount": lot.amount_minor,
                     "remaining": lot.remaining_minor, "expires_at": lot.expires_at, "reminded_at": lot.reminded_at}
                    for lot in store.open_lots(session, row.customer_id)],
    }


def entry_view(row: JournalEntryRow) -> dict[str, Any]:
    mine = store.customer_account(row.customer_id)
    return {
        "entry_id": row.id,
        "kind": row.kind,
        "order_id": row.order_id,
        "reference": row.reference,
        "description": row.description,
        "amount": sum(p.amount_minor for p in row.postings if p.account == mine),
        "balance_after": row.balance_after_minor,
        "created_at": row.created_at,
        "postings": [{"account": p.account, "amount": p.amount_minor, "currency": p.currency} for p in row.postings],
    }


def not_found(customer_id: str) -> AccountNotFound:
    return AccountNotFound(f"no wallet account for customer {customer_id}")


def build_blueprint(ctx: ServiceContext) -> Blueprint:
    blp = Blueprint("accounts", __name__, url_prefix="/v1/accounts", description="Operator API (Bearer OPERATOR_TOKEN)")
    operator = require_operator(lambda: ctx.settings.operator_token)

    @blp.route("/<customer_id>")
    class Account(MethodView):
        decorators = [operator]

        @blp.response(200, AccountSchema)
        @blp.doc(security=[{"bearer": []}])
        def get(self, customer_id: str) -> dict[str, Any]:
            with ctx.sessions() as session:
                row = store.get_account(session, customer_id)
                if row is None:
                    raise not_found(customer_id)
                return account_view(session, row)

    def change_status(customer_id: str, frozen: bool, reason: str | None) -> dict[str, Any]:
        with unit_of_work(ctx.sessions) as session:
            row = handlers.set_frozen(session, customer_id, frozen, reason)
            if row is None:
                raise not_found(customer_id)
            return account_view(session, row)

    @blp.route("/<customer_id>/freeze")
    class Freeze(MethodView):
        decorators = [operator]

        @blp.arguments(FreezeSchema, required=False)
        @blp.response(200, AccountSchema)
        @blp.doc(security=[{"bearer": []}])
        def post(self, body: dict[str, Any] | None, customer_id: str) -> dict[str, Any]:
            return change_status(customer_id, True, (body or {}).get("reason", FreezeReason.OTHER.value))

    @blp.route("/<customer_id>/unfreeze")
    class Unfreeze(MethodView):
        decorators = [operator]

        @blp.response(200, AccountSchema)
        @blp.doc(security=[{"bearer": []}])
        def post(self, customer_id: str) -> dict[str, Any]:
            return change_status(customer_id, False, None)

    @blp.route("/<customer_id>/entries")
    class Entries(MethodView):
        decorators = [operator]

        @blp.response(200, EntriesSchema)
        @blp.doc(security=[{"bearer": []}])
        def get(self, customer_id: str) -> dict[str, Any]:
            with ctx.sessions() as session:
                if store.get_account(session, customer_id) is None:
                    raise not_found(customer_id)
                rows = session.scalars(
                    select(JournalEntryRow)
                    .where(JournalEntryRow.customer_id == customer_id)
                    .order_by(JournalEntryRow.created_at.desc(), JournalEntryRow.account_version.desc())
                ).all()
                return {"customer_id": customer_id, "entries": [entry_view(r) for r in rows]}

    return blp
