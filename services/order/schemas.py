"""The public API's request and response shapes (they also make the OpenAPI document)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from shared.contracts.fields import METHODS
from shared.money import CURRENCY_EXPONENTS

CURRENCIES = sorted(CURRENCY_EXPONENTS)


class RegisterIn(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = fields.String(required=True, load_only=True, validate=validate.Length(min=8, max=128))
    country = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z]{2}$", error="ISO 3166-1 alpha-2"))


class CustomerOut(Schema):
    customer_id = fields.String(attribute="id")
    email = fields.String()
    country = fields.String()
    currency = fields.String()


class LoginIn(Schema):
    email = fields.String(required=True)
    password = fields.String(required=True, load_only=True)


class TokenOut(Schema):
    access_token = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer()


class OptionsOut(Schema):
    country = fields.String()
    currency = fields.String()
    preset_amounts = fields.List(fields.Integer(), metadata={"description": "minor units"})
    min_amount = fields.Integer()
    max_amount = fields.Integer()
    methods = fields.List(fields.String())
    validity_days = fields.Integer()
    promotions = fields.List(fields.Dict())


class QuoteIn(Schema):
    amount = fields.Integer(required=True, strict=True, validate=validate.Range(min=1),
                            metadata={"description": "amount to credit, in minor units"})
    currency = fields.String(required=True, validate=validate.OneOf(CURRENCIES))
    method = fields.String(required=True, validate=validate.OneOf(METHODS))


class QuoteOut(Schema):
    quote_id = fields.String(attribute="id")
    credit_amount = fields.Integer(attribute="credit_minor")
    charge_amount = fields.Integer(attribute="charge_minor")
    discount_amount = fields.Method("_discount")
    promotion = fields.String(allow_none=True)
    currency = fields.String()
    method = fields.String()
    validity_days = fields.Integer()
    expires_at = fields.DateTime()

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
    validity_days = fields.Integer()
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


class BalanceOut(Schema):
    amount = fields.Integer(attribute="amount_minor")
    currency = fields.String()
    status = fields.String()
