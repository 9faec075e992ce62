"""Why the order service refuses a request; `code` is what clients and support see."""


class OrderError(Exception):
    code = "order_error"
    status = 422

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class UnsupportedCountry(OrderError):
    code = "unsupported_country"


class WeakPassword(OrderError):
    code = "weak_password"


class EmailTaken(OrderError):
    code = "email_taken"
    status = 409


class InvalidCredentials(OrderError):
    code = "invalid_credentials"
    status = 401


class AmountOutOfRange(OrderError):
    code = "amount_out_of_range"


class CurrencyNotAllowed(OrderError):
    code = "currency_not_allowed"


class MethodNotAvailable(OrderError):
    code = "method_not_available"


class AccountFrozen(OrderError):
    """The brief: a frozen account is refused, with a clear reason."""

    code = "account_frozen"
    status = 403


class QuoteNotFound(OrderError):
    code = "quote_not_found"
    status = 404


class QuoteExpired(OrderError):
    code = "quote_expired"
    status = 410


class QuoteAlreadyUsed(OrderError):
    code = "quote_already_used"
    status = 409


class IdempotencyKeyReused(OrderError):
    """The same Idempotency-Key with a different request: refusing beats guessing."""

    code = "idempotency_key_reused"


class OrderNotFound(OrderError):
    code = "order_not_found"
    status = 404
