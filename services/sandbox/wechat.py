"""The sandbox WeChat Pay's side of its API v3 notifications (Native, i.e. QR code,
payments): the resource encrypted AEAD_AES_256_GCM with the merchant's API v3 key, each
transmission signed SHA256withRSA with the platform key, posted until answered 200 or 204.
Notified: a successful payment (TRANSACTION.SUCCESS) and a refund (REFUND.SUCCESS); a
failed or abandoned one is not, as with WeChat Pay. See connectors/wechat.py for how we
verify and decrypt them."""

from __future__ import annotations

import base64
import hashlib
import json
import string
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.payment.connectors import wechat
from services.payment.connectors.common import sign_sha256_rsa
from services.payment.domain.gateway import GatewayEventKind
from services.sandbox.keys import ALNUM, SandboxKeys, random_text
from services.sandbox.models import SandboxSessionRow
from services.sandbox.notifiers import Notice

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
CHINA = timezone(timedelta(hours=8))


def new_transaction_id() -> str:
    """WeChat Pay's transaction ids: 28 digits starting 42000."""
    return "42000" + random_text(string.digits, 23)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(CHINA).isoformat(timespec="seconds")


def encrypt(plain: dict[str, Any], api_v3_key: bytes, associated_data: str) -> dict[str, str]:
    """A notification's `resource`: the JSON encrypted with a fresh 12-character nonce."""
    nonce = random_text(ALNUM, 12)
    data = json.dumps(plain, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    ciphertext = AESGCM(api_v3_key).encrypt(nonce.encode(), data, associated_data.encode())
    return {"original_type": associated_data, "algorithm": wechat.ALGORITHM,
            "ciphertext": base64.b64encode(ciphertext).decode(), "associated_data": associated_data, "nonce": nonce}


class WechatNotifier:
    provider = wechat.NAME

    def __init__(self, keys: SandboxKeys, url: str) -> None:
        self.keys, self.url = keys, url

    def transaction(self, row: SandboxSessionRow, now: datetime) -> dict[str, Any]:
        return {
            "mchid": self.keys.wechat_mchid, "appid": self.keys.wechat_appid, "out_trade_no": row.payment_reference,
            "transaction_id": row.id, "trade_type": "NATIVE", "trade_state": "SUCCESS", "trade_state_desc": "支付成功",
            "bank_type": "OTHERS", "attach": "", "success_time": rfc3339(now),
            "payer": {"openid": "o" + hashlib.sha256(row.id.encode()).hexdigest()[:27]},
            "amount": {"total": row.amount, "payer_total": row.amount, "currency": row.currency,
                       "payer_currency": row.currency},
        }

    def refund(self, row: SandboxSessionRow, now: datetime) -> dict[str, Any]:
        return {
            "mchid": self.keys.wechat_mchid, "out_trade_no": row.payment_reference, "transaction_id": row.id,
            "out_refund_no": row.refund_reference or f"RF{row.payment_reference}"[:64],
            "refund_id": "50" + random_text(string.digits, 27),
            "refund_status": "SUCCESS", "success_time": rfc3339(now), "user_received_account": "支付用户零钱",
            "amount": {"total": row.amount, "refund": row.amount, "payer_total": row.amount,
                       "payer_refund": row.amount, "currency": row.currency},
        }

    def notice(self, kind: GatewayEventKind, row: SandboxSessionRow, now: datetime) -> Notice | None:
        if kind is GatewayEventKind.PAYMENT_SUCCEEDED:
            event_type, summary, original, plain = wechat.TRANSACTION_SUCCESS, "支付成功", "transaction", \
                self.transaction(row, now)
        elif kind is GatewayEventKind.REFUND_SUCCEEDED:
            event_type, summary, original, plain = wechat.REFUND_SUCCESS, "退款成功", "refund", self.refund(row, now)
        else:
            return None
        event_id = str(uuid.uuid4())
        return Notice(event_id, json.dumps({
            "id": event_id, "create_time": rfc3339(now), "resource_type": "encrypt-resource",
            "event_type": event_type, "summary": summary,
            "resource": encrypt(plain, self.keys.wechat_api_v3_key, original),
        }, ensure_ascii=False, separators=(",", ":")))

    def headers(self, body: str, now: datetime) -> dict[str, str]:
        timestamp, nonce = str(int(now.timestamp())), random_text(ALNUM, 32)
        message = wechat.signed_message(timestamp, nonce, body.encode("utf-8"))
        return {
            "Content-Type": "application/json",
            "Wechatpay-Timestamp": timestamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": sign_sha256_rsa(self.keys.wechat_key, message),
            "Wechatpay-Serial": self.keys.wechat_serial,
            "Wechatpay-Signature-Type": SIGNATURE_TYPE,
        }

    def accepted(self, status: int, text: str) -> bool:
        return status in (200, 204)
