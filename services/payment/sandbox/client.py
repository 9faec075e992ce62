"""Our side of the sandbox gateways' API: ask how a payment ended, read the answer into
the `GatewayEvent` its webhook would have brought (see domain/gateway.py). The transport a
real connector replaces with its provider's query call."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from typing import Any

import requests

from services.payment.domain.cards import CardSummary
from services.payment.domain.errors import GatewayError, GatewayRefused, GatewayTimeout
from services.payment.domain.gateway import GatewayEvent, GatewayEventKind, query_event_id
from services.payment.domain.payment import Payment
from services.payment.sandbox.api import api_key
from services.payment.sandbox.bank import SessionStatus
from shared.clock import utcnow
from shared.money import Money

TIMEOUT_SECONDS = 5.0


class SandboxApi:
    def __init__(self, base_url: str, webhook_secret: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.key = api_key(webhook_secret)
        self._local = threading.local()

    def _http(self) -> requests.Session:
        """This thread's connection to the sandbox, kept open between questions. A new
        requests session per question (`requests.get`) cost a new connection, and looking up
        proxies and ~/.netrc in the environment took a quarter of the call: the sandbox is
        reached directly (issue 10: the return page asks it on every top-up)."""
        http: requests.Session | None = getattr(self._local, "http", None)
        if http is None:
            http = self._local.http = requests.Session()
            http.trust_env = False
        return http

    def retrieve(self, session_id: str) -> dict[str, Any]:
        try:
            response = self._http().get(
                f"{self.base_url}/sandbox/api/payments/{session_id}", timeout=TIMEOUT_SECONDS,
                headers={"Authorization": f"Bearer {self.key}", "Accept": "application/json"})
        except requests.RequestException as exc:
            raise GatewayTimeout(f"sandbox API unreachable: {type(exc).__name__}") from exc
        if response.status_code == 404:
            raise GatewayRefused(f"the sandbox knows no payment {session_id}", "no_such_payment")
        if response.status_code != 200:
            raise GatewayError(f"sandbox API answered HTTP {response.status_code}")
        data: dict[str, Any] = response.json()
        return data

    def settlement_report(self, provider: str, day: date) -> bytes:
        """The provider's settlement report of `day`, as it gives it (its format, its encoding)."""
        try:
            response = self._http().get(
                f"{self.base_url}/sandbox/api/settlements/{provider}/{day.isoformat()}",
                timeout=TIMEOUT_SECONDS, headers={"Authorization": f"Bearer {self.key}"})
        except requests.RequestException as exc:
            raise GatewayTimeout(f"sandbox API unreachable: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise GatewayError(f"sandbox API answered HTTP {response.status_code} for {provider}'s report of {day}")
        return response.content

    def query(self, payment: Payment) -> GatewayEvent | None:
        if not payment.gateway_ref:
            return None
        return event_from(payment, self.retrieve(payment.gateway_ref))


def event_from(payment: Payment, data: dict[str, Any]) -> GatewayEvent | None:
    """The outcome a retrieved session shows; while it is open, its latest declined try if
    any; else None (open and untried, or closed by us: then we know already)."""
    status, attempt = data.get("status"), None
    if status == SessionStatus.APPROVED:
        kind = GatewayEventKind.PAYMENT_SUCCEEDED
    elif status == SessionStatus.DECLINED:
        kind = GatewayEventKind.PAYMENT_FAILED
    elif status == SessionStatus.OPEN and data.get("attempts_failed"):
        kind, attempt = GatewayEventKind.PAYMENT_ATTEMPT_FAILED, data["attempts_failed"]
    else:
        return None
    try:
        card = data.get("card")
        updated = data.get("updated")
        return GatewayEvent(
            event_id=query_event_id(payment.payment_id, kind, attempt),
            kind=kind,
            payment_id=str(data["payment_reference"]),
            gateway_ref=str(data["id"]),
            amount=Money(data["amount"], data["currency"]),
            occurred_at=datetime.fromtimestamp(int(updated), UTC) if updated else utcnow(),
            card=CardSummary(str(card["brand"]), str(card["last4"])) if card else None,
            failure_code=data.get("failure_code"),
            attempt=int(attempt) if attempt is not None else None,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise GatewayError(f"unreadable sandbox API answer: {exc!r}") from exc
