"""WeChat Pay API v3 notifications, verified and decrypted as WeChat Pay documents.

The request is JSON; its headers carry `Wechatpay-Timestamp`, `Wechatpay-Nonce`,
`Wechatpay-Serial` (which platform certificate signed it: we must know that serial) and
`Wechatpay-Signature`, base64 SHA256withRSA over

    <timestamp>\\n<nonce>\\n<raw body>\\n

The timestamp must be within five minutes of now. Only then is the `resource` decrypted:
AEAD_AES_256_GCM with the merchant's 32-byte API v3 key, the resource's `nonce` and its
`associated_data` (so a ciphertext that does not authenticate is as good as unsigned). The
plain resource is a transaction (TRANSACTION.SUCCESS: `out_trade_no` is our payment id,
`amount.total` in minor units) or a refund (REFUND.SUCCESS), for our `mchid`.

WeChat Pay notifies only payments that succeeded (and refunds); a payment that failed or
was abandoned is found by asking (query by out_trade_no). It retries (15s, 15s, 30s, 3m, ...
for 24 h) until it gets 200 or 204; a failure is answered 4xx/5xx with
{"code": "FAIL", "message": ...}.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.payment.connectors.common import header, verify_sha256_rsa
from services.payment.domain.errors import InvalidSignature, InvalidWebhookPayload
from services.payment.domain.gateway import GatewayEvent, GatewayEventKind
from shared.money import Money

NAME = "wechat_pay"
ALGORITHM = "AEAD_AES_256_GCM"
TRANSACTION_SUCCESS, REFUND_SUCCESS = "TRANSACTION.SUCCESS", "REFUND.SUCCESS"
EVENT_KINDS = {
    TRANSACTION_SUCCESS: GatewayEventKind.PAYMENT_SUCCEEDED,
    REFUND_SUCCESS: GatewayEventKind.REFUND_SUCCEEDED,
}


@dataclass(frozen=True)
class WechatTrust:
    mchid: str
    api_v3_key: bytes
    platform_certs: Mapping[str, x509.Certificate]  # by serial, as Wechatpay-Serial names them
    tolerance_seconds: int = 300


def signed_message(timestamp: str, nonce: str, body: bytes) -> bytes:
    return timestamp.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"


def decrypt(resource: Mapping[str, Any], api_v3_key: bytes) -> dict[str, Any]:
    """The plain resource of a notification; InvalidSignature if it does not authenticate."""
    if resource.get("algorithm") != ALGORITHM:
        raise InvalidWebhookPayload(f"unsupported algorithm {resource.get('algorithm')!r}")
    try:
        ciphertext = base64.b64decode(str(resource["ciphertext"]), validate=True)
        plain = AESGCM(api_v3_key).decrypt(str(resource["nonce"]).encode(), ciphertext,
                                           str(resource.get("associated_data") or "").encode())
    except (InvalidTag, binascii.Error, KeyError, ValueError) as exc:
        raise InvalidSignature("the resource does not decrypt with our API v3 key") from exc
    try:
        data: dict[str, Any] = json.loads(plain)
    except ValueError as exc:
        raise InvalidWebhookPayload("the decrypted resource is not JSON") from exc
    return data


class WechatConnector:
    name = NAME

    def __init__(self, trust: WechatTrust) -> None:
        self.trust = trust

    def read(self, headers: Mapping[str, str], raw_body: bytes, now: datetime) -> GatewayEvent:
        self.verify(headers, raw_body, now)
        try:
            event: dict[str, Any] = json.loads(raw_body)
            resource = event["resource"]
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidWebhookPayload(f"unreadable WeChat Pay notification: {exc!r}") from exc
        return parse_event(event, decrypt(resource, self.trust.api_v3_key), self.trust.mchid)

    def verify(self, headers: Mapping[str, str], raw_body: bytes, now: datetime) -> None:
        timestamp = header(headers, "Wechatpay-Timestamp")
        nonce = header(headers, "Wechatpay-Nonce")
        serial = header(headers, "Wechatpay-Serial")
        signature = header(headers, "Wechatpay-Signature")
        cert = self.trust.platform_certs.get(serial.upper())
        if cert is None:
            raise InvalidSignature(f"unknown platform certificate serial {serial!r}")
        if not (timestamp.isascii() and timestamp.isdigit()):
            raise InvalidSignature("malformed Wechatpay-Timestamp")
        if abs(now.timestamp() - int(timestamp)) > self.trust.tolerance_seconds:
            raise InvalidSignature("Wechatpay-Timestamp outside the accepted window")
        verify_sha256_rsa(cert.public_key(), signature, signed_message(timestamp, nonce, raw_body))


def parse_event(event: Mapping[str, Any], resource: Mapping[str, Any], mchid: str) -> GatewayEvent:
    try:
        event_type = event["event_type"]
        if event_type not in EVENT_KINDS:
            raise InvalidWebhookPayload(f"not an event we act on: {event_type!r}")
        if resource["mchid"] != mchid:
            raise InvalidWebhookPayload("a notification for another merchant")
        amount = resource["amount"]
        if event_type == TRANSACTION_SUCCESS:
            if resource["trade_state"] != "SUCCESS":
                raise InvalidWebhookPayload(f"a success notice with trade_state {resource['trade_state']!r}")
            money = Money(amount["total"], amount.get("currency") or "CNY")
        else:
            if resource["refund_status"] != "SUCCESS":
                raise InvalidWebhookPayload(f"a refund notice with refund_status {resource['refund_status']!r}")
            money = Money(amount["refund"], amount.get("currency") or "CNY")
        return GatewayEvent(
            event_id=str(event["id"]),
            kind=EVENT_KINDS[event_type],
            payment_id=str(resource["out_trade_no"]),
            gateway_ref=str(resource["transaction_id"]),
            amount=money,
            occurred_at=datetime.fromisoformat(str(resource.get("success_time") or event["create_time"])),
        )
    except InvalidWebhookPayload:
        raise
    except (KeyError, ValueError, TypeError) as exc:
        raise InvalidWebhookPayload(f"unreadable WeChat Pay resource: {exc!r}") from exc
