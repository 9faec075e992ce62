"""The public API's request and response shapes (they also make the OpenAPI document).

Money is always an integer amount in minor units beside its ISO 4217 currency. Words for the
customer (a promotion's name) are in the language of the request (shared/problems.py:
request_language).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import Schema, fields, missing, validate

from services.order.domain.saga import Event, Status
from shared.contracts.fields import METHODS
from shared.i18n import LANGUAGES
from shared.money import CURRENCY_EXPONENTS
from shared.openapi import QueryArgs
from shared.problems import request_language

CURRENCIES = sorted(CURRENCY_EXPONENTS)
STATUSES = [status.value for status in Status]


class Derived(fields.Nested):
    """A nested object worked out from the whole object being written (not one of its
    attributes), documented as the schema it is."""

    def __init__(self, nested: type[Schema], derive: Callable[[Any], Any], **kwargs: Any) -> None:
        super().__init__(nested, **kwargs)
        self.derive = derive

    def get_value(self, obj: Any, attr: str, accessor: Any = None, default: Any = missing) -> Any:
        return self.derive(obj)


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


class JsonBoolean(fields.Boolean):
    """JSON `true` or `false` only: marshmallow's Boolean also takes 1, 0, "yes", "on"...,
    which the document (type boolean) does not admit."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class ProfilePatch(Schema):
    language = fields.String(validate=validate.OneOf(LANGUAGES))
    low_balance_threshold = fields.Integer(strict=True, allow_none=True,
                                           metadata={"description": "minor units; null: the currency's default"})
    reminders = JsonBoolean()


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


PROMOTION_NAME = {"type": "string", "description": "the promotion's name in the language of the request"}


class QuoteOut(Schema):
    quote_id = fields.String(attribute="id")
    credit_amount = fields.Integer(attribute="credit_minor")
    charge_amount = fields.Integer(attribute="charge_minor")
    discount_amount = fields.Method("_discount", metadata={"type": "integer", "description": "credit - charge"})
    promotion = fields.String(allow_none=True)
    promotion_name = fields.Function(promotion_name, allow_none=True, metadata=PROMOTION_NAME)
    currency = fields.String()
    method = fields.String()
    validity_days = fields.Integer()
    valid_until = fields.DateTime(allow_none=True, metadata={"description": "when the credit will end"})
    expires_at = fields.DateTime(metadata={"description": "confirm the quote before this"})

    def _discount(self, quote: object) -> int:
        return int(quote.credit_minor - quote.charge_minor)  # type: ignore[attr-defined]


class OrderIn(Schema):
    quote_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    return_url = fields.String(load_default=None, validate=validate.Length(min=1, max=2000), metadata={
        "format": "uri",
        "description": "where the payment page sends the customer back, with `?order_id=`; its origin must be "
                       "in RETURN_URL_ORIGINS (422 return_url_not_allowed). Without it the payment service "
                       "shows its own result page"})


class TimelineOut(Schema):
    event = fields.String(metadata={"enum": [event.value for event in Event]})
    status = fields.String(metadata={"enum": STATUSES, "description": "the order's status after the event"})
    reason = fields.String(allow_none=True)
    at = fields.DateTime(attribute="occurred_at")


def next_action(order: object) -> dict[str, str] | None:
    url = getattr(order, "redirect_url", None)
    if getattr(order, "status", None) == Status.AWAITING_PAYMENT and url:
        return {"type": "redirect", "url": url}
    return None


class NextActionOut(Schema):
    type = fields.String(required=True, metadata={"enum": ["redirect"],
                                                  "description": "redirect: send the customer to `url` to pay"})
    url = fields.String(required=True, metadata={"format": "uri", "description": "the gateway's payment page"})


class PaymentOut(Schema):
    payment_id = fields.String(allow_none=True, metadata={"description": "once the payment service opened one"})
    card_brand = fields.String(allow_none=True, metadata={"description": "card payments, once paid"})
    card_last4 = fields.String(allow_none=True)


