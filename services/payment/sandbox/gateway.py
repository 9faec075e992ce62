"""Our adapter to the sandbox card gateway: the `Gateway` the handlers talk to.

In development the simulated gateway shares our database, so opening, refunding and
cancelling a checkout happen inside the caller's transaction; a real gateway adapter would
call its API here instead. Webhooks are read the way a real one's are: signature first,
over the raw bytes, then the JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from services.payment.domain import signature
from services.payment.domain.cards import CardSummary
from services.payment.domain.errors import GatewayRefused, InvalidWebhookPayload
from services.payment.domain.gateway import GatewayEvent, GatewayEventKind
from services.payment.domain.payment import Payment
from services.payment.sandbox import bank
from services.payment.sandbox.models import SandboxSessionRow
from shared.clock import utcnow
from shared.config import Settings
from shared.money import Money

NAME = "sandbox"
SIGNATURE_HEADER = "Sandbox-Signature"


def checkout_url(settings: Settings, session_id: str) -> str:
    return f"{settings.payment_public_url.rstrip('/')}/sandbox/checkout/{session_id}"


class SandboxCardGateway:
    name = NAME

    def __init__(self, session: Session, settings: Settings) -> None:
        self.session = session
        self.settings = settings

    def create_session(self, payment: Payment) -> tuple[str, str]:
        row = bank.open_session(self.session, payment.payment_id, payment.amount, payment.method)
        return row.id, checkout_url(self.settings, row.id)

    def _checkout(self, payment: Payment) -> SandboxSessionRow:
        row = bank.get_session(self.session, payment.gateway_ref or "", lock=True)
        if row is None:
            raise GatewayRefused(f"no sandbox session for payment {payment.payment_id}")
        return row

    def refund(self, payment: Payment) -> None:
        bank.refund(self.session, self._checkout(payment), self.settings.sandbox_webhook_url, utcnow())

    def cancel(self, payment: Payment) -> bool:
        return bank.cancel(self._checkout(payment))

    def verify(self, headers: Mapping[str, str], raw_body: bytes, now: datetime) -> GatewayEvent:
        header = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER.lower()), None)
        signature.verify(header, raw_body, self.settings.webhook_secret, now,
                         self.settings.webhook_tolerance_seconds)
        return parse_event(raw_body)


def parse_event(raw_body: bytes) -> GatewayEvent:
    try:
        event: dict[str, Any] = json.loads(raw_body)
        data = event["data"]
        card = data.get("card")
        return GatewayEvent(
            event_id=str(event["id"]),
            kind=GatewayEventKind(event["type"]),
            payment_id=str(data["payment_reference"]),
            gateway_ref=str(data["session_id"]),
            amount=Money(data["amount"], data["currency"]),
            occurred_at=datetime.fromtimestamp(int(event["created"]), UTC),
            card=CardSummary(str(card["brand"]), str(card["last4"])) if card else None,
            failure_code=data.get("failure_code"),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidWebhookPayload(f"unreadable sandbox event: {exc!r}") from exc
