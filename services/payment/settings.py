"""The payment service's own settings, as one value its loops and gateways are built from.

They are read from the environment with the others, in shared/config.py:

| variable | default | meaning |
|---|---|---|
| `REFUND_MAX_ATTEMPTS` | `5` | refund attempts at the gateway before `payment.refund_failed` |
| `PAYMENT_QUERY_AFTER` | `60` | seconds a payment may wait for its webhook before we ask the gateway |
| `PAYMENT_QUERY_EVERY` | `5` | first pause, in seconds, between two questions about one payment (it doubles) |
| `SANDBOX_API_URL` | SANDBOX_WEBHOOK_URL minus `/v1/webhooks/sandbox` | where the worker reaches the sandbox's API |
| `PAYMENT_ATTEMPTS` | `3` | tries a payment page takes: a decline before the last leaves it open for another card |

Refund retries back off from `RETRY_BASE_SECONDS` (shared), doubling up to five minutes.
Tests pass their own `PaymentSettings` to the app and worker factories.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.config import Settings

SANDBOX_WEBHOOK_PATH = "/v1/webhooks/sandbox"


@dataclass(frozen=True)
class PaymentSettings:
    refund_max_attempts: int = 5
    query_after_seconds: float = 60.0
    query_every_seconds: float = 5.0
    sandbox_api_url: str | None = None
    payment_attempts: int = 3

    @classmethod
    def from_settings(cls, settings: Settings) -> PaymentSettings:
        return cls(
            refund_max_attempts=settings.refund_max_attempts,
            query_after_seconds=settings.payment_query_after_seconds,
            query_every_seconds=settings.payment_query_every_seconds,
            sandbox_api_url=settings.sandbox_api_url,
            payment_attempts=settings.payment_attempts,
        )

    def sandbox_base_url(self, settings: Settings) -> str:
        """Where the worker reaches the sandbox's web side. The sandbox already posts its
        webhooks to SANDBOX_WEBHOOK_URL, an address the worker can reach (inside
        docker-compose it is not the public one), so its API is the same host by default."""
        if self.sandbox_api_url:
            return self.sandbox_api_url.rstrip("/")
        if settings.sandbox_webhook_url.endswith(SANDBOX_WEBHOOK_PATH):
            return settings.sandbox_webhook_url.removesuffix(SANDBOX_WEBHOOK_PATH)
        return settings.payment_public_url.rstrip("/")


@dataclass(frozen=True)
class CheckoutTerms:
    """What every checkout we open is told: how many tries its page takes, and where it
    sends the customer's browser after each decision (our return endpoint, api/returns.py)."""

    attempts_allowed: int
    public_url: str

    def return_url(self, payment_id: str) -> str:
        return f"{self.public_url.rstrip('/')}/v1/payments/{payment_id}/return"