class OrderOut(Schema):
    order_id = fields.String(attribute="id")
    status = fields.String(metadata={
        "enum": STATUSES,
        "description": "pending -> awaiting_payment -> paid -> completed; or failed, expired, refunded "
                       "(services/order/domain/saga.py)"})
    credit_amount = fields.Integer(attribute="credit_minor")
    charge_amount = fields.Integer(attribute="charge_minor")
    currency = fields.String()
    method = fields.String()
    promotion = fields.String(allow_none=True)
    promotion_name = fields.Function(promotion_name, allow_none=True, metadata=PROMOTION_NAME)
    validity_days = fields.Integer()
    valid_until = fields.DateTime(allow_none=True, metadata={"description": "when the credit ends"})
    quote_id = fields.String()
    return_url = fields.String(allow_none=True)
    next_action = Derived(NextActionOut, next_action, allow_none=True,
                          metadata={"description": "what the customer must do now; null when nothing"})
    payment = Derived(PaymentOut, lambda order: {
        "payment_id": getattr(order, "payment_id", None), "card_brand": getattr(order, "card_brand", None),
        "card_last4": getattr(order, "card_last4", None)})
    failure_reason = fields.String(allow_none=True)
    timeline = fields.List(fields.Nested(TimelineOut))
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class OrderListArgs(QueryArgs):
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    cursor = fields.String(load_default=None, metadata={
        "description": "`next_cursor` of the page before (an order id); one that names no order of this "
                       "customer answers 404 `order_not_found`"})


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


class StatementArgs(QueryArgs):
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    #: an account version; nine digits at most, so it always fits the 32-bit column
    cursor = fields.String(load_default=None, validate=validate.Regexp(r"^v[0-9]{1,9}$"))


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


# -- examples for the OpenAPI document (each is what the API really sends or accepts) -----
QUOTE_IN_EXAMPLE = {"amount": 10000, "currency": "EUR", "method": "card"}
QUOTE_EXAMPLE = {
    "quote_id": "quo_4e1f7a", "credit_amount": 10000, "charge_amount": 9000, "discount_amount": 1000,
    "promotion": "SPEND100GET10", "promotion_name": "Spend €100.00, get €10.00 off", "currency": "EUR",
    "method": "card", "validity_days": 365, "valid_until": "2026-03-01T09:30:00+00:00",
    "expires_at": "2025-03-01T09:45:00+00:00",
}
ORDER_EXAMPLE = {
    "order_id": "ord_5b7e2c", "status": "awaiting_payment", "credit_amount": 10000, "charge_amount": 9000,
    "currency": "EUR", "method": "card", "promotion": "SPEND100GET10",
    "promotion_name": "Spend €100.00, get €10.00 off", "validity_days": 365,
    "valid_until": "2026-03-01T09:30:00+00:00", "quote_id": "quo_4e1f7a",
    "next_action": {"type": "redirect", "url": "http://127.0.0.1:8002/sandbox/checkout/cs_9b1e"},
    "payment": {"payment_id": "pay_2d9e41", "card_brand": None, "card_last4": None},
    "failure_reason": None,
    "timeline": [
        {"event": "placed", "status": "pending", "reason": None, "at": "2025-03-01T09:31:00+00:00"},
        {"event": "credit_authorized", "status": "pending", "reason": None, "at": "2025-03-01T09:31:00+00:00"},
        {"event": "payment_created", "status": "awaiting_payment", "reason": None,
         "at": "2025-03-01T09:31:01+00:00"},
    ],
    "created_at": "2025-03-01T09:31:00+00:00", "updated_at": "2025-03-01T09:31:01+00:00",
}
PLACED_ORDER_EXAMPLE = {
    **ORDER_EXAMPLE, "status": "pending", "next_action": None,
    "payment": {"payment_id": None, "card_brand": None, "card_last4": None},
    "timeline": [{"event": "placed", "status": "pending", "reason": None, "at": "2025-03-01T09:31:00+00:00"}],
    "updated_at": "2025-03-01T09:31:00+00:00",
}
OPTIONS_EXAMPLE = {
    "country": "DE", "currency": "EUR", "preset_amounts": [1000, 2000, 5000, 10000], "min_amount": 500,
    "max_amount": 50000, "max_balance": 200000, "methods": ["card", "paypal", "alipay", "wechat_pay"],
    "validity": "P365D", "validity_days": 365, "valid_until": "2026-03-01T09:30:00+00:00",
    "promotions": [{"code": "SPEND100GET10", "name": "Spend €100.00, get €10.00 off",
                    "description": "Top up €100.00 or more and pay €10.00 less."}],
}
RECEIPT_EXAMPLE = {
    "receipt_number": "R-2025-000042", "order_id": "ord_5b7e2c", "issued_at": "2025-03-01T09:32:00+00:00",
    "language": "en", "time_zone": "Europe/Berlin", "currency": "EUR",
    "lines": [{"description": "Balance top-up", "amount": 10000},
              {"description": "Spend €100.00, get €10.00 off", "amount": -1000}],
    "total_charged": 9000, "credited": 10000, "valid_until": "2026-03-01T09:30:00+00:00",
    "payment_method": "Visa •••• 4242", "promotion": "SPEND100GET10",
    "merchant": {"name": "topup", "address": "1 Example Street, Berlin", "tax_id": "DE123456789"},
}
