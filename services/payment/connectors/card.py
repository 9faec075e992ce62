"""The sandbox card processor's webhooks, read as Stripe's are: `Sandbox-Signature`
(t=<unix>,v1=<HMAC-SHA256>, see domain/signature.py) over the raw bytes first, then the
JSON event."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from services.payment.domain import signature
from services.payment.domain.cards import CardSummary
from services.payment.domain.errors import InvalidWebhookPayload
from services.payment.domain.gateway import GatewayEvent, GatewayEventKind
from shared.money import Money

NAME = "sandbox"
SIGNATURE_HEADER = "Sandbox-Signature"


class CardConnector:
    name = NAME

    def __init__(self, secret: str, tolerance_seconds: int) -> None:
        self.secret = secret
        self.tolerance_seconds = tolerance_seconds

    def read(self, headers: Mapping[str, str], raw_body: bytes, now: datetime) -> GatewayEvent:
        value = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER.lower()), None)
        signature.verify(value, raw_body, self.secret, now, self.tolerance_seconds)
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
            attempt=int(data["attempt"]) if data.get("attempt") is not None else None,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidWebhookPayload(f"unreadable sandbox event: {exc!r}") from exc
