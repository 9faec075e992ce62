"""PayPal webhooks, verified the way PayPal documents self-verification.

PayPal signs each transmission (not each event: a redelivery is a new transmission with
new headers) with its private key, SHA256withRSA, over

    <PAYPAL-TRANSMISSION-ID>|<PAYPAL-TRANSMISSION-TIME>|<our webhook id>|<CRC32 of the raw body>

(the CRC32 as an unsigned decimal). The public key is in the X.509 certificate at
PAYPAL-CERT-URL, which we only ever take from where we expect PayPal's certificates to be
(a real connector: https on a paypal.com host, fetched and cached; the sandbox: its one
certificate). Including our webhook id means a notification meant for another merchant's
webhook does not verify here; the transmission time bounds replays.

Events (Orders v2 / Payments v2): PAYMENT.CAPTURE.COMPLETED (paid), PAYMENT.CAPTURE.DENIED
(declined), CHECKOUT.ORDER.VOIDED (the buyer cancelled), PAYMENT.CAPTURE.REFUNDED. Our
payment id travels as `custom_id`; amounts are decimal strings in major units.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509

from services.payment.connectors.common import header, verify_sha256_rsa
from services.payment.domain.amounts import InvalidAmountText, from_major
from services.payment.domain.errors import InvalidSignature, InvalidWebhookPayload
from services.payment.domain.gateway import GatewayEvent, GatewayEventKind

NAME = "paypal"
AUTH_ALGO = "SHA256withRSA"
CAPTURE_COMPLETED, CAPTURE_DENIED = "PAYMENT.CAPTURE.COMPLETED", "PAYMENT.CAPTURE.DENIED"
ORDER_VOIDED, CAPTURE_REFUNDED = "CHECKOUT.ORDER.VOIDED", "PAYMENT.CAPTURE.REFUNDED"

EVENT_KINDS = {
    CAPTURE_COMPLETED: GatewayEventKind.PAYMENT_SUCCEEDED,
    CAPTURE_DENIED: GatewayEventKind.PAYMENT_FAILED,
    ORDER_VOIDED: GatewayEventKind.PAYMENT_FAILED,
    CAPTURE_REFUNDED: GatewayEventKind.REFUND_SUCCEEDED,
}
FAILURE_CODES = {CAPTURE_DENIED: "payment_declined", ORDER_VOIDED: "cancelled_by_customer"}


@dataclass(frozen=True)
class PayPalTrust:
    webhook_id: str
    cert_url: str
    certificate: x509.Certificate
    tolerance_seconds: int = 300


def signed_message(transmission_id: str, transmission_time: str, webhook_id: str, body: bytes) -> bytes:
    return f"{transmission_id}|{transmission_time}|{webhook_id}|{zlib.crc32(body) & 0xFFFFFFFF}".encode()


def parse_time(text: str) -> datetime:
    """PayPal's Internet date-time ('2026-11-24T12:00:00Z'), as an aware datetime."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"no time zone in {text!r}")
    return value


class PayPalConnector:
    name = NAME

    def __init__(self, trust: PayPalTrust) -> None:
        self.trust = trust

    def read(self, headers: Mapping[str, str], raw_body: bytes, now: datetime) -> GatewayEvent:
        self.verify(headers, raw_body, now)
        return parse_event(raw_body)

    def verify(self, headers: Mapping[str, str], raw_body: bytes, now: datetime) -> None:
        transmission_id = header(headers, "PAYPAL-TRANSMISSION-ID")
        transmission_time = header(headers, "PAYPAL-TRANSMISSION-TIME")
        algo = header(headers, "PAYPAL-AUTH-ALGO")
        cert_url = header(headers, "PAYPAL-CERT-URL")
        signature = header(headers, "PAYPAL-TRANSMISSION-SIG")
        if algo != AUTH_ALGO:
            raise InvalidSignature(f"unsupported PAYPAL-AUTH-ALGO {algo!r}")
        if cert_url != self.trust.cert_url:
            raise InvalidSignature("PAYPAL-CERT-URL is not where PayPal's certificate is")
        try:
            sent_at = parse_time(transmission_time)
        except ValueError as exc:
            raise InvalidSignature("malformed PAYPAL-TRANSMISSION-TIME") from exc
        if abs(now - sent_at) > timedelta(seconds=self.trust.tolerance_seconds):
            raise InvalidSignature("transmission time outside the accepted window")
        cert = self.trust.certificate
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise InvalidSignature("PayPal's certificate is not valid now")
        message = signed_message(transmission_id, transmission_time, self.trust.webhook_id, raw_body)
        verify_sha256_rsa(cert.public_key(), signature, message)


def parse_event(raw_body: bytes) -> GatewayEvent:
    try:
        event: dict[str, Any] = json.loads(raw_body)
        event_type = event["event_type"]
        if event_type not in EVENT_KINDS:
            raise InvalidWebhookPayload(f"not an event we subscribe to: {event_type!r}")
        resource = event["resource"]
        if event_type == ORDER_VOIDED:
            unit = resource["purchase_units"][0]
            payment_id, amount, gateway_ref = unit["custom_id"], unit["amount"], resource["id"]
        else:
            related = (resource.get("supplementary_data") or {}).get("related_ids") or {}
            payment_id, amount, gateway_ref = resource["custom_id"], resource["amount"], related.get("order_id")
            if event_type != CAPTURE_REFUNDED and gateway_ref is None:
                raise InvalidWebhookPayload("a capture without its order id")
        return GatewayEvent(
            event_id=str(event["id"]),
            kind=EVENT_KINDS[event_type],
            payment_id=str(payment_id),
            gateway_ref=str(gateway_ref) if gateway_ref is not None else None,
            amount=from_major(str(amount["value"]), str(amount["currency_code"])),
            occurred_at=parse_time(resource.get("update_time") or event["create_time"]),
            failure_code=FAILURE_CODES.get(event_type),
        )
    except InvalidWebhookPayload:
        raise
    except (ValueError, KeyError, TypeError, IndexError, InvalidAmountText) as exc:
        raise InvalidWebhookPayload(f"unreadable PayPal event: {exc!r}") from exc
