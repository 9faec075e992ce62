"""Why the order service refuses a request: `code` is what clients and support see, and
never changes; `title` and `detail` are words for the customer, written in their language
at the HTTP edge (services/order/texts.py)."""

from __future__ import annotations

from services.order.texts import _
from shared.i18n import Text


class OrderError(Exception):
    code = "order_error"
    status = 422
    title: Text = _("The request was refused.")

    def __init__(self, detail: Text) -> None:
        super().__init__(str(detail))
        self.detail = detail
        #: HTTP headers and problem members that come with the refusal (e.g. Retry-After)
        self.headers: dict[str, str] = {}
        self.extra: dict[str, object] = {}


class UnsupportedCountry(OrderError):
    code = "unsupported_country"
    title = _("Top-ups are not offered in this country.")


class WeakPassword(OrderError):
    code = "weak_password"
    title = _("The password is too weak.")


class EmailTaken(OrderError):
    code = "email_taken"
    status = 409
    title = _("This email is already registered.")


class InvalidCredentials(OrderError):
    code = "invalid_credentials"
    status = 401
    title = _("Wrong email or password.")


class AmountOutOfRange(OrderError):
    code = "amount_out_of_range"
    title = _("This amount cannot be topped up.")


class CurrencyNotAllowed(OrderError):
    code = "currency_not_allowed"
    title = _("This currency cannot be used here.")


class MethodNotAvailable(OrderError):
    code = "method_not_available"
    title = _("This payment method is not available.")


class BalanceCapExceeded(OrderError):
    """Caught at the quote, before anyone pays: the wallet would refuse the credit."""

    code = "balance_cap_exceeded"
    title = _("The balance would exceed its limit.")


class PromoCodeInvalid(OrderError):
    code = "promo_code_invalid"
    title = _("This promo code is not valid.")


class PromoCodeNotApplicable(OrderError):
    code = "promo_code_not_applicable"
    title = _("This promo code does not apply to this top-up.")


class AccountFrozen(OrderError):
    """The brief: a frozen account is refused, with a clear reason."""

    code = "account_frozen"
    status = 403
    title = _("This account is frozen.")


class QuoteNotFound(OrderError):
    code = "quote_not_found"
    status = 404
    title = _("No such quote.")


class QuoteExpired(OrderError):
    code = "quote_expired"
    status = 410
    title = _("This quote has expired.")


class QuoteAlreadyUsed(OrderError):
    code = "quote_already_used"
    status = 409
    title = _("This quote was already confirmed.")


class IdempotencyKeyReused(OrderError):
    """The same Idempotency-Key with a different request: refusing beats guessing."""

    code = "idempotency_key_reused"
    title = _("Idempotency-Key reused.")


class OrderNotFound(OrderError):
    code = "order_not_found"
    status = 404
    title = _("No such order.")


class ReceiptNotFound(OrderError):
    code = "receipt_not_found"
    status = 404
    title = _("No receipt yet.")


class TooManyResends(OrderError):
    """At most a few copies of one receipt an hour: an inbox is not a message queue."""

    code = "too_many_requests"
    status = 429
    title = _("Too many requests.")

    def __init__(self, detail: Text, retry_after_seconds: int) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(retry_after_seconds)}
        self.extra = {"retry_after": retry_after_seconds}


class OrderNotCancellable(OrderError):
    code = "order_not_cancellable"
    status = 409
    title = _("This order can no longer be cancelled.")


class ReturnUrlNotAllowed(OrderError):
    code = "return_url_not_allowed"
    title = _("This return address is not allowed.")
