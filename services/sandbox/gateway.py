"""Everything the sandbox gateways are, for one deployment: its settings and keys, where its
pages are, how each provider notifies, and how it misbehaves on purpose (faults.py).

It is the provider's side of the wire: the payment service reaches it only over HTTP (its
API, api.py; its pages, through the customer's browser) and hears from it by webhooks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization

from services.sandbox.alipay import AlipayNotifier
from services.sandbox.faults import Faults
from services.sandbox.keys import SandboxKeys
from services.sandbox.notifiers import CARD, CardNotifier, Notifiers, webhook_url
from services.sandbox.paypal import PayPalNotifier
from services.sandbox.wechat import WechatNotifier
from shared.config import Settings

PAGES = {  # where each provider's customer pays, under SANDBOX_PUBLIC_URL
    "card": "/sandbox/checkout/{id}",
    "paypal": "/sandbox/paypal/checkoutnow?token={id}",
    "alipay": "/sandbox/alipay/qr/{id}",
    "wechat_pay": "/sandbox/wechat_pay/qr/{id}",
}


@dataclass(frozen=True)
class Sandbox:
    settings: Settings
    keys: SandboxKeys
    base_url: str
    notifiers: Notifiers
    faults: Faults

    @classmethod
    def start(cls, settings: Settings, keys: SandboxKeys) -> Sandbox:
        base_url = settings.sandbox_public
        notifiers = Notifiers({
            CARD: CardNotifier(settings),
            "paypal": PayPalNotifier(keys, paypal_cert_url(base_url, keys), webhook_url(settings, "paypal")),
            "alipay": AlipayNotifier(keys, webhook_url(settings, "alipay")),
            "wechat_pay": WechatNotifier(keys, webhook_url(settings, "wechat_pay")),
        })
        return cls(settings, keys, base_url, notifiers, Faults.parse(settings.sandbox_faults))

    def page_url(self, method: str, session_id: str) -> str:
        return self.base_url + PAGES[method].format(id=session_id)

    def merchant(self) -> dict[str, Any]:
        """What a merchant copies from each provider's dashboard to trust its notifications:
        ids, public keys, certificates (never a private key). The payment service reads it
        from the sandbox's API (`GET /sandbox/api/merchant`); a real connector is configured
        with the same values."""
        keys = self.keys

        def pem(value: Any) -> str:
            return value.public_bytes(serialization.Encoding.PEM).decode()

        alipay_public = keys.alipay_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        return {
            "paypal": {"webhook_id": keys.paypal_webhook_id, "cert_url": paypal_cert_url(self.base_url, keys),
                       "cert": pem(keys.paypal_cert)},
            "alipay": {"app_id": keys.alipay_app_id, "public_key": alipay_public},
            "wechat_pay": {"mchid": keys.wechat_mchid, "api_v3_key": keys.wechat_api_v3_key.decode(),
                           "serial": keys.wechat_serial, "cert": pem(keys.wechat_cert)},
        }


def paypal_cert_url(base_url: str, keys: SandboxKeys) -> str:
    return f"{base_url}/sandbox/paypal/v1/notifications/certs/{keys.paypal_cert_id}"
