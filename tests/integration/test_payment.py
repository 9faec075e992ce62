"""The payment service against real PostgreSQL and RabbitMQ, with its sandbox gateway's
webhooks travelling over real HTTP to the service's own endpoint."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from deploy.infra import free_port
from services.payment import app as payment_app
from services.payment.domain import signature
from services.payment.gateways import Gateways
from services.payment.models import Base, OutboxMessage, PaymentRow, WebhookEventRow
from services.payment.settings import PaymentSettings
from services.sandbox.models import Base as SandboxBase
from services.sandbox.models import SandboxDeliveryRow, SandboxSessionRow
from shared.config import Settings
from shared.messaging.envelope import Envelope
from shared.messaging.worker import declare_topology
from tests.helpers import SandboxServer, ServedApp, publish_raw, wait_for

AUTH = {"Authorization": "Bearer dev-operator-token"}
APPROVED, DECLINED, NO_FUNDS = "4242424242424242", "4000000000000002", "4000000000009995"
UNSUPPORTED = "5555555555554444"  # valid, but not one of the sandbox's test cards


class PaymentSystem:
    """The payment service as deployed: its web app on a real port and its worker, and the
    sandbox gateways beside it (their own app, worker and database), reached over HTTP.

    `webhook_url` sends the sandbox's webhooks elsewhere (e.g. nowhere, to lose them);
    `gateways` replaces the gateways (e.g. by one that misbehaves); `sandbox` changes the
    sandbox's settings (SANDBOX_FAULTS...)."""

    def __init__(self, pg_settings: Settings, options: PaymentSettings | None = None,
                 webhook_url: str | None = None,
                 gateways: Callable[[Settings], Gateways] | None = None, gateway_timeout: float = 2.0,
                 **sandbox: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.settings = pg_settings.with_changes(
            payment_public_url=self.url, sandbox_webhook_url=webhook_url or f"{self.url}/v1/webhooks/sandbox",
            ports={**pg_settings.ports, "sandbox": free_port()}, gateway_timeout_seconds=gateway_timeout)
        self.sandbox = SandboxServer(self.settings.with_changes(**sandbox))
        self.sandbox_url = self.sandbox.url
        self.options = options or PaymentSettings()
        self.ctx = payment_app.start(self.settings)
        self.gateways = (gateways or Gateways.from_settings)(self.settings)
        declare_topology(self.settings)
        self.worker = payment_app.create_worker(ctx=self.ctx, options=self.options, gateways=self.gateways)
        self.worker.start()
        self.served: ServedApp | None = None

    def serve(self) -> None:
        app = payment_app.create_app(ctx=self.ctx, gateways=self.gateways)
        self.served = ServedApp(app, port=self.port)

    def close(self) -> None:
        self.worker.stop_event.set()  # its threads wind down while the server shuts down
        if self.served:
            self.served.stop()
        self.worker.stop()
        self.ctx.engine.dispose()
        self.sandbox.close()

    # -- driving it --------------------------------------------------------------------
    def publish(self, message_type: str, payload: dict[str, Any]) -> Envelope:
        msg = Envelope.new(message_type, payload, correlation_id=payload["order_id"])
        self.publish_again(msg)
        return msg

    def publish_again(self, msg: Envelope) -> None:
        publish_raw(self.settings.amqp_url, self.settings.amqp_namespace, msg)

    def create(self, order_id: str = "ord_1", method: str = "card", amount: int = 1250,
               language: str = "en") -> Envelope:
        return self.publish("payment.create", {"order_id": order_id, "customer_id": "cus_1", "amount": amount,
                                               "currency": "EUR", "method": method, "description": "Top-up",
                                               "language": language})

    def checkout_url(self, order_id: str = "ord_1", method: str = "card", language: str = "en") -> str:
        self.create(order_id, method, language=language)
        created = wait_for(lambda: [m for m in self.sent("payment.created") if m.payload["order_id"] == order_id],
                           what=f"payment.created for {order_id}")
        return str(created[0].payload["redirect_url"])

    def sent(self, message_type: str) -> list[Envelope]:
        with self.ctx.sessions() as s:
            rows = s.scalars(select(OutboxMessage).where(OutboxMessage.type == message_type)
                             .order_by(OutboxMessage.id))
            return [Envelope.from_json(r.body) for r in rows]

    def sent_at_least(self, message_type: str, n: int) -> list[Envelope] | None:
        messages = self.sent(message_type)
        return messages if len(messages) >= n else None

    def pay(self, number: str = APPROVED, order_id: str = "ord_1") -> PaymentRow:
        """Open a checkout for the order and pay it with this card (as a browser would)."""
        response = requests.post(self.checkout_url(order_id), json=card(number), timeout=5)
        assert response.status_code == 200, response.text
        return self.payment(order_id)

    def payment(self, order_id: str = "ord_1") -> PaymentRow:
        with self.ctx.sessions() as s:
            row = s.scalars(select(PaymentRow).where(PaymentRow.order_id == order_id)).one()
            return row

    def count(self, model: type[Base]) -> int:
        with self.ctx.sessions() as s:
            return int(s.scalar(select(func.count()).select_from(model)) or 0)

    def checkouts(self) -> list[SandboxSessionRow]:
        """The sandbox's checkouts (its own books)."""
        with self.sandbox.sessions() as s:
            return list(s.scalars(select(SandboxSessionRow).order_by(SandboxSessionRow.created_at)))

    def deliveries(self) -> list[SandboxDeliveryRow]:
        with self.sandbox.sessions() as s:
            return list(s.scalars(select(SandboxDeliveryRow).order_by(SandboxDeliveryRow.created_at)))


@pytest.fixture
def system(pg_settings: Settings) -> Iterator[PaymentSystem]:
    running = PaymentSystem(pg_settings)
    running.serve()
    yield running
    running.close()


@pytest.fixture
def system_offline(pg_settings: Settings) -> Iterator[PaymentSystem]:
    """Worker running, web app (and so the webhook endpoint) not yet listening."""
    running = PaymentSystem(pg_settings)
    yield running
    running.close()


@pytest.fixture
def no_gateways(pg_settings: Settings) -> Iterator[PaymentSystem]:
    """A deployment where no gateway is configured (the sandbox off, no real connector)."""
    running = PaymentSystem(pg_settings, gateways=lambda settings: Gateways())
    yield running
    running.close()


def card(number: str = APPROVED, **changes: str) -> dict[str, str]:
    return {"card_number": number, "exp_month": "12", "exp_year": "2035", "cvc": "987", **changes}


def signed(settings: Settings, body: bytes, timestamp: int | None = None, secret: str | None = None) -> dict[str, str]:
    t = int(time.time()) if timestamp is None else timestamp
    return {"Content-Type": "application/json",
            "Sandbox-Signature": signature.sign(secret or settings.webhook_secret, t, body)}


def succeeded_event(row: PaymentRow, event_id: str = "evt_forged") -> bytes:
    return json.dumps({"id": event_id, "type": "payment.succeeded", "created": int(time.time()),
                       "data": {"session_id": row.gateway_ref, "payment_reference": row.id, "amount": row.amount_minor,
                                "currency": row.currency, "card": {"brand": "visa", "last4": "4242"},
                                "failure_code": None}}).encode()


# -- creating a payment ----------------------------------------------------------------
def test_payment_create_answers_with_a_checkout_page_and_operators_see_it(system: PaymentSystem) -> None:
    url = system.checkout_url()
    created = system.sent("payment.created")[0]
    assert url.startswith(f"{system.sandbox_url}/sandbox/checkout/cs_")
    assert created.correlation_id == "ord_1"
    assert created.payload["payment_id"] == system.payment().id
    page = requests.get(url, timeout=5)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "€12.50" in page.text
    for field in ("card_number", "exp_month", "exp_year", "cvc"):
        assert f'name="{field}"' in page.text
    api = requests.get(f"{system.url}/v1/payments", params={"order_id": "ord_1"}, headers=AUTH, timeout=5).json()
    assert (api["status"], api["amount"], api["currency"], api["method"]) == ("created", 1250, "EUR", "card")
    assert requests.get(f"{system.url}/v1/payments/{api['payment_id']}", headers=AUTH, timeout=5).json() == api
    # operators only, and what is missing is named
    response = requests.get(f"{system.url}/v1/payments/{api['payment_id']}", timeout=5)
    assert response.status_code == 401 and response.headers["Content-Type"] == "application/problem+json"
    missing = requests.get(f"{system.url}/v1/payments/pay_x", headers=AUTH, timeout=5)
    assert missing.status_code == 404 and missing.json()["code"] == "payment_not_found"
    by_order = requests.get(f"{system.url}/v1/payments", params={"order_id": "nope"}, headers=AUTH, timeout=5)
    assert by_order.status_code == 404
    assert requests.get(f"{system.url}/v1/payments", headers=AUTH, timeout=5).status_code == 422
    assert requests.get(f"{system.sandbox_url}/sandbox/checkout/cs_nope", timeout=5).status_code == 404
    assert requests.post(f"{system.sandbox_url}/sandbox/checkout/cs_nope", json=card(), timeout=5).status_code == 404


def test_the_card_page_speaks_the_customers_language_from_form_to_result(system: PaymentSystem) -> None:
    url = system.checkout_url(language="zh-CN")
    page = requests.get(url, timeout=5)
    assert page.headers["Content-Language"] == "zh-CN" and '<html lang="zh-CN">' in page.text
    assert "银行卡支付" in page.text and "支付 €12.50" in page.text and "Pay by card" not in page.text
    wrong = requests.post(url, data=card(cvc="1", exp_month="13"), timeout=5)
    assert wrong.status_code == 422
    assert "安全码（CVC）为 3 位或 4 位数字。" in wrong.text and "请输入 1 至 12 之间的有效期月份。" in wrong.text
    declined = requests.post(url, data=card(DECLINED), timeout=5)  # back to the form, by way of our return
    assert declined.url == url and "您的银行卡被发卡行拒绝。" in declined.text
    assert "请重试：第 2 次，共 3 次机会。" in declined.text
    paid = requests.post(url, data=card(), timeout=5)
    assert paid.headers["Content-Language"] == "zh-CN" and "已收到付款" in paid.text and "€12.50" in paid.text
    again = requests.post(url, json=card(), headers={"Accept-Language": "zh-CN"}, timeout=5)
    assert again.status_code == 409 and again.json()["code"] == "checkout_completed"
    assert again.json()["title"] == "此笔支付已完成。"


def test_payment_create_delivered_twice_makes_one_payment(system: PaymentSystem) -> None:
    first = system.create()
    system.publish_again(first)  # broker redelivery: same message id
    system.create()  # the order service asking again: new message id, same order
    answers = wait_for(lambda: system.sent_at_least("payment.created", 2), what="two answers")
    time.sleep(0.3)  # let the redelivery land too, if it were to do anything
    assert system.count(PaymentRow) == 1
    assert len(system.checkouts()) == 1
    assert len(system.sent("payment.created")) == 2
    assert {(a.payload["payment_id"], a.payload["redirect_url"]) for a in answers} == {
        (answers[0].payload["payment_id"], answers[0].payload["redirect_url"])}


def test_a_method_without_a_gateway_fails_at_once(no_gateways: PaymentSystem) -> None:
    system = no_gateways
    system.create(method="paypal")
    failed = wait_for(lambda: system.sent("payment.failed"), what="payment.failed")
    assert failed[0].payload["reason"] == "method_unavailable"
    assert failed[0].payload["payment_id"] == system.payment().id
    assert system.payment().status == "failed"
    assert system.sent("payment.created") == []


# -- paying at the sandbox -------------------------------------------------------------
def test_approved_card_is_captured_through_a_real_webhook(system: PaymentSystem) -> None:
    url = system.checkout_url()
    page = requests.post(url, data=card(), timeout=5)  # a browser's form post, then our return endpoint
    assert page.url == f"{system.url}/v1/payments/{system.payment().id}/return"
    assert page.status_code == 200 and "Payment received" in page.text
    assert system.payment().status == "captured", "settled by asking when the customer came back"
    captured = wait_for(lambda: system.sent("payment.captured"), timeout=5, what="payment.captured")[0]
    assert captured.payload["card_brand"] == "visa"
    assert captured.payload["card_last4"] == "4242"
    assert (captured.payload["amount"], captured.payload["currency"]) == (1250, "EUR")
    row = system.payment()
    assert (row.status, row.card_brand, row.card_last4) == ("captured", "visa", "4242")
    [delivery] = wait_for(lambda: [d for d in system.deliveries() if d.delivered_at], what="delivery recorded")
    assert delivery.attempts == 1
    assert system.count(WebhookEventRow) == 2, "the answer to our question, and the webhook"
    assert len(system.sent("payment.captured")) == 1, "one capture, whichever came first"
    api = requests.get(f"{system.url}/v1/payments/{row.id}", headers=AUTH, timeout=5).json()
    assert (api["status"], api["card_last4"]) == ("captured", "4242")
    assert_no_card_number_stored(system, APPROVED)
    again = requests.post(url, data=card(), timeout=5)
    assert again.status_code == 409 and again.json()["code"] == "checkout_completed", "paid once"
    assert len(system.deliveries()) == 1


def test_the_customer_goes_back_to_the_shop_with_the_order_id(system: PaymentSystem) -> None:
    system.publish("payment.create", {"order_id": "ord_r", "customer_id": "cus_1", "amount": 1250, "currency": "EUR",
                                      "method": "card", "description": "Top-up", "language": "en",
                                      "return_url": "http://shop.test/done?from=pay&order_id=forged#top"})
    url = wait_for(lambda: system.sent("payment.created"), what="payment.created")[0].payload["redirect_url"]
    way_back = f"{system.url}/v1/payments/{system.payment('ord_r').id}/return"
    declined = requests.post(url, data=card(DECLINED), allow_redirects=False, timeout=5)
    assert (declined.status_code, declined.headers["Location"]) == (303, way_back)
    again = requests.get(way_back, allow_redirects=False, timeout=5)
    assert (again.status_code, again.headers["Location"]) == (303, url), "another card, on the same page"
    paid = requests.post(url, data=card(), allow_redirects=False, timeout=5)
    assert paid.headers["Location"] == way_back
    for _ in range(2):  # a reload changes nothing
        home = requests.get(way_back, allow_redirects=False, timeout=5)
        assert (home.status_code, home.headers["Location"]) == (303, "http://shop.test/done?from=pay&order_id=ord_r#top")
    assert system.payment("ord_r").status == "captured"
    assert len(wait_for(lambda: system.sent("payment.attempt_failed"), what="the declined try")) == 1
    wait_for(lambda: len([d for d in system.deliveries() if d.delivered_at]) == 2, what="both webhooks delivered")
    assert len(system.sent("payment.captured")) == 1 and len(system.sent("payment.attempt_failed")) == 1
    support = requests.get(f"{system.url}/v1/payments?order_id=ord_r", headers=AUTH, timeout=5).json()
    assert [(a["attempt"], a["reason"]) for a in support["attempts"]] == [(1, "card_declined")]
    assert (support["status"], support["attempts_allowed"]) == ("captured", 3)
    unknown = requests.get(f"{system.url}/v1/payments/pay_unknown/return", timeout=5)
    assert unknown.status_code == 404 and unknown.json()["code"] == "payment_not_found"


def assert_no_card_number_stored(system: PaymentSystem, number: str) -> None:
    """Neither our database nor the sandbox's keeps a card number, whole or masked."""
    for sessions, metadata in ((system.ctx.sessions, Base.metadata), (system.sandbox.sessions, SandboxBase.metadata)):
        with sessions() as s:
            for table in metadata.sorted_tables:
                for record in s.execute(select(table)).all():
                    text = " ".join(str(value) for value in record)
                    assert number not in text, f"card number stored in {table.name}"
                    assert number[:6] + "******" + number[-4:] not in text


def test_a_declined_card_may_be_tried_again_and_the_last_decline_fails_the_payment(system: PaymentSystem) -> None:
    cases = {"ord_d": (DECLINED, "card_declined"), "ord_f": (NO_FUNDS, "insufficient_funds"),
             "ord_u": (UNSUPPORTED, "card_not_supported")}
    for order_id, (number, _) in cases.items():
        url = system.checkout_url(order_id)
        for attempt in (1, 2, 3):
            response = requests.post(url, json=card(number), timeout=5)
            assert response.status_code == 200
            body = response.json()
            assert body["session_id"] == url.rsplit("/", 1)[1]
            assert (body["status"], body["attempts_failed"], body["attempts_allowed"]) == (
                "open" if attempt < 3 else "declined", attempt, 3)
            assert body["return_url"] == f"{system.url}/v1/payments/{system.payment(order_id).id}/return"
    failed = wait_for(lambda: system.sent_at_least("payment.failed", 3), timeout=5, what="payment.failed x3")
    tries = wait_for(lambda: system.sent_at_least("payment.attempt_failed", 6), timeout=5, what="six tries")
    assert sorted((t.payload["order_id"], t.payload["attempt"], t.payload["reason"], t.payload["attempts_allowed"])
                  for t in tries) == sorted((o, n, r, 3) for o, (_, r) in cases.items() for n in (1, 2))
    assert {f.payload["order_id"]: f.payload["reason"] for f in failed} == {o: r for o, (_, r) in cases.items()}
    for order_id, (_, reason) in cases.items():
        assert (system.payment(order_id).status, system.payment(order_id).failure_reason) == ("failed", reason)
    assert system.sent("payment.captured") == []


def test_invalid_card_input_is_refused_and_changes_nothing(system: PaymentSystem) -> None:
    url = system.checkout_url()
    bad = card("4242424242424241", exp_month="13", cvc="1")
    problem = requests.post(url, json=bad, timeout=5)
    assert problem.status_code == 422
    assert problem.headers["Content-Type"] == "application/problem+json"
    assert problem.json()["code"] == "invalid_card_details"
    assert set(problem.json()["errors"]) == {"card_number", "exp_month", "cvc"}
    expired = requests.post(url, data=card(exp_year="2020"), headers={"Accept": "application/json"}, timeout=5)
    assert expired.status_code == 422 and set(expired.json()["errors"]) == {"exp_year"}
    form = requests.post(url, data=bad, timeout=5)
    assert form.status_code == 422 and form.headers["Content-Type"].startswith("text/html")
    assert "not valid" in form.text and 'name="card_number"' in form.text
    assert "4242424242424241" not in form.text, "the number is never echoed back"
    assert [checkout.status for checkout in system.checkouts()] == ["open"]
    assert system.deliveries() == []
    assert system.payment().status == "created"
    assert requests.post(url, json=card(), timeout=5).status_code == 200, "the checkout is still payable"


# -- the webhook endpoint --------------------------------------------------------------
def test_forged_or_stale_webhooks_are_refused_and_change_nothing(system: PaymentSystem) -> None:
    system.checkout_url()
    row = system.payment()
    body = succeeded_event(row)
    endpoint = f"{system.url}/v1/webhooks/sandbox"
    # A minute past the 300 s window both ways: the requests below take seconds on a busy
    # machine, and the window's exact edge is the unit tests' business.
    now = int(time.time())
    attempts = {
        "no signature": {"Content-Type": "application/json"},
        "malformed": {"Content-Type": "application/json", "Sandbox-Signature": "t=soon,v1=abc"},
        "wrong secret": signed(system.settings, body, secret="guessed-secret"),
        "stale": signed(system.settings, body, timestamp=now - 360),
        "future": signed(system.settings, body, timestamp=now + 360),
    }
    for name, headers in attempts.items():
        response = requests.post(endpoint, data=body, headers=headers, timeout=5)
        assert response.status_code == 400, name
        assert response.json()["code"] == "invalid_signature", name
    tampered = body.replace(b'"amount": 1250', b'"amount": 1')
    assert tampered != body
    response = requests.post(endpoint, data=tampered, headers=signed(system.settings, body), timeout=5)
    assert response.status_code == 400 and response.json()["code"] == "invalid_signature"
    assert system.payment().status == "created"
    assert system.count(WebhookEventRow) == 0
    assert system.sent("payment.captured") == []
    # the control: the same body, properly signed, is accepted
    ok = requests.post(endpoint, data=body, headers=signed(system.settings, body), timeout=5)
    assert ok.status_code == 200 and ok.json() == {"received": True}
    assert system.payment().status == "captured"


def test_a_redelivered_webhook_is_acknowledged_once(system: PaymentSystem) -> None:
    url = system.checkout_url()
    requests.post(url, json=card(), timeout=5)
    wait_for(lambda: system.sent("payment.captured"), timeout=5, what="payment.captured")
    [delivery] = wait_for(lambda: [d for d in system.deliveries() if d.delivered_at], what="delivered")
    body = delivery.body.encode()
    response = requests.post(delivery.url, data=body, headers=signed(system.settings, body), timeout=5)
    assert response.status_code == 200
    assert response.json() == {"received": True, "duplicate": True}
    assert len(system.sent("payment.captured")) == 1
    assert system.count(WebhookEventRow) == 1


def test_webhooks_are_retried_until_the_endpoint_answers(system_offline: PaymentSystem) -> None:
    system = system_offline
    system.create()
    url = wait_for(lambda: system.sent("payment.created"))[0].payload["redirect_url"]
    assert requests.post(url, json=card(), timeout=5).status_code == 200  # at the sandbox, which is up
    failing = wait_for(lambda: [d for d in system.deliveries() if d.attempts >= 2], timeout=5, what="retries")
    assert failing[0].last_error and "Connection" in failing[0].last_error
    assert failing[0].delivered_at is None
    assert system.sent("payment.captured") == []
    system.serve()  # the endpoint comes back
    wait_for(lambda: system.sent("payment.captured"), timeout=8, what="payment.captured after retries")
    # the capture commits inside the webhook call; the sender records the delivery after it
    [delivery] = wait_for(lambda: [d for d in system.deliveries() if d.delivered_at], what="delivery recorded")
    assert delivery.attempts >= 3
    assert delivery.next_attempt_at is None


# -- refunds and cancels ---------------------------------------------------------------
def test_a_captured_payment_is_refunded(system: PaymentSystem) -> None:
    url = system.checkout_url()
    requests.post(url, json=card(), timeout=5)
    wait_for(lambda: system.sent("payment.captured"), timeout=5)
    row = system.payment()
    system.publish("payment.refund", {"order_id": "ord_1", "payment_id": row.id, "reason": "credit_failed"})
    refunded = wait_for(lambda: system.sent("payment.refunded"), what="payment.refunded")[0]
    assert (refunded.payload["payment_id"], refunded.payload["amount"], refunded.payload["currency"]) == (
        row.id, 1250, "EUR")
    assert system.payment().status == "refunded"
    [checkout] = system.checkouts()
    assert checkout.refunded is True and checkout.refund_reference == "rf_" + row.id.removeprefix("pay_")
    # the sandbox's own refund notice arrives too, and changes nothing
    wait_for(lambda: len([d for d in system.deliveries() if d.delivered_at]) == 2, what="refund notice")
    assert system.count(WebhookEventRow) == 2
    assert len(system.sent("payment.refunded")) == 1
    # asked again: answered again, refunded once
    system.publish("payment.refund", {"order_id": "ord_1", "payment_id": row.id, "reason": "credit_failed"})
    wait_for(lambda: len(system.sent("payment.refunded")) == 2)
    assert len(system.deliveries()) == 2


def test_an_unpaid_payment_is_not_refunded_but_can_be_cancelled(system: PaymentSystem) -> None:
    url = system.checkout_url()
    row = system.payment()
    system.publish("payment.refund", {"order_id": "ord_1", "payment_id": row.id, "reason": "credit_failed"})
    system.publish("payment.cancel", {"order_id": "ord_1", "reason": "payment_timeout"})
    wait_for(lambda: system.payment().status == "cancelled", what="cancelled")
    assert system.sent("payment.refunded") == [], "nothing was captured, so nothing is given back"
    assert system.payment().failure_reason == "payment_timeout"
    response = requests.post(url, json=card(), timeout=5)
    assert response.status_code == 409 and response.json()["code"] == "checkout_cancelled"
    assert system.deliveries() == []
