"""Messages the wallet service publishes: answers to the saga, the balance's changes, and
what the customer must be told about their balance."""

from marshmallow import Schema, fields, validate

from shared.contracts.fields import Amount, Currency, Id, Reason

ENTRY_KINDS = ("topup", "debit", "debit_reversal", "expiry", "reversal", "adjustment")


class CreditAuthorized(Schema):
    order_id = Id()
    customer_id = Id()


class CreditRefused(Schema):
    """The account cannot take this top-up (frozen, over its cap): nothing is charged."""

    order_id = Id()
    customer_id = Id()
    reason = Reason()


class ExpiringCredit(Schema):
    amount = Amount()
    expires_at = fields.DateTime(required=True)


class EntryFact(Schema):
    """One line of the customer's statement: a journal entry, the customer's side of it."""

    entry_id = Id()
    kind = fields.String(required=True, validate=validate.OneOf(ENTRY_KINDS))
    amount = fields.Integer(required=True, strict=True, metadata={"description": "signed minor units"})
    balance_after = Amount()
    occurred_at = fields.DateTime(required=True)
    order_id = fields.String(load_default=None, allow_none=True)
    reference = fields.String(load_default=None, allow_none=True)
    description = fields.String(load_default=None, allow_none=True)


class AccountState(Schema):
    """The account as it is at `version`: every change of balance or status raises the
    version by one and is announced once, with the entry that made it (if any). Readers
    apply the versions in order, so a statement is never behind the balance it shows."""

    customer_id = Id()
    balance = Amount()
    currency = Currency()
    status = fields.String(required=True, validate=validate.OneOf(["active", "frozen"]))
    frozen_reason = fields.String(load_default=None, allow_none=True)
    version = fields.Integer(required=True, strict=True)
    expiring = fields.List(fields.Nested(ExpiringCredit), load_default=list)
    entry = fields.Nested(EntryFact, load_default=None, allow_none=True)


class Credited(Schema):
    """A paid top-up is on the balance. `account` is the account's state right after this
    credit (absent when the credit is announced again later): the one announcement of
    that version. `account_version` repeats its version for older readers."""

    order_id = Id()
    customer_id = Id()
    entry_id = Id()
    amount = Amount()
    currency = Currency()
    balance_after = Amount()
    account_version = fields.Integer(load_default=None, allow_none=True, strict=True)
    account = fields.Nested(AccountState, load_default=None, allow_none=True)
    valid_until = fields.DateTime(load_default=None, allow_none=True, metadata={"description": "the credit's end"})


class CreditFailed(Schema):
    """A paid top-up the wallet would not take: the saga must reverse the payment."""

    order_id = Id()
    customer_id = Id()
    reason = Reason()


class BalanceLow(Schema):
    """A debit or an expiry took the balance below the customer's threshold: remind them."""

    customer_id = Id()
    balance = Amount()
    currency = Currency()
    threshold = Amount()
    account_version = fields.Integer(required=True, strict=True)


class CreditExpiring(Schema):
    """A credit will expire soon with money left: tell its owner (once per credit)."""

    customer_id = Id()
    lot_id = Id()
    order_id = fields.String(load_default=None, allow_none=True)
    amount = Amount()
    currency = Currency()
    expires_at = fields.DateTime(required=True)


class CreditExpired(Schema):
    """A credit's validity ended with money left, which left the balance."""

    customer_id = Id()
    lot_id = Id()
    entry_id = Id()
    order_id = fields.String(load_default=None, allow_none=True)
    amount = Amount()
    currency = Currency()
    expired_at = fields.DateTime(required=True)
    balance_after = Amount()


MESSAGES = {
    "wallet.credit_authorized": CreditAuthorized,
    "wallet.credit_refused": CreditRefused,
    "wallet.credited": Credited,
    "wallet.credit_failed": CreditFailed,
    "wallet.account_updated": AccountState,
    "wallet.balance_low": BalanceLow,
    "wallet.credit_expiring": CreditExpiring,
    "wallet.credit_expired": CreditExpired,
}
