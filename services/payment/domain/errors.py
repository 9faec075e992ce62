"""Why the payment service refuses something; each error's `code` travels in messages and APIs."""

from __future__ import annotations

from typing import Any


class PaymentError(Exception):
    code = "payment_error"


class MethodUnavailable(PaymentError):
    """No gateway is configured for the method the customer chose."""

    code = "method_unavailable"


class InvalidAmount(PaymentError):
    """A gateway cannot charge zero or a negative amount; the order service should never ask."""

    code = "invalid_amount"


class InvalidCardDetails(PaymentError):
    """The brief: payment details are checked carefully, and invalid input gets a clear error.

    `errors` maps each bad field to a message the customer can act on (in their language,
    once written: shared/i18n.py Text).
    """

    code = "invalid_card_details"

    def __init__(self, errors: dict[str, Any]) -> None:
        super().__init__(", ".join(f"{field}: {message}" for field, message in errors.items()))
        self.errors = errors


class InvalidSignature(PaymentError):
    """A webhook whose signature is missing, malformed, wrong or outside the time window.

    Such a request may be forged or replayed, so it must change nothing.
    """

    code = "invalid_signature"


class InvalidWebhookPayload(PaymentError):
    """A correctly signed webhook whose body we cannot read."""

    code = "invalid_payload"


class GatewayError(PaymentError):
    """A gateway call that did not do what we asked. `code` is the gateway's own reason
    (e.g. `refund_declined`), carried to the operator in `payment.refund_failed`."""

    code = "gateway_error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class GatewayRefused(GatewayError):
    """The gateway answered, and the answer is no (e.g. refund a checkout that was never
    paid, or a card whose issuer refuses refunds). Asking again later may still help."""

    code = "gateway_refused"


class GatewayTimeout(GatewayError):
    """The gateway did not answer in time, so the outcome is unknown: every call that can
    time out must be safe to repeat (refunds carry an idempotency key for that)."""

    code = "gateway_timeout"
