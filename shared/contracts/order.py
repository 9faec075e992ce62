"""Messages the order service publishes: registration, the saga's commands, the outcome."""

from marshmallow import Schema, fields

from shared.contracts.fields import Amount, Currency, Id, Method, Reason


class CustomerRegistered(Schema):
    customer_id = Id()
    email = fields.Email(required=True)
    country = fields.String(required=True)
    currency = Currency()


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


class Credit(Schema):
    """Put a paid top-up on the balance. `charge_amount` is what the customer paid;
    any difference to `amount` is a promotion, which the ledger books separately."""

    order_id = Id()
    customer_id = Id()
    amount = Amount()
    charge_amount = Amount()
    currency = Currency()
    validity_days = fields.Integer(required=True, strict=True)


class RefundPayment(Schema):
    order_id = Id()
    payment_id = Id()
    reason = Reason()


class CancelPayment(Schema):
    order_id = Id()
    reason = Reason()


class OrderCompleted(Schema):
    """Everything a receipt shows, so the notify service needs nobody else's data."""

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


MESSAGES = {
    "customer.registered": CustomerRegistered,
    "wallet.authorize_credit": AuthorizeCredit,
    "payment.create": CreatePayment,
    "wallet.credit": Credit,
    "payment.refund": RefundPayment,
    "payment.cancel": CancelPayment,
    "order.completed": OrderCompleted,
    "order.reversed": OrderReversed,
}
