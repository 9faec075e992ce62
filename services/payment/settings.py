"""The payment service's own settings, as one value its loops are built from.

They are read from the environment with the others, in shared/config.py:

| variable | default | meaning |
|---|---|---|
| `REFUND_MAX_ATTEMPTS` | `5` | refund attempts at the gateway before `payment.refund_failed` |
| `PAYMENT_QUERY_AFTER` | `60` | seconds a payment may wait for its webhook before we ask the gateway |
| `PAYMENT_QUERY_EVERY` | `5` | first pause, in seconds, between two questions about one payment (it doubles) |
| `PAYMENT_ATTEMPTS` | `3` | tries a payment page takes: a decline before the last leaves it open for another card |

Refund retries back off from `RETRY_BASE_SECONDS` (shared), doubling up to five minutes.
How the gateways are called (`GATEWAY_TIMEOUT`, `GATEWAY_ATTEMPTS`, `SANDBOX_API_URL`) is in
`Settings` itself: the connectors read it (connectors/http.py). Tests pass their own
`PaymentSettings` to the worker factory.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.config import Settings


@dataclass(frozen=True)
class PaymentSettings:
    refund_max_attempts: int = 5
    query_after_seconds: float = 60.0
    query_every_seconds: float = 5.0
    payment_attempts: int = 3

    @classmethod
    def from_settings(cls, settings: Settings) -> PaymentSettings:
        return cls(
            refund_max_attempts=settings.refund_max_attempts,
            query_after_seconds=settings.payment_query_after_seconds,
            query_every_seconds=settings.payment_query_every_seconds,
            payment_attempts=settings.payment_attempts,
        )


@dataclass(frozen=True)
class CheckoutTerms:
    """What every checkout we open is told: how many tries its page takes, and where it
    sends the customer's browser after each decision (our return endpoint, api/returns.py)."""

    attempts_allowed: int
    public_url: str

    def return_url(self, payment_id: str) -> str:
        return f"{self.public_url.rstrip('/')}/v1/payments/{payment_id}/return"
