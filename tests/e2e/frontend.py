"""What a frontend (and the customer in a browser) does, over real HTTP."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import requests

from deploy.local import LocalSystem
from tests.helpers import wait_for

APPROVED = "4242424242424242"
DECLINED = "4000000000000002"


class Frontend:
    def __init__(self, system: LocalSystem) -> None:
        self.system = system
        self.order_url = system.url("order")
        self.http = requests.Session()

    # -- the customer's journey ----------------------------------------------------------
    def register(self, country: str = "DE", **extra: Any) -> dict[str, Any]:
        email = f"traveller-{uuid.uuid4().hex[:8]}@example.com"
        created = self.http.post(f"{self.order_url}/v1/auth/register",
                                 json={"email": email, "password": "correct horse", "country": country, **extra})
        assert created.status_code == 201, created.text
        token = self.http.post(f"{self.order_url}/v1/auth/login",
                               json={"email": email, "password": "correct horse"}).json()["access_token"]
        return {**created.json(), "headers": {"Authorization": f"Bearer {token}"}}

    def get(self, who: dict[str, Any], path: str) -> requests.Response:
        return self.http.get(f"{self.order_url}{path}", headers=who["headers"])

    def quote(self, who: dict[str, Any], amount: int, method: str = "card") -> requests.Response:
        return self.http.post(f"{self.order_url}/v1/quotes", headers=who["headers"],
                              json={"amount": amount, "currency": who["currency"], "method": method})

    def place(self, who: dict[str, Any], quote_id: str, key: str | None = None) -> requests.Response:
        headers = {**who["headers"], "Idempotency-Key": key or uuid.uuid4().hex}
        return self.http.post(f"{self.order_url}/v1/orders", headers=headers, json={"quote_id": quote_id})

    def order(self, who: dict[str, Any], order_id: str) -> dict[str, Any]:
        return self.get(who, f"/v1/orders/{order_id}").json()  # type: ignore[no-any-return]

    def wait_status(self, who: dict[str, Any], order_id: str, *statuses: str, timeout: float = 15) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            order = self.order(who, order_id)
            return order if order["status"] in statuses else None

        return wait_for(check, timeout, what=f"order {order_id} to be {statuses}")

    def top_up(self, who: dict[str, Any], amount: int = 2000, method: str = "card") -> dict[str, Any]:
        """Quote and order; returns the order once it waits for payment."""
        quote = self.quote(who, amount, method)
        assert quote.status_code == 201, quote.text
        placed = self.place(who, quote.json()["quote_id"])
        assert placed.status_code == 201, placed.text
        return self.wait_status(who, placed.json()["order_id"], "awaiting_payment")

    def pay(self, order: dict[str, Any], card: str = APPROVED, come_back: bool = True) -> requests.Response:
        """Pay on the card page as a browser does; `come_back=False`: the customer closes the
        browser after paying, and never reaches the return endpoint it is sent to."""
        url = order["next_action"]["url"]
        return self.http.post(url, data={"card_number": card, "exp_month": "12", "exp_year": "2031", "cvc": "123"},
                              allow_redirects=come_back)

    def pay_declined(self, order: dict[str, Any]) -> None:
        """A card declined on every try the page takes: the order then fails."""
        for _try in range(self.system.settings.payment_attempts):
            self.pay(order, DECLINED)

    # -- the eSIM platform, operators and gateways ----------------------------------------
    def debit(self, who: dict[str, Any], amount: int, key: str | None = None,
              description: str = "Japan 7 days, 5 GB") -> requests.Response:
        """The eSIM platform charges a plan to the customer's balance."""
        return self.http.post(f"{self.system.url('wallet')}/v1/accounts/{who['customer_id']}/debits",
                              headers={"Authorization": f"Bearer {self.system.settings.platform_token}",
                                       "Idempotency-Key": key or uuid.uuid4().hex},
                              json={"amount": amount, "currency": who["currency"], "reference": "plan-jp-7d",
                                    "description": description})

    def operator(self, service: str, method: str, path: str, token: str | None = None,
                 headers_extra: dict[str, str] | None = None, **kwargs: Any) -> requests.Response:
        """An operator's call: OPERATOR_TOKEN's, or a named operator's `token`."""
        token = token or self.system.settings.operator_token
        return self.http.request(method, f"{self.system.url(service)}{path}",
                                 headers={"Authorization": f"Bearer {token}", **(headers_extra or {})}, **kwargs)

    def freeze(self, who: dict[str, Any], reason: str, token: str | None = None) -> requests.Response:
        """An operator freezes the customer's wallet account, once the wallet has opened it: it
        opens the account when it hears of the registration, which may come after a quick
        top-up (a freeze before then is an honest 404)."""
        account = f"/v1/accounts/{who['customer_id']}"
        wait_for(lambda: self.operator("wallet", "GET", account).ok, what="the wallet account")
        return self.operator("wallet", "POST", f"{account}/freeze", json={"reason": reason}, token=token)

    def signed_webhook(self, body: dict[str, Any], secret: str | None = None, age: int = 0) -> requests.Response:
        raw = json.dumps(body).encode()
        t = int(time.time()) - age
        mac = hmac.new((secret or self.system.settings.webhook_secret).encode(), f"{t}.".encode() + raw,
                       hashlib.sha256).hexdigest()
        return self.http.post(f"{self.system.url('payment')}/v1/webhooks/sandbox", data=raw,
                              headers={"Content-Type": "application/json", "Sandbox-Signature": f"t={t},v1={mac}"})

    def mail_for(self, order_id: str) -> list[Any]:
        sink = self.system.mail_sink
        return [m for m in sink.messages() if order_id in m.get("Subject", "") + m.get_body(("plain",)).get_content()]

LOST_NOTIFICATION = "4000000000000077"  # approved, webhook never sent
REFUND_REFUSED = "4000000000005126"  # approved, every refund refused


def decide(frontend: Frontend, order: dict[str, Any], decision: str) -> requests.Response:
    """The customer approves, declines or cancels on a PayPal / Alipay / WeChat Pay page."""
    return frontend.http.post(order["next_action"]["url"], data={"decision": decision})
