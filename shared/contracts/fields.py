"""Field helpers every contract uses, so money and ids look the same in every message."""

from functools import cache
from zoneinfo import available_timezones

from marshmallow import ValidationError, fields, validate

from shared.i18n import DEFAULT_LANGUAGE, LANGUAGES
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


def Language() -> fields.String:
    """The customer's language (`en`, `zh-CN`); messages from older senders mean English."""
    return fields.String(load_default=DEFAULT_LANGUAGE, validate=validate.OneOf(LANGUAGES))


@cache
def zones() -> frozenset[str]:
    """The IANA zones this machine knows (read from tzdata once, when first needed)."""
    return frozenset(available_timezones())


def _known_zone(value: str) -> None:
    if value not in zones():
        raise ValidationError("Not a known time zone.")


def TimeZone() -> fields.String:
    """An IANA time zone (`Asia/Shanghai`): where the customer's dates are written for."""
    return fields.String(load_default="UTC", validate=_known_zone)
