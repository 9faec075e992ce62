"""The sandbox Alipay's side of its asynchronous notifications (QR code payments): form
parameters signed RSA2 with the sandbox's Alipay key, posted until the answer is exactly
`success`. Notified: a payment (TRADE_SUCCESS) and a full refund (TRADE_CLOSED with
`refund_fee`); a declined or abandoned scan is not notified, as with Alipay's QR payments.
See connectors/alipay.py for how we verify them."""

from __future__ import annotations

import hashlib
import string
import uuid
from datetime import datetime
from urllib.parse import urlencode

from services.payment.connectors import alipay
from services.payment.connectors.common import sign_sha256_rsa
from services.payment.domain.amounts import to_major
from services.payment.domain.gateway import GatewayEventKind
from services.sandbox.keys import SandboxKeys, random_text
from services.sandbox.models import SandboxSessionRow
from services.sandbox.notifiers import Notice
from shared.money import Money


def new_trade_no(now: datetime) -> str:
    """Alipay's trade numbers: the date, then digits (28 in all)."""
    return now.astimezone(alipay.BEIJING).strftime("%Y%m%d") + "22001" + random_text(string.digits, 15)


def beijing(moment: datetime) -> str:
    return moment.astimezone(alipay.BEIJING).strftime(alipay.TIME_FORMAT)


def user_id(seed: str) -> str:
    """A stable 16-digit Alipay user id (2088...) for a sandbox buyer or seller."""
    return "2088" + str(int(hashlib.sha256(seed.encode()).hexdigest(), 16))[:12]


class AlipayNotifier:
    provider = alipay.NAME

    def __init__(self, keys: SandboxKeys, url: str) -> None:
        self.keys, self.url = keys, url

    def notice(self, kind: GatewayEventKind, row: SandboxSessionRow, now: datetime) -> Notice | None:
        if kind in (GatewayEventKind.PAYMENT_FAILED, GatewayEventKind.PAYMENT_ATTEMPT_FAILED):
            return None
        total = to_major(Money(row.amount, row.currency))
        notify_id = uuid.uuid4().hex
        params = {
            "notify_time": beijing(now), "notify_type": "trade_status_sync", "notify_id": notify_id,
            "app_id": self.keys.alipay_app_id, "charset": "utf-8", "version": "1.0", "sign_type": alipay.SIGN_TYPE,
            "trade_no": row.id, "out_trade_no": row.payment_reference, "buyer_id": user_id(row.id),
            "seller_id": user_id(self.keys.alipay_app_id), "subject": "Top-up", "total_amount": total,
            "trans_currency": row.currency, "gmt_create": beijing(row.created_at or now),
        }
        if kind is GatewayEventKind.PAYMENT_SUCCEEDED:
            params.update(trade_status="TRADE_SUCCESS", receipt_amount=total, buyer_pay_amount=total,
                          gmt_payment=beijing(now))
        else:
            params.update(trade_status="TRADE_CLOSED", refund_fee=total, gmt_refund=beijing(now),
                          gmt_close=beijing(now), out_biz_no=row.refund_reference or f"RF{row.payment_reference}"[:64])
        params["sign"] = sign_sha256_rsa(self.keys.alipay_key, alipay.signing_string(params).encode("utf-8"))
        return Notice(notify_id, urlencode(params))

    def headers(self, body: str, now: datetime) -> dict[str, str]:
        return {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}

    def accepted(self, status: int, text: str) -> bool:
        return status == 200 and text.strip() == "success"
