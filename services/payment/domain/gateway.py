"""What the payment service needs from a payment gateway, whichever it is.

A gateway takes the customer through its own page (card numbers are typed there, never
into our services), sends the customer's browser back to us after each decision (the
return address we give it when the checkout opens), and tells us the outcome later by a
signed webhook. Webhooks get lost,
so we can also ask (`query`); the answer is read into the same `GatewayEvent` a webhook
would give, with a synthetic id (`query:<payment_id>:<kind>`) so that asking twice, or
asking and then receiving the webhook, changes nothing twice. Adapters live outside the
domain (the sandbox gateways are some).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from services.payment.domain.cards import CardSummary
from services.payment.domain.payment import Payment, PaymentEvent
from shared.money import Money


class GatewayEventKind(StrEnum):
    PAYMENT_SUCCEEDED = "payment.succeeded"
    PAYMENT_FAILED = "payment.failed"
    #: one try failed and the page takes another (Stripe's payment_intent.payment_failed)
    PAYMENT_ATTEMPT_FAILED = "payment.attempt_failed"
    REFUND_SUCCEEDED = "refund.succeeded"


# What each gateway notification means for our payment (a failed try changes nothing: it is
# counted, and the saga hears of it).
EVENT_EFFECTS: dict[GatewayEventKind, PaymentEvent] = {
    GatewayEventKind.PAYMENT_SUCCEEDED: PaymentEvent.CAPTURE,
    GatewayEventKind.PAYMENT_FAILED: PaymentEvent.FAIL,
    GatewayEventKind.REFUND_SUCCEEDED: PaymentEvent.REFUND,
}


@dataclass(frozen=True)
class GatewayEvent:
    """A verified notification from a gateway, in our words."""

    event_id: str
    kind: GatewayEventKind
    payment_id: str
    gateway_ref: str | None  # None when the notice does not name the checkout (a refund's)
    amount: Money
    occurred_at: datetime
    card: CardSummary | None = None
    failure_code: str | None = None
    #: which try failed (1, 2, ...), for a PAYMENT_ATTEMPT_FAILED
    attempt: int | None = None

    @property
    def effect(self) -> PaymentEvent | None:
        return EVENT_EFFECTS.get(self.kind)


def query_event_id(payment_id: str, kind: GatewayEventKind, attempt: int | None = None) -> str:
    """The id under which an answer to our question is recorded, like a webhook's: the
    same answer twice is one event. (Short: webhook event ids are at most 64 characters.)"""
    return f"query:{payment_id}:attempt:{attempt}" if attempt is not None else f"query:{payment_id}:{kind.value}"


class Gateway(Protocol):
    name: str

    def create_session(self, payment: Payment, return_url: str) -> tuple[str, str]:
        """Open a checkout for the payment: (gateway_ref, redirect_url for the customer).
        After each decision on its page the gateway sends the customer to `return_url`
        (Stripe's success and cancel URLs, PayPal's return_url, Alipay's return_url)."""
        ...

    def refund(self, payment: Payment) -> None:
        """Give the customer's money back in full; GatewayRefused / GatewayTimeout if not.
        Safe to repeat: a second call for the same payment never refunds twice."""
        ...

    def cancel(self, payment: Payment) -> bool:
        """Close the checkout so it can no longer be paid. False when the customer has
        already completed it: then the gateway's webhook decides the payment's fate."""
        ...

    def query(self, payment: Payment) -> GatewayEvent | None:
        """Ask the gateway how the payment ended: the event its webhook would have brought,
        or None while the customer has not finished. GatewayError when it cannot say."""
        ...

    def verify(self, headers: Mapping[str, str], raw_body: bytes, now: datetime) -> GatewayEvent:
        """Authenticate and read a webhook; InvalidSignature or InvalidWebhookPayload if not."""
        ...
