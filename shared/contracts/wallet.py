"""Messages the wallet service publishes: answers to the saga and the balance's changes."""

from marshmallow import Schema, fields, validate

from shared.contracts.fields import Amount, Currency, Id, Reason


class CreditAuthorized(Schema):
    order_id = Id()
    customer_id = Id()


class CreditRefused(Schema):
    """The account cannot take this top-up (frozen, over its cap): nothing is charged."""

    order_id = Id()
    customer_id = Id()
    reason = Reason()


class Credited(Schema):
    """`account_version` is the account's version right after this credit (absent when the
    credit is announced again later), so a reader can order it among account updates."""

    order_id = Id()
    customer_id = Id()
    entry_id = Id()
    amount = Amount()
    currency = Currency()
    balance_after = Amount()
    account_version = fields.Integer(load_default=None, allow_none=True, strict=True)


class CreditFailed(Schema):
    """A paid top-up the wallet would not take: the saga must reverse the payment."""

    order_id = Id()
    customer_id = Id()
    reason = Reason()


class AccountUpdated(Schema):
    """The account's balance or status changed; `version` orders these updates."""

    customer_id = Id()
    balance = Amount()
    currency = Currency()
    status = fields.String(required=True, validate=validate.OneOf(["active", "frozen"]))
    version = fields.Integer(required=True, strict=True)


MESSAGES = {
    "wallet.credit_authorized": CreditAuthorized,
    "wallet.credit_refused": CreditRefused,
    "wallet.credited": Credited,
    "wallet.credit_failed": CreditFailed,
    "wallet.account_updated": AccountUpdated,
}
