"""Messages the order service publishes: the customer's profile, the saga's commands, the
outcome."""

from marshmallow import Schema, fields, validate

from shared.contracts.fields import Amount, Currency, Id, Language, Method, Reason, TimeZone


class CustomerRegistered(Schema):
    """A new customer, and their profile at version 1 (the wallet keeps their reminder
    preferences, the notify service where and in which language to write to them)."""

    customer_id = Id()
    email = fields.Email(required=True)
    country = fields.String(required=True)
    currency = Currency()
    language = Language()
    time_zone = TimeZone()
    low_balance_threshold = fields.Integer(load_default=None, allow_none=True, strict=True,
                                           metadata={"description": "minor units; None: the currency's default"})
    reminders = fields.Boolean(load_default=True)


class CustomerUpdated(CustomerRegistered):
    """The customer changed their profile; `version` orders the updates (registration is 1)."""

    version = fields.Integer(required=True, strict=True)


class AuthorizeCredit(Schema):
    """Ask the wallet whether this account may receive the credit, before anyone is charged."""

    order_id = Id()
    customer_id = Id()
    amount = Amount()
    currency = Currency()


class CreatePayment(Schema):
    order_id = Id()
    customer_id = Id()
    amount = Amount()
    currency = Currency()
    method = Method()
    description = fields.String(required=True)
    language = Language()
    #: where the customer's browser goes after the payment page (the frontend's), or None
    return_url = fields.Url(load_default=None, allow_none=True, require_tld=False, schemes={"http", "https"})


class Credit(Schema):
    """Put a paid top-up on the balance. `charge_amount` is what the customer paid;
    any difference to `amount` is a promotion, which the ledger books separately. The credit
    is valid until `valid_until`, as confirmed on the quote (`validity_days`: older senders)."""

    order_id = Id()
    customer_id = Id()
    amount = Amount()
    charge_amount = Amount()
    currency = Currency()
    valid_until = fields.DateTime(load_default=None, allow_none=True)
    validity_days = fields.Integer(load_default=None, allow_none=True, strict=True)


class RefundPayment(Schema):
    order_id = Id()
    payment_id = Id()
    reason = Reason()


class CancelPayment(Schema):
    order_id = Id()
    reason = Reason()


class OrderCompleted(Schema):
    """Everything a receipt shows, so the notify service needs nobody else's data. The
    promotion's name is already in the customer's language: the order service owns the
    campaigns."""

    order_id = Id()
    customer_id = Id()
    email = fields.Email(required=True)
    credit_amount = Amount()
    charge_amount = Amount()
    currency = Currency()
    method = Method()
    card_brand = fields.String(load_default=None, allow_none=True)
    card_last4 = fields.String(load_default=None, allow_none=True)
    completed_at = fields.DateTime(required=True)
    balance_after = Amount()
    language = Language()
    time_zone = TimeZone()
    promotion = fields.String(load_default=None, allow_none=True)
    promotion_name = fields.String(load_default=None, allow_none=True)
    valid_until = fields.DateTime(load_default=None, allow_none=True)


class OrderReversed(Schema):
    """A paid top-up that could not be credited and whose payment was refunded."""

    order_id = Id()
    customer_id = Id()
    email = fields.Email(required=True)
    charge_amount = Amount()
    currency = Currency()
    method = Method()
    reason = Reason()
    reversed_at = fields.DateTime(required=True)
    language = Language()
    time_zone = TimeZone()


class ResendReceipt(Schema):
    """The customer asked for their receipt again: the same receipt, to their email now."""

    order_id = Id()
    customer_id = Id()
    resend_id = Id()
    email = fields.Email(required=True)


class PasswordResetRequested(Schema):
    """Someone asked to reset this customer's password: email them the single-use `token`
    (valid until `expires_at`) in their language. `reset_id` names the request (one email per
    request). It carries a credential (shared/contracts: CARRIES_A_CREDENTIAL): the order
    service keeps only the token's hash and empties the outbox row once published; the notify
    service empties its copy of the email once sent; a copy left elsewhere (a parked message)
    opens nothing once the token is used or expired."""

    reset_id = Id()
    customer_id = Id()
    email = fields.Email(required=True)
    language = Language()
    token = fields.String(required=True, validate=validate.Length(min=20, max=128))
    expires_at = fields.DateTime(required=True)


MESSAGES = {
    "customer.registered": CustomerRegistered,
    "customer.updated": CustomerUpdated,
    "receipt.resend": ResendReceipt,
    "customer.password_reset_requested": PasswordResetRequested,
    "wallet.authorize_credit": AuthorizeCredit,
    "payment.create": CreatePayment,
    "wallet.credit": Credit,
    "payment.refund": RefundPayment,
    "payment.cancel": CancelPayment,
    "order.completed": OrderCompleted,
    "order.reversed": OrderReversed,
}
