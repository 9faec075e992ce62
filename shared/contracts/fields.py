"""Field helpers every contract uses, so money and ids look the same in every message."""

from marshmallow import fields, validate

from shared.money import CURRENCY_EXPONENTS

METHODS = ("card", "paypal", "alipay", "wechat_pay")


def Amount() -> fields.Integer:
    """An amount in minor units of the message's `currency`."""
    return fields.Integer(required=True, strict=True)


def Currency() -> fields.String:
    return fields.String(required=True, validate=validate.OneOf(sorted(CURRENCY_EXPONENTS)))


def Id() -> fields.String:
    return fields.String(required=True, validate=validate.Length(min=1, max=64))


def Method() -> fields.String:
    return fields.String(required=True, validate=validate.OneOf(METHODS))


def Reason() -> fields.String:
    """A machine-readable reason code, e.g. `account_frozen` or `card_declined`."""
    return fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z0-9_]{1,63}$"))
