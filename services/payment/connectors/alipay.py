"""Alipay's asynchronous notifications, verified as Alipay documents.

A notification is a form-encoded POST (`application/x-www-form-urlencoded`, UTF-8).
Verification, step by step: take every parameter except `sign` and `sign_type` (and
except empty ones), sort them by name, join them as `name=value` with `&` (values
URL-decoded, nothing escaped), and check `sign` (base64) against that text with Alipay's
public key: RSA2, i.e. SHA256withRSA. Then check that it is for our app (`app_id`), and read
`out_trade_no` (our payment id), `trade_no` (Alipay's), `trade_status` and the amounts
(decimal strings in major units; `trans_currency` for cross-border trades, else CNY).

Alipay retries (2m, 10m, 10m, 1h, 2h, 6h, 15h) until the response body is `success`;
notifications carry no timestamp to bound replays with (`notify_time` differs between
tries), so redeliveries are told apart by `notify_id`, the event id here.

Statuses: TRADE_SUCCESS (paid; TRADE_FINISHED, the same payment no longer refundable, reads
the same), TRADE_CLOSED with `refund_fee` (fully refunded), TRADE_CLOSED without (closed
unpaid). Alipay's QR code payments notify only payment; a declined or abandoned scan is
found by asking (alipay.trade.query).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl

from services.payment.connectors.common import verify_sha256_rsa
from services.payment.domain.amounts import InvalidAmountText, from_major
from services.payment.domain.errors import InvalidSignature, InvalidWebhookPayload
from services.payment.domain.gateway import GatewayEvent, GatewayEventKind

NAME = "alipay"
SIGN_TYPE = "RSA2"
UNSIGNED = frozenset({"sign", "sign_type"})
BEIJING = timezone(timedelta(hours=8))
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
CLOSED_UNPAID = "trade_closed"


class AlipayTrust:
    def __init__(self, app_id: str, public_key: object) -> None:
        self.app_id = app_id
        self.public_key = public_key


def signing_string(params: dict[str, str]) -> str:
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k not in UNSIGNED and v != "")


def parse_form(raw_body: bytes) -> dict[str, str]:
    try:
        pairs = parse_qsl(raw_body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidSignature(f"not a form-encoded notification: {exc}") from exc
    params = dict(pairs)
    if len(params) != len(pairs):
        raise InvalidSignature("a parameter appears twice")
    return params


def beijing_time(text: str) -> datetime:
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=BEIJING)


class AlipayConnector:
    name = NAME

    def __init__(self, trust: AlipayTrust) -> None:
        self.trust = trust

    def read(self, headers: Mapping[str, str], raw_body: bytes, now: datetime) -> GatewayEvent:
        params = parse_form(raw_body)
        self.verify(params)
        return parse_notification(params)

    def verify(self, params: dict[str, str]) -> None:
        if params.get("sign_type") != SIGN_TYPE:
            raise InvalidSignature(f"unsupported sign_type {params.get('sign_type')!r}")
        if not params.get("sign"):
            raise InvalidSignature("no sign")
        verify_sha256_rsa(self.trust.public_key, params["sign"], signing_string(params).encode("utf-8"))
        if params.get("app_id") != self.trust.app_id:
            raise InvalidSignature("a notification for another app")


def parse_notification(params: dict[str, str]) -> GatewayEvent:
    try:
        status = params["trade_status"]
        currency = params.get("trans_currency") or "CNY"
        kinds = GatewayEventKind
        if status in ("TRADE_SUCCESS", "TRADE_FINISHED"):
            kind, amount, at, failure = kinds.PAYMENT_SUCCEEDED, params["total_amount"], "gmt_payment", None
        elif status == "TRADE_CLOSED" and params.get("refund_fee"):
            kind, amount, at, failure = kinds.REFUND_SUCCEEDED, params["refund_fee"], "gmt_refund", None
        elif status == "TRADE_CLOSED":
            kind, amount, at, failure = kinds.PAYMENT_FAILED, params["total_amount"], "gmt_close", CLOSED_UNPAID
        else:
            raise InvalidWebhookPayload(f"nothing to act on in trade_status {status!r}")
        return GatewayEvent(
            event_id=params["notify_id"],
            kind=kind,
            payment_id=params["out_trade_no"],
            gateway_ref=params["trade_no"],
            amount=from_major(amount, currency),
            occurred_at=beijing_time(params.get(at) or params["notify_time"]),
            failure_code=failure,
        )
    except InvalidWebhookPayload:
        raise
    except (KeyError, ValueError, InvalidAmountText) as exc:
        raise InvalidWebhookPayload(f"unreadable Alipay notification: {exc!r}") from exc
