"""Messages the payment service publishes: what happened to a payment at its gateway."""

from marshmallow import Schema, fields, validate

from shared.contracts.fields import Amount, Currency, Id, Method, Reason


class PaymentCreated(Schema):
    order_id = Id()
    payment_id = Id()
    method = Method()
    redirect_url = fields.Url(required=True, require_tld=False)


class PaymentCaptured(Schema):
    order_id = Id()
    payment_id = Id()
    amount = Amount()
    currency = Currency()
    method = Method()
    card_brand = fields.String(load_default=None, allow_none=True)
    card_last4 = fields.String(load_default=None, allow_none=True)
    captured_at = fields.DateTime(required=True)


class PaymentFailed(Schema):
    order_id = Id()
    payment_id = fields.String(load_default=None, allow_none=True)
    reason = Reason()


class PaymentAttemptFailed(Schema):
    """One try on the payment page failed (a card declined); the page stays open for another
    until the payment's last attempt, whose failure is `payment.failed`."""

    order_id = Id()
    payment_id = Id()
    reason = Reason()
    attempt = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    attempts_allowed = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))


class PaymentRefunded(Schema):
    order_id = Id()
    payment_id = Id()
    amount = Amount()
    currency = Currency()
    refunded_at = fields.DateTime(required=True)
    #: a refund made outside the system and recorded by an operator: who, why, and the
    #: gateway's reference (absent when the gateway refunded)
    operator = fields.String(load_default=None, validate=validate.Length(max=40))
    note = fields.String(load_default=None, validate=validate.Length(max=500))
    gateway_reference = fields.String(load_default=None, validate=validate.Length(max=128))


class RefundFailed(Schema):
    """The gateway would not give the money back, after every retry: an operator must act."""

    order_id = Id()
    payment_id = Id()
    reason = Reason()
    attempts = fields.Integer(required=True, strict=True)


class PaymentSynced(Schema):
    """An operator had the gateway asked about the payment now: for the order's timeline,
    with who and why (what the answer changed, if anything, comes as its own message)."""

    order_id = Id()
    payment_id = Id()
    operator = fields.String(required=True, validate=validate.Length(min=1, max=40))
    note = fields.String(required=True, validate=validate.Length(min=1, max=500))
    news = fields.Boolean(required=True)


MESSAGES = {
    "payment.created": PaymentCreated,
    "payment.captured": PaymentCaptured,
    "payment.failed": PaymentFailed,
    "payment.attempt_failed": PaymentAttemptFailed,
    "payment.refunded": PaymentRefunded,
    "payment.refund_failed": RefundFailed,
    "payment.synced": PaymentSynced,
}
