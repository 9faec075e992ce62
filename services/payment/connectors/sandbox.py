"""Our adapter to the sandbox gateways (services/sandbox): the `Gateway` the handlers talk to,
for its card processor and for its PayPal, Alipay and WeChat Pay.

Each is two halves, as a real provider's adapter is:
- the transport: the provider's API over HTTP (http.py): open a checkout keyed by our
  payment id, refund keyed by our refund id, cancel keyed by the payment id, ask how a
  payment or a refund stands. An unknown outcome is asked about before it is tried again.
- the notifications: read by that provider's connector (card.py, paypal.py, alipay.py,
  wechat.py), exactly as for the real provider, with what we trust about it (ids, public
  keys, certificates) read once from the sandbox's merchant page (`GET /sandbox/api/merchant`),
  the values a merchant copies from a real provider's dashboard into its configuration.

A real provider's adapter takes this file's place: the same five methods, its own API.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from services.payment.connectors import alipay, paypal, wechat
from services.payment.connectors.alipay import AlipayConnector, AlipayTrust
from services.payment.connectors.card import CardConnector
from services.payment.connectors.common import Connector
from services.payment.connectors.http import ProviderApi, Reply, refusal
from services.payment.connectors.paypal import PayPalConnector, PayPalTrust
from services.payment.connectors.wechat import WechatConnector, WechatTrust
from services.payment.domain.cards import CardSummary
from services.payment.domain.errors import GatewayError, GatewayRefused
from services.payment.domain.gateway import GatewayEvent, GatewayEventKind, query_event_id
from services.payment.domain.payment import Payment
from services.payment.domain.refund import refund_reference
from shared.clock import utcnow
from shared.config import Settings
from shared.money import Money

CARD = "sandbox"
#: which of the sandbox's providers takes each payment method
METHOD_PROVIDERS = {"card": CARD, "paypal": paypal.NAME, "alipay": alipay.NAME, "wechat_pay": wechat.NAME}


class SandboxConnection:
    """The sandbox's API and, once read, what we trust about each of its providers."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.api = ProviderApi(settings.sandbox_api, settings.sandbox_api_key, settings.gateway_timeout_seconds,
                               settings.gateway_attempts)
        self._connectors: dict[str, Connector] = {
            CARD: CardConnector(settings.webhook_secret, settings.webhook_tolerance_seconds)}
        self._lock = threading.Lock()

    def connector(self, name: str) -> Connector:
        """The connector that reads `name`'s notifications. The wallets' trust is read from
        the sandbox at the first notification (it may start after us); GatewayError while
        it cannot be read: the webhook is answered 503 and sent again."""
        known = self._connectors.get(name)
        if known is not None:
            return known
        fetched = self._wallet_connectors()  # outside the lock: a slow sandbox holds up nobody else
        with self._lock:
            self._connectors = {**fetched, **self._connectors}
            return self._connectors[name]

    def _wallet_connectors(self) -> dict[str, Connector]:
        reply = self.api.call("GET", "/sandbox/api/merchant")
        if reply.status != 200:
            raise GatewayError(f"the sandbox's merchant page answered HTTP {reply.status}")
        try:
            return wallet_connectors(reply.data, self.settings.webhook_tolerance_seconds)
        except (KeyError, TypeError, ValueError) as exc:
            raise GatewayError(f"unreadable sandbox merchant page: {exc!r}") from exc

    def settlement_report(self, provider: str, day: date) -> bytes:
        """The provider's settlement report of `day`, as it gives it (its format, its encoding)."""
        return self.api.download(f"/sandbox/api/settlements/{provider}/{day.isoformat()}")


def wallet_connectors(trust: Mapping[str, Any], tolerance: int) -> dict[str, Connector]:
    def cert(pem: str) -> x509.Certificate:
        return x509.load_pem_x509_certificate(pem.encode())

    pp, ali, wx = trust["paypal"], trust["alipay"], trust["wechat_pay"]
    return {
        paypal.NAME: PayPalConnector(PayPalTrust(pp["webhook_id"], pp["cert_url"], cert(pp["cert"]), tolerance)),
        alipay.NAME: AlipayConnector(AlipayTrust(ali["app_id"],
                                                 serialization.load_pem_public_key(ali["public_key"].encode()))),
        wechat.NAME: WechatConnector(WechatTrust(wx["mchid"], wx["api_v3_key"].encode(),
                                                 {wx["serial"]: cert(wx["cert"])}, tolerance)),
    }


