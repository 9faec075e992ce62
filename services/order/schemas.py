"""The public API's request and response shapes (they also make the OpenAPI document).

Money is always an integer amount in minor units beside its ISO 4217 currency. Words for the
customer (a promotion's name) are in the language of the request (shared/problems.py:
request_language).
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from shared.contracts.fields import METHODS
from shared.i18n import LANGUAGES
from shared.money import CURRENCY_EXPONENTS
from shared.problems import request_language

CURRENCIES = sorted(CURRENCY_EXPONENTS)


class MoneyOut(Schema):
    amount = fields.Integer(metadata={"description": "minor units"})
    currency = fields.String()


class RegisterIn(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = fields.String(required=True, load_only=True, validate=validate.Length(min=8, max=128))
    country = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z]{2}$", error="ISO 3166-1 alpha-2"))
    language = fields.String(load_default=None, validate=validate.OneOf(LANGUAGES),
                             metadata={"description": "else Accept-Language, else the country's (CN: zh-CN)"})


class CustomerOut(Schema):
    customer_id = fields.String(attribute="id")
    email = fields.String()
    country = fields.String()
    currency = fields.String()
    language = fields.String()


class ProfileOut(CustomerOut):
    time_zone = fields.String(metadata={"description": "receipts and emails are dated in it"})
    low_balance_threshold = fields.Integer(metadata={"description": "minor units; below it, a reminder"})
    reminders = fields.Boolean(metadata={"description": "low-balance and expiry reminders by email"})


class ProfilePatch(Schema):
    language = fields.String(validate=validate.OneOf(LANGUAGES))
    low_balance_threshold = fields.Integer(strict=True, allow_none=True,
                                           metadata={"description": "minor units; null: the currency's default"})
    reminders = fields.Boolean()


class LoginIn(Schema):
    email = fields.String(required=True)
    password = fields.String(required=True, load_only=True)


class TokenOut(Schema):
    access_token = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer()


class PromotionOut(Schema):
    code = fields.String()
    name = fields.String()
    description = fields.String()


class OptionsOut(Schema):
    country = fields.String()
    currency = fields.String()
    preset_amounts = fields.List(fields.Integer(), metadata={"description": "minor units"})
    min_amount = fields.Integer()
    max_amount = fields.Integer()
    max_balance = fields.Integer(metadata={"description": "the largest balance the currency allows, minor units"})
    methods = fields.List(fields.String())
    validity = fields.String(metadata={"description": "ISO 8601 duration a credit stays valid, e.g. P365D"})
    validity_days = fields.Integer()
    valid_until = fields.DateTime(metadata={"description": "when a credit bought now would end"})
    promotions = fields.List(fields.Nested(PromotionOut))


class QuoteIn(Schema):
    amount = fields.Integer(required=True, strict=True, validate=validate.Range(min=1),
                            metadata={"description": "amount to credit, in minor units"})
    currency = fields.String(required=True, validate=validate.OneOf(CURRENCIES))
    method = fields.String(required=True, validate=validate.OneOf(METHODS))
    promo_code = fields.String(load_default=None, validate=validate.Length(min=1, max=40))


def promotion_name(thing: Any) -> str | None:
    names = getattr(thing, "promotion_names", None) or {}
    return names.get(request_language()) or names.get("en")


class QuoteOut(Schema):
    quote_id = fields.String(attribute="id")
    credit_amount = fields.Integer(attribute="credit_minor")
    charge_amount = fields.Integer(attribute="charge_minor")
    discount_amount = fields.Method("_discount")
    promotion = fields.String(allow_none=True)
    promotion_name = fields.Function(promotion_name, allow_none=True)
    currency = fields.String()
    method = fields.String()
    validity_days = fields.Integer()
    valid_until = fields.DateTime(allow_none=True, metadata={"description": "when the credit will end"})
    expires_at = fields.DateTime(metadata={"description": "confirm the quote before this"})

    def _discount(self, quote: object) -> int:
        return int(quote.credit_minor - quote.charge_minor)  # type: ignore[attr-defined]


class OrderIn(Schema):
    quote_id = fields.String(required=True, validate=validate.Length(min=1, max=64))


class TimelineOut(Schema):
    event = fields.String()
    status = fields.String()
    reason = fields.String(allow_none=True)
    at = fields.DateTime(attribute="occurred_at")


class OrderOut(Schema):
    order_id = fields.String(attribute="id")
    status = fields.String()
    credit_amount = fields.Integer(attribute="credit_minor")
    charge_amount = fields.Integer(attribute="charge_minor")
    currency = fields.String()
    method = fields.String()
    promotion = fields.String(allow_none=True)
    promotion_name = fields.Function(promotion_name, allow_none=True)
    validity_days = fields.Integer()
    valid_until = fields.DateTime(allow_none=True, metadata={"description": "when the credit ends"})
    quote_id = fields.String()
    next_action = fields.Method("_next_action", allow_none=True)
    payment = fields.Method("_payment")
    failure_reason = fields.String(allow_none=True)
    timeline = fields.List(fields.Nested(TimelineOut))
    created_at = fields.DateTime()
    updated_at = fields.DateTime()

    def _next_action(self, order: object) -> dict[str, str] | None:
        url = getattr(order, "redirect_url", None)
        if getattr(order, "status", None) == "awaiting_payment" and url:
            return {"type": "redirect", "url": url}
        return None

    def _payment(self, order: object) -> dict[str, str | None]:
        return {"payment_id": getattr(order, "payment_id", None), "card_brand": getattr(order, "card_brand", None),
                "card_last4": getattr(order, "card_last4", None)}


class OrderListArgs(Schema):
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    cursor = fields.String(load_default=None)


class OrderListOut(Schema):
    orders = fields.List(fields.Nested(OrderOut))
    next_cursor = fields.String(allow_none=True)


class ExpiringOut(Schema):
    amount = fields.Integer(metadata={"description": "minor units still on the balance from one credit"})
    expires_at = fields.DateTime()


class FrozenReasonOut(Schema):
    code = fields.String(metadata={"description": "stable: overdue_payment, suspected_fraud, customer_request, "
                                                  "compliance_review, other"})
    message = fields.String(metadata={"description": "why, in the customer's language"})


class BalanceOut(Schema):
    amount = fields.Integer(metadata={"description": "minor units"})
    currency = fields.String()
    status = fields.String(metadata={"enum": ["active", "frozen"]})
    frozen_reason = fields.Nested(FrozenReasonOut, allow_none=True)
    low_balance_threshold = fields.Integer(metadata={"description": "minor units"})
    expiring = fields.List(fields.Nested(ExpiringOut), metadata={"description": "soonest first"})


class StatementArgs(Schema):
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    cursor = fields.String(load_default=None, validate=validate.Regexp(r"^v[0-9]{1,12}$"))


class EntryOut(Schema):
    entry_id = fields.String()
    kind = fields.String(metadata={"enum": ["topup", "debit", "debit_reversal", "expiry", "reversal",
                                            "adjustment"]})
    amount = fields.Integer(metadata={"description": "signed minor units: + onto the balance, - off it"})
    balance_after = fields.Integer()
    currency = fields.String()
    occurred_at = fields.DateTime()
    order_id = fields.String(allow_none=True)
    reference = fields.String(allow_none=True)
    description = fields.String(allow_none=True)


class StatementOut(Schema):
    entries = fields.List(fields.Nested(EntryOut))
    next_cursor = fields.String(allow_none=True)


class ReceiptLineOut(Schema):
    description = fields.String()
    amount = fields.Integer(metadata={"description": "signed minor units"})


class MerchantOut(Schema):
    name = fields.String()
    address = fields.String()
    tax_id = fields.String()


class ReceiptOut(Schema):
    receipt_number = fields.String()
    order_id = fields.String()
    issued_at = fields.DateTime()
    language = fields.String(metadata={"description": "the language the receipt was issued in"})
    time_zone = fields.String()
    currency = fields.String()
    lines = fields.List(fields.Nested(ReceiptLineOut))
    total_charged = fields.Integer()
    credited = fields.Integer()
    valid_until = fields.DateTime(allow_none=True)
    payment_method = fields.String()
    promotion = fields.String(allow_none=True)
    merchant = fields.Nested(MerchantOut)
