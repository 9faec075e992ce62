"""Operator API of the wallet: look at an account, freeze or unfreeze it, read its ledger."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields
from sqlalchemy import select

from services.wallet import handlers, store
from services.wallet.models import AccountRow, JournalEntryRow
from shared.db import unit_of_work
from shared.problems import Problem
from shared.service import ServiceContext
from shared.web import require_operator


class MoneySchema(Schema):
    amount = fields.Integer(required=True, metadata={"description": "minor units"})
    currency = fields.String(required=True)


class AccountSchema(Schema):
    customer_id = fields.String()
    balance = fields.Nested(MoneySchema)
    status = fields.String(metadata={"enum": ["active", "frozen"]})
    frozen_reason = fields.String(allow_none=True)
    version = fields.Integer()


class FreezeSchema(Schema):
    reason = fields.String(load_default="operator", metadata={"description": "why (shown to support)"})


class PostingSchema(Schema):
    account = fields.String()
    amount = fields.Integer()
    currency = fields.String()


class EntrySchema(Schema):
    entry_id = fields.String()
    kind = fields.String()
    order_id = fields.String()
    amount = fields.Integer(metadata={"description": "change of this customer's balance"})
    balance_after = fields.Integer()
    created_at = fields.DateTime()
    postings = fields.List(fields.Nested(PostingSchema))


class EntriesSchema(Schema):
    customer_id = fields.String()
    entries = fields.List(fields.Nested(EntrySchema))


def account_view(row: AccountRow) -> dict[str, Any]:
    return {
        "customer_id": row.customer_id,
        "balance": {"amount": row.balance_minor, "currency": row.currency},
        "status": row.status,
        "frozen_reason": row.frozen_reason,
        "version": row.version,
    }


def entry_view(row: JournalEntryRow) -> dict[str, Any]:
    mine = store.customer_account(row.customer_id)
    return {
        "entry_id": row.id,
        "kind": row.kind,
        "order_id": row.order_id,
        "amount": sum(p.amount_minor for p in row.postings if p.account == mine),
        "balance_after": row.balance_after_minor,
        "created_at": row.created_at,
        "postings": [{"account": p.account, "amount": p.amount_minor, "currency": p.currency} for p in row.postings],
    }


def not_found(customer_id: str) -> Problem:
    return Problem(404, "account_not_found", "No such account.", f"No wallet account for customer {customer_id}.")


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
                return account_view(row)

    def change_status(customer_id: str, frozen: bool, reason: str | None) -> dict[str, Any]:
        with unit_of_work(ctx.sessions) as session:
            row = handlers.set_frozen(session, customer_id, frozen, reason)
            if row is None:
                raise not_found(customer_id)
            return account_view(row)

    @blp.route("/<customer_id>/freeze")
    class Freeze(MethodView):
        decorators = [operator]

        @blp.arguments(FreezeSchema, required=False)
        @blp.response(200, AccountSchema)
        @blp.doc(security=[{"bearer": []}])
        def post(self, body: dict[str, Any] | None, customer_id: str) -> dict[str, Any]:
            return change_status(customer_id, True, (body or {}).get("reason", "operator"))

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
                    .order_by(JournalEntryRow.created_at.desc())
                ).all()
                return {"customer_id": customer_id, "entries": [entry_view(r) for r in rows]}

    return blp
