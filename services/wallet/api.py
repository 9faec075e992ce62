"""Operator API of the wallet: look at an account and its credits, freeze or unfreeze it,
read its ledger."""

from __future__ import annotations

from typing import Any

from flask import g
from flask.views import MethodView
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from services.wallet import adjustments, handlers, store
from services.wallet.credits import CreditRules, threshold
from services.wallet.domain.ledger import AccountStatus, EntryKind, FreezeReason
from services.wallet.models import AccountRow, AdjustmentRow, JournalEntryRow
from services.wallet.problems import REFUSALS
from services.wallet.spending import AccountNotFound
from shared.clock import utcnow
from shared.db import unit_of_work
from shared.money import CURRENCY_EXPONENTS, Money
from shared.openapi import IDEMPOTENCY_KEY, JSON_BODY, OPERATOR, Blueprint, Refusal, problems, refusal
from shared.service import ServiceContext
from shared.web import (
    IDEMPOTENCY_KEY_HEADER,
    REPLAYED_HEADER,
    idempotency_key,
    replayed,
    request_hash,
    require_operator,
    takes_idempotency_key,
)


def refused(*codes: str) -> list[Refusal]:
    """The wallet's refusals by code, as its one table (services/wallet/problems.py) says them."""
    return [refusal(REFUSALS[code][0], code, REFUSALS[code][1]) for code in codes]


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
    status = fields.String(metadata={"enum": [s.value for s in AccountStatus]})
    frozen_reason = fields.String(allow_none=True, metadata={"enum": [r.value for r in FreezeReason] + [None]})
    status_changed_by = fields.String(allow_none=True, metadata={"description": "the operator who last froze or "
                                                                               "unfroze it"})
    status_changed_at = fields.DateTime(allow_none=True)
    version = fields.Integer()
    low_balance_threshold = fields.Nested(MoneySchema)
    reminders = fields.Boolean()
    credits = fields.List(fields.Nested(LotSchema), metadata={"description": "credits with money left"})


class FreezeSchema(Schema):
    reason = fields.String(load_default=FreezeReason.OTHER.value, validate=validate.OneOf(list(FreezeReason)),
                           metadata={"description": "why; the customer is told this in their language"})


class AdjustmentIn(Schema):
    amount = fields.Integer(required=True, strict=True, validate=validate.NoneOf([0]), metadata={
        "description": "minor units, signed: positive puts money on the balance, negative takes it off",
        "not": {"enum": [0]}})
    currency = fields.String(required=True, validate=validate.OneOf(sorted(CURRENCY_EXPONENTS)))
    reason = fields.String(required=True, validate=validate.Length(min=3, max=500), metadata={
        "description": "why, in the operator's words (kept with the operator's name; not shown to the customer)"})


class AdjustmentOut(Schema):
    adjustment_id = fields.String(attribute="id")
    customer_id = fields.String()
    amount = fields.Integer(attribute="amount_minor")
    currency = fields.String()
    reason = fields.String()
    operator = fields.String()
    entry_id = fields.String()
    balance_after = fields.Integer(attribute="balance_after_minor")
    created_at = fields.DateTime()


ADJUSTMENT_EXAMPLE = {"adjustment_id": "adj_5e0c", "customer_id": "cus_8c1d2e", "amount": 500, "currency": "EUR",
                      "reason": "goodwill: the Japan plan failed for two days", "operator": "li.na",
                      "entry_id": "je_91f2", "balance_after": 10500, "created_at": "2025-03-05T08:00:00+00:00"}


class PostingSchema(Schema):
    account = fields.String()
    amount = fields.Integer()
    currency = fields.String()


class EntrySchema(Schema):
    entry_id = fields.String()
    kind = fields.String(metadata={"enum": [k.value for k in EntryKind]})
    order_id = fields.String(allow_none=True)
    reference = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    amount = fields.Integer(metadata={"description": "change of this customer's balance"})
    balance_after = fields.Integer()
    created_at = fields.DateTime()
    postings = fields.List(fields.Nested(PostingSchema))
    operator = fields.String(allow_none=True, metadata={"description": "for an adjustment: the operator who made it"})
    note = fields.String(allow_none=True, metadata={"description": "for an adjustment: why, in the operator's words"})


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
        "status_changed_by": row.status_changed_by,
        "status_changed_at": row.status_changed_at,
        "version": row.version,
        "low_balance_threshold": {"amount": limit.amount_minor, "currency": limit.currency},
        "reminders": row.reminders,
        "credits": [{"lot_id": lot.id, "order_id": lot.order_id, "amount": lot.amount_minor,
                     "remaining": lot.remaining_minor, "expires_at": lot.expires_at, "reminded_at": lot.reminded_at}
                    for lot in store.open_lots(session, row.customer_id)],
    }