class SandboxGateway:
    def __init__(self, name: str, connection: SandboxConnection) -> None:
        self.name = name
        self.connection = connection
        self.api = connection.api

    def create_session(self, payment: Payment, return_url: str) -> tuple[str, str]:
        if METHOD_PROVIDERS.get(payment.method) != self.name:
            raise GatewayRefused(f"the sandbox {self.name} does not take {payment.method}", "method_unavailable")
        asked = {"payment_reference": payment.payment_id, "amount": payment.amount.amount_minor,
                 "currency": payment.amount.currency, "method": payment.method, "locale": payment.language,
                 "attempts_allowed": payment.attempts_allowed, "return_url": return_url}

        def attempt() -> tuple[str, str]:
            reply = self.api.call("POST", "/sandbox/api/checkouts", json=asked, idempotency_key=payment.payment_id)
            if reply.status not in (200, 201):
                raise refusal(reply, f"opening the checkout of {payment.payment_id}")
            return checkout_of(reply)

        def ask() -> tuple[str, str] | None:
            reply = self.api.call("GET", f"/sandbox/api/payments?reference={payment.payment_id}")
            return checkout_of(reply) if reply.status == 200 else None

        return self.api.settle(f"create {payment.payment_id}", attempt, ask)

    def _checkout_id(self, payment: Payment) -> str:
        if not payment.gateway_ref:
            raise GatewayRefused(f"no sandbox checkout for payment {payment.payment_id}", "no_such_payment")
        return payment.gateway_ref

    def refund(self, payment: Payment) -> None:
        checkout, reference = self._checkout_id(payment), refund_reference(payment.payment_id)

        def attempt() -> bool:
            reply = self.api.call("POST", f"/sandbox/api/payments/{checkout}/refunds",
                                  json={"refund_reference": reference}, idempotency_key=reference)
            if reply.status != 200:
                raise refusal(reply, f"refunding {payment.payment_id}")
            return True

        def ask() -> bool | None:
            reply = self.api.call("GET", f"/sandbox/api/refunds/{reference}")
            return True if reply.status == 200 and reply.data.get("status") == "succeeded" else None

        self.api.settle(f"refund {payment.payment_id}", attempt, ask)

    def cancel(self, payment: Payment) -> bool:
        checkout = self._checkout_id(payment)

        def attempt() -> bool:
            reply = self.api.call("POST", f"/sandbox/api/payments/{checkout}/cancel",
                                  idempotency_key=payment.payment_id)
            if reply.status != 200:
                raise refusal(reply, f"cancelling {payment.payment_id}")
            return bool(reply.data.get("cancelled"))

        def ask() -> bool | None:
            status = self._retrieve(checkout).get("status")
            return {"cancelled": True, "declined": True, "approved": False}.get(str(status))

        return self.api.settle(f"cancel {payment.payment_id}", attempt, ask)

    def _retrieve(self, checkout: str) -> dict[str, Any]:
        reply = self.api.call("GET", f"/sandbox/api/payments/{checkout}")
        if reply.status == 404:
            raise GatewayRefused(f"the sandbox knows no payment {checkout}", "no_such_payment")
        if reply.status != 200:
            raise GatewayError(f"sandbox API answered HTTP {reply.status}")
        return reply.data

    def query(self, payment: Payment) -> GatewayEvent | None:
        if not payment.gateway_ref:
            return None
        return event_from(payment, self._retrieve(payment.gateway_ref))

    def verify(self, headers: Mapping[str, str], raw_body: bytes, now: datetime) -> GatewayEvent:
        return self.connection.connector(self.name).read(headers, raw_body, now)


def checkout_of(reply: Reply) -> tuple[str, str]:
    try:
        return str(reply.data["id"]), str(reply.data["url"])
    except KeyError as exc:
        raise GatewayError(f"unreadable sandbox checkout: {exc!r}") from exc


def event_from(payment: Payment, data: dict[str, Any]) -> GatewayEvent | None:
    """The outcome a retrieved checkout shows; while it is open, its latest declined try if
    any; else None (open and untried, or closed by us: then we know already)."""
    status, attempt = data.get("status"), None
    if status == "approved":
        kind = GatewayEventKind.PAYMENT_SUCCEEDED
    elif status == "declined":
        kind = GatewayEventKind.PAYMENT_FAILED
    elif status == "open" and data.get("attempts_failed"):
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
