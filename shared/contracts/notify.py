"""Messages the notify service publishes: proof that a customer was told."""

from marshmallow import Schema, fields

from shared.contracts.fields import Amount, Currency, Id, Language, TimeZone


class ReceiptSent(Schema):
    """An email about an order left (`kind`: receipt, reversal, receipt_copy)."""

    order_id = Id()
    receipt_id = Id()
    sent_at = fields.DateTime(required=True)
    kind = fields.String(load_default="receipt")


class ReceiptLine(Schema):
    description = fields.String(required=True)
    amount = fields.Integer(required=True, strict=True, metadata={"description": "signed minor units"})


class ReceiptIssued(Schema):
    """A completed top-up's receipt, as issued: the record the customer keeps (and can ask
    for again). Its words are in the customer's language of the day it was issued."""

    order_id = Id()
    customer_id = Id()
    receipt_number = fields.String(required=True)
    issued_at = fields.DateTime(required=True)
    language = Language()
    time_zone = TimeZone()
    currency = Currency()
    lines = fields.List(fields.Nested(ReceiptLine), required=True)
    total_charged = Amount()
    credited = Amount()
    valid_until = fields.DateTime(load_default=None, allow_none=True)
    payment_method = fields.String(required=True)
    promotion = fields.String(load_default=None, allow_none=True)
    merchant = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    #: the receipt's email, if this announcement comes with its sending (the mailer's first
    #: outcome): then no `receipt.sent` follows for it. A first sending that failed announces
    #: the receipt without these, and its `receipt.sent` follows once it leaves.
    sent_at = fields.DateTime(load_default=None, allow_none=True)
    receipt_id = fields.String(load_default=None, allow_none=True)


MESSAGES = {"receipt.sent": ReceiptSent, "receipt.issued": ReceiptIssued}