def entry_view(row: JournalEntryRow, adjustment: AdjustmentRow | None = None) -> dict[str, Any]:
    mine = store.customer_account(row.customer_id)
    return {
        "operator": adjustment.operator if adjustment else None,
        "note": adjustment.reason if adjustment else None,
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


ACCOUNT_EXAMPLE = {
    "customer_id": "cus_8c1d2e", "balance": {"amount": 7500, "currency": "EUR"}, "status": "active",
    "frozen_reason": None, "status_changed_by": None, "status_changed_at": None, "version": 4,
    "low_balance_threshold": {"amount": 500, "currency": "EUR"},
    "reminders": True,
    "credits": [{"lot_id": "lot_41f0", "order_id": "ord_5b7e", "amount": 10000, "remaining": 7500,
                 "expires_at": "2026-03-01T09:30:00+00:00", "reminded_at": None}],
}
ENTRIES_EXAMPLE = {
    "customer_id": "cus_8c1d2e",
    "entries": [{"entry_id": "je_93a1", "kind": "debit", "order_id": None, "reference": "plan-eu-5gb",
                 "description": "Europe 5 GB, 30 days", "amount": -2500, "balance_after": 7500,
                 "created_at": "2025-03-02T10:00:00+00:00", "operator": None, "note": None,
                 "postings": [{"account": "customer:cus_8c1d2e", "amount": -2500, "currency": "EUR"},
                              {"account": "sales:EUR", "amount": 2500, "currency": "EUR"}]}],
}


def build_blueprint(ctx: ServiceContext, rules: CreditRules) -> Blueprint:
    blp = Blueprint("accounts", __name__, url_prefix="/v1/accounts", description="Operator API (Bearer OPERATOR_TOKEN)")
    operator = require_operator(ctx.settings.operators)

    @blp.route("/<customer_id>")
    class Account(MethodView):
        decorators = [operator]

        @blp.response(200, AccountSchema, example=ACCOUNT_EXAMPLE)
        @blp.doc(security=[{"bearer": []}])
        @problems(OPERATOR, *refused("account_not_found"))
        def get(self, customer_id: str) -> dict[str, Any]:
            """An account: its balance, status and the credits on it."""
            with ctx.sessions() as session:
                row = store.get_account(session, customer_id)
                if row is None:
                    raise not_found(customer_id)
                return account_view(session, row)

    def change_status(customer_id: str, frozen: bool, reason: str | None) -> dict[str, Any]:
        with unit_of_work(ctx.sessions) as session:
            row = handlers.set_frozen(session, customer_id, frozen, reason, g.operator)
            if row is None:
                raise not_found(customer_id)
            return account_view(session, row)

    @blp.route("/<customer_id>/freeze")
    class Freeze(MethodView):
        decorators = [operator]

        @blp.arguments(FreezeSchema, required=False, example={"reason": "suspected_fraud"})
        @blp.response(200, AccountSchema, example={**ACCOUNT_EXAMPLE, "status": "frozen",
                                                   "frozen_reason": "suspected_fraud", "version": 5})
        @blp.doc(security=[{"bearer": []}])
        @problems(*JSON_BODY, OPERATOR, *refused("account_not_found"))
        def post(self, body: dict[str, Any] | None, customer_id: str) -> dict[str, Any]:
            """Freeze an account, with the reason its customer is told.

            A frozen account can neither be topped up nor spend; freezing twice is one change."""
            return change_status(customer_id, True, (body or {}).get("reason", FreezeReason.OTHER.value))

    @blp.route("/<customer_id>/unfreeze")
    class Unfreeze(MethodView):
        decorators = [operator]

        @blp.response(200, AccountSchema, example=ACCOUNT_EXAMPLE)
        @blp.doc(security=[{"bearer": []}])
        @problems(OPERATOR, *refused("account_not_found"))
        def post(self, customer_id: str) -> dict[str, Any]:
            """Unfreeze an account (unfreezing an active one changes nothing)."""
            return change_status(customer_id, False, None)

    @blp.route("/<customer_id>/adjustments", methods=["POST"])
    @operator
    @blp.arguments(AdjustmentIn, example={"amount": 500, "currency": "EUR",
                                          "reason": "goodwill: the Japan plan failed for two days"})
    @blp.response(201, AdjustmentOut, example=ADJUSTMENT_EXAMPLE, headers=REPLAYED_HEADER)
    @blp.doc(security=[{"bearer": []}], parameters=[IDEMPOTENCY_KEY_HEADER])
    @problems(*JSON_BODY, OPERATOR, IDEMPOTENCY_KEY, *refused(
        "account_not_found", "insufficient_funds", "currency_mismatch", "balance_cap_exceeded",
        "idempotency_key_reused"))
    @takes_idempotency_key
    def adjust(body: dict[str, Any], customer_id: str) -> Any:
        """Put money on a balance or take it off, with a reason: a balanced journal entry of
        kind `adjustment`, on the customer's statement, under the operator's name.

        Money put on is a credit valid for the default validity; money taken off comes from
        the credits that expire first, never more than is spendable. Frozen accounts too."""
        request = adjustments.AdjustmentRequest(
            customer_id=customer_id, key=idempotency_key(), request_hash=request_hash(body),
            amount=Money(body["amount"], body["currency"]), reason=body["reason"], operator=g.operator)
        with unit_of_work(ctx.sessions) as session:
            row, was = adjustments.adjust(session, request, rules, utcnow())
            view = {column.key: getattr(row, column.key) for column in AdjustmentRow.__table__.columns}
        return view, 201, replayed(was)

    @blp.route("/<customer_id>/entries")
    class Entries(MethodView):
        decorators = [operator]

        @blp.response(200, EntriesSchema, example=ENTRIES_EXAMPLE)
        @blp.doc(security=[{"bearer": []}])
        @problems(OPERATOR, *refused("account_not_found"))
        def get(self, customer_id: str) -> dict[str, Any]:
            """An account's journal entries with their postings, newest first."""
            with ctx.sessions() as session:
                if store.get_account(session, customer_id) is None:
                    raise not_found(customer_id)
                rows = session.scalars(
                    select(JournalEntryRow)
                    .where(JournalEntryRow.customer_id == customer_id)
                    .order_by(JournalEntryRow.created_at.desc(), JournalEntryRow.account_version.desc())
                ).all()
                adjusted = {row.entry_id: row for row in session.scalars(
                    select(AdjustmentRow).where(AdjustmentRow.customer_id == customer_id))}
                return {"customer_id": customer_id, "entries": [entry_view(r, adjusted.get(r.id)) for r in rows]}

    return blp
