"""Messages the notify service publishes: proof that a customer was told."""

from marshmallow import Schema, fields

from shared.contracts.fields import Id


class ReceiptSent(Schema):
    order_id = Id()
    receipt_id = Id()
    sent_at = fields.DateTime(required=True)


MESSAGES = {"receipt.sent": ReceiptSent}
