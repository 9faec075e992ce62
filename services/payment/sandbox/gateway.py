"""Our adapters to the sandbox gateways: the `Gateway` the handlers talk to, for the card
processor and for PayPal, Alipay and WeChat Pay.

Each is two halves. The transport: in development the simulated gateways share our
database, so opening, refunding and cancelling a checkout happen inside the caller's
transaction, and asking about a payment goes over HTTP to the sandbox's API; a real
connector calls its provider's API here instead. The notifications: read by the
provider's connector (connectors/*), exactly as a real connector reads them, with what we
trust about the provider (keys, certificates, ids) taken from the sandbox itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from services.payment.connectors import alipay, paypal, wechat
from services.payment.connectors.alipay import AlipayConnector, AlipayTrust
from services.payment.connectors.card import CardConnector
from services.payment.connectors.common import Connector
from services.payment.connectors.paypal import PayPalConnector, PayPalTrust
from services.payment.connectors.wechat import WechatConnector, WechatTrust
from services.payment.domain.errors import GatewayRefused
from services.payment.domain.gateway import GatewayEvent
from services.payment.domain.payment import Payment
from services.payment.sandbox import bank
from services.payment.sandbox.alipay import AlipayNotifier
from services.payment.sandbox.client import SandboxApi
from services.payment.sandbox.keys import SandboxKeys
from services.payment.sandbox.models import SandboxSessionRow
from services.payment.sandbox.notifiers import CARD, METHOD_PROVIDERS, CardNotifier, Notifiers, webhook_url
from services.payment.sandbox.paypal import PayPalNotifier
from services.payment.sandbox.wechat import WechatNotifier
from services.payment.settings import PaymentSettings
from shared.clock import utcnow
from shared.config import Settings

PAGES = {  # where each provider's customer pays, under PAYMENT_PUBLIC_URL
    "card": "/sandbox/checkout/{id}",
    "paypal": "/sandbox/paypal/checkoutnow?token={id}",
    "alipay": "/sandbox/alipay/qr/{id}",
    "wechat_pay": "/sandbox/wechat_pay/qr/{id}",
}


@dataclass(frozen=True)
class Sandbox:
    """Everything the sandbox gateways are, for one deployment: its settings and keys, how
    each provider notifies, and what we trust about each."""

    settings: Settings
    keys: SandboxKeys
    base_url: str
    notifiers: Notifiers
    api: SandboxApi

    @classmethod
    def start(cls, settings: Settings, options: PaymentSettings, keys: SandboxKeys) -> Sandbox:
        base_url = options.sandbox_base_url(settings)
        cert_url = paypal_cert_url(base_url, keys)
        notifiers = Notifiers({
            CARD: CardNotifier(settings),
            paypal.NAME: PayPalNotifier(keys, cert_url, webhook_url(settings, paypal.NAME)),
            alipay.NAME: AlipayNotifier(keys, webhook_url(settings, alipay.NAME)),
            wechat.NAME: WechatNotifier(keys, webhook_url(settings, wechat.NAME)),
        })
        return cls(settings, keys, base_url, notifiers, SandboxApi(base_url, settings.webhook_secret))

    def page_url(self, method: str, session_id: str) -> str:
        return self.settings.payment_public_url.rstrip("/") + PAGES[method].format(id=session_id)

    def connectors(self) -> dict[str, Connector]:
        tolerance, keys = self.settings.webhook_tolerance_seconds, self.keys
        return {
            CARD: CardConnector(self.settings.webhook_secret, tolerance),
            paypal.NAME: PayPalConnector(PayPalTrust(keys.paypal_webhook_id, paypal_cert_url(self.base_url, keys),
                                                     keys.paypal_cert, tolerance)),
            alipay.NAME: AlipayConnector(AlipayTrust(keys.alipay_app_id, keys.alipay_key.public_key())),
            wechat.NAME: WechatConnector(WechatTrust(keys.wechat_mchid, keys.wechat_api_v3_key,
                                                     {keys.wechat_serial: keys.wechat_cert}, tolerance)),
        }


def paypal_cert_url(base_url: str, keys: SandboxKeys) -> str:
    return f"{base_url}/sandbox/paypal/v1/notifications/certs/{keys.paypal_cert_id}"


class SandboxGateway:
    def __init__(self, session: Session, connector: Connector, sandbox: Sandbox) -> None:
        self.session = session
        self.connector = connector
        self.sandbox = sandbox
        self.name = connector.name

    def create_session(self, payment: Payment, return_url: str) -> tuple[str, str]:
        if METHOD_PROVIDERS.get(payment.method) != self.name:
            raise GatewayRefused(f"the sandbox {self.name} does not take {payment.method}", "method_unavailable")
        row = bank.open_session(self.session, payment.payment_id, payment.amount, payment.method, utcnow(),
                                payment.language, attempts_allowed=payment.attempts_allowed, return_url=return_url)
        return row.id, self.sandbox.page_url(payment.method, row.id)

    def _checkout(self, payment: Payment) -> SandboxSessionRow:
        row = bank.get_session(self.session, payment.gateway_ref or "", lock=True)
        if row is None:
            raise GatewayRefused(f"no sandbox session for payment {payment.payment_id}", "no_such_payment")
        return row

    def refund(self, payment: Payment) -> None:
        bank.refund(self.session, self._checkout(payment), self.sandbox.notifiers.named(self.name), utcnow())

    def cancel(self, payment: Payment) -> bool:
        return bank.cancel(self._checkout(payment))

    def query(self, payment: Payment) -> GatewayEvent | None:
        return self.sandbox.api.query(payment)

    def verify(self, headers: Mapping[str, str], raw_body: bytes, now: datetime) -> GatewayEvent:
        return self.connector.read(headers, raw_body, now)
