"""The sandbox PayPal's side of its webhooks: Orders v2 / Payments v2 events, each
transmission signed SHA256withRSA with the sandbox's PayPal key (its certificate is served
at PAYPAL-CERT-URL), delivered until it is answered 2xx. See connectors/paypal.py for how
we verify them."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from services.payment.connectors import paypal
from services.payment.connectors.common import sign_sha256_rsa
from services.payment.domain.amounts import to_major
from services.payment.domain.gateway import GatewayEventKind
from services.sandbox.keys import ALNUM_UPPER, SandboxKeys, random_text
from services.sandbox.models import SandboxSessionRow
from services.sandbox.notifiers import Notice
from shared.money import Money

API = "https://api-m.sandbox.paypal.com"
CANCELLED_BY_CUSTOMER = "cancelled_by_customer"


def new_id() -> str:
    """PayPal's order, capture and refund ids: 17 upper-case letters and digits."""
    return random_text(ALNUM_UPPER, 17)


def paypal_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def amount(row: SandboxSessionRow) -> dict[str, str]:
    return {"currency_code": row.currency, "value": to_major(Money(row.amount, row.currency))}


def capture(row: SandboxSessionRow, status: str, now: datetime) -> dict[str, Any]:
    capture_id = row.provider_ref or new_id()
    return {
        "id": capture_id, "status": status, "amount": amount(row), "final_capture": True,
        "custom_id": row.payment_reference, "invoice_id": row.payment_reference,
        "supplementary_data": {"related_ids": {"order_id": row.id}},
        "create_time": paypal_time(now), "update_time": paypal_time(now),
        "links": [{"href": f"{API}/v2/payments/captures/{capture_id}", "rel": "self", "method": "GET"},
                  {"href": f"{API}/v2/checkout/orders/{row.id}", "rel": "up", "method": "GET"}],
    }


def voided_order(row: SandboxSessionRow, now: datetime) -> dict[str, Any]:
    return {
        "id": row.id, "status": "VOIDED", "intent": "CAPTURE",
        "purchase_units": [{"reference_id": "default", "custom_id": row.payment_reference, "amount": amount(row)}],
        "create_time": paypal_time(row.created_at or now), "update_time": paypal_time(now),
        "links": [{"href": f"{API}/v2/checkout/orders/{row.id}", "rel": "self", "method": "GET"}],
    }


def refund(row: SandboxSessionRow, now: datetime) -> dict[str, Any]:
    refund_id = new_id()
    return {
        "id": refund_id, "status": "COMPLETED", "amount": amount(row),
        "custom_id": row.payment_reference, "invoice_id": row.payment_reference,
        "create_time": paypal_time(now), "update_time": paypal_time(now),
        "links": [{"href": f"{API}/v2/payments/refunds/{refund_id}", "rel": "self", "method": "GET"},
                  {"href": f"{API}/v2/payments/captures/{row.provider_ref}", "rel": "up", "method": "GET"}],
    }


class PayPalNotifier:
    provider = paypal.NAME

    def __init__(self, keys: SandboxKeys, cert_url: str, url: str) -> None:
        self.keys, self.cert_url, self.url = keys, cert_url, url

    def notice(self, kind: GatewayEventKind, row: SandboxSessionRow, now: datetime) -> Notice | None:
        if kind is GatewayEventKind.PAYMENT_ATTEMPT_FAILED:
            return None  # a declined funding source: the buyer picks another, PayPal says nothing
        if kind is GatewayEventKind.PAYMENT_SUCCEEDED:
            event_type, resource_type, resource = paypal.CAPTURE_COMPLETED, "capture", capture(row, "COMPLETED", now)
        elif kind is GatewayEventKind.PAYMENT_FAILED and row.failure_code == CANCELLED_BY_CUSTOMER:
            event_type, resource_type, resource = paypal.ORDER_VOIDED, "checkout-order", voided_order(row, now)
        elif kind is GatewayEventKind.PAYMENT_FAILED:
            event_type, resource_type, resource = paypal.CAPTURE_DENIED, "capture", capture(row, "DENIED", now)
        else:
            event_type, resource_type, resource = paypal.CAPTURE_REFUNDED, "refund", refund(row, now)
        event_id = f"WH-{new_id()}-{new_id()}"
        money = Money(row.amount, row.currency).format()
        return Notice(event_id, json.dumps({
            "id": event_id, "event_version": "1.0", "create_time": paypal_time(now),
            "resource_type": resource_type, "resource_version": "2.0", "event_type": event_type,
            "summary": f"{event_type.replace('.', ' ').title()} for {money}", "resource": resource,
            "links": [{"href": f"{API}/v1/notifications/webhooks-events/{event_id}", "rel": "self", "method": "GET"}],
        }, separators=(",", ":")))

    def headers(self, body: str, now: datetime) -> dict[str, str]:
        transmission_id, transmission_time = str(uuid.uuid4()), paypal_time(now)
        message = paypal.signed_message(transmission_id, transmission_time, self.keys.paypal_webhook_id,
                                        body.encode("utf-8"))
        return {
            "Content-Type": "application/json",
            "PAYPAL-TRANSMISSION-ID": transmission_id,
            "PAYPAL-TRANSMISSION-TIME": transmission_time,
            "PAYPAL-TRANSMISSION-SIG": sign_sha256_rsa(self.keys.paypal_key, message),
            "PAYPAL-CERT-URL": self.cert_url,
            "PAYPAL-AUTH-ALGO": paypal.AUTH_ALGO,
        }

    def accepted(self, status: int, text: str) -> bool:
        return 200 <= status < 300
