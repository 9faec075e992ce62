"""Why the payment service refuses something; each error's `code` travels in messages and APIs."""

from __future__ import annotations


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

    `errors` maps each bad field to a message the customer can act on.
    """

    code = "invalid_card_details"

    def __init__(self, errors: dict[str, str]) -> None:
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


class GatewayRefused(PaymentError):
    """The gateway would not do what we asked (e.g. refund a checkout that was never paid).

    Raised out of a message handler, so the command is retried and, failing that, parked
    where an operator sees it: money questions are never dropped silently.
    """

    code = "gateway_refused"
