"""How each sandbox provider notifies us: what it sends for an outcome, how it signs a
transmission, and which answer it takes as "received" (anything else is retried).

The body of a notice is fixed when the outcome is (queued in the same transaction); the
headers are made at each transmission, because PayPal's and WeChat Pay's signatures cover
the transmission's own id or time. A provider that does not notify an outcome (WeChat Pay
and Alipay's QR payments say nothing of a failed one) returns no notice: then only asking
finds out, as with the real ones.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.payment.domain import signature
from services.payment.domain.gateway import GatewayEventKind
from services.sandbox.models import SandboxSessionRow
from shared.config import Settings

CARD = "sandbox"
METHOD_PROVIDERS = {"card": CARD, "paypal": "paypal", "alipay": "alipay", "wechat_pay": "wechat_pay"}


@dataclass(frozen=True)
class Notice:
    event_id: str
    body: str


class Notifier(Protocol):
    provider: str
    url: str

    def notice(self, kind: GatewayEventKind, row: SandboxSessionRow, now: datetime) -> Notice | None:
        """What the provider sends when `row` ends this way; None if it sends nothing."""
        ...

    def headers(self, body: str, now: datetime) -> dict[str, str]:
        """The headers of one transmission of `body`, signed now."""
        ...

    def accepted(self, status: int, text: str) -> bool:
        """Whether the receiver's answer counts as received (else: retry later)."""
        ...


def webhook_url(settings: Settings, provider: str) -> str:
    """Where a provider posts: beside SANDBOX_WEBHOOK_URL, `.../v1/webhooks/<provider>`."""
    return f"{settings.sandbox_webhook_url.rsplit('/', 1)[0]}/{provider}"


class CardNotifier:
    """The sandbox card processor: Stripe-like JSON events, HMAC-signed with a timestamp."""

    provider = CARD

    def __init__(self, settings: Settings) -> None:
        self.secret = settings.webhook_secret
        self.url = settings.sandbox_webhook_url

    def notice(self, kind: GatewayEventKind, row: SandboxSessionRow, now: datetime) -> Notice | None:
        event_id = f"evt_{uuid.uuid4().hex}"
        card = {"brand": row.card_brand, "last4": row.card_last4} if row.card_last4 else None
        return Notice(event_id, json.dumps({
            "id": event_id,
            "type": kind.value,
            "created": int(now.timestamp()),
            "data": {
                "session_id": row.id, "payment_reference": row.payment_reference, "amount": row.amount,
                "currency": row.currency, "card": card, "failure_code": row.failure_code,
                "attempt": row.failed_attempts or None,
            },
        }, separators=(",", ":")))

    def headers(self, body: str, now: datetime) -> dict[str, str]:
        return {"Content-Type": "application/json",
                "Sandbox-Signature": signature.sign(self.secret, int(now.timestamp()), body.encode())}

    def accepted(self, status: int, text: str) -> bool:
        return 200 <= status < 300


@dataclass(frozen=True)
class Notifiers:
    by_provider: dict[str, Notifier]

    def named(self, provider: str) -> Notifier:
        return self.by_provider[provider]

    def for_method(self, method: str) -> Notifier:
        return self.by_provider[METHOD_PROVIDERS[method]]
