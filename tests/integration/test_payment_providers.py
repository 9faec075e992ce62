"""The sandbox PayPal, Alipay and WeChat Pay against the payment service, on real PostgreSQL
and RabbitMQ: the customer's page (served by the sandbox's own app), each provider's
notification over real HTTP verified the provider's way (with the trust the payment service
reads from the sandbox's merchant page), the answers each provider expects, refunds, and the
sandbox's keys (in the sandbox's own database)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlencode

import pytest
import requests
from cryptography import x509
from sqlalchemy import func, select

from deploy.infra import Databases
from services.payment.domain.gateway import GatewayEventKind, query_event_id
from services.payment.models import WebhookEventRow
from services.payment.settings import PaymentSettings
from services.sandbox import app as sandbox_app
from services.sandbox import bank
from services.sandbox.gateway import Sandbox, paypal_cert_url
from services.sandbox.keys import SandboxKeys
from services.sandbox.models import SandboxKeyRow, SandboxSessionRow
from shared.clock import utcnow
from shared.config import Settings
from shared.db import make_engine, migrate, session_factory
from tests.helpers import wait_for
from tests.integration.test_payment import PaymentSystem

FAST = PaymentSettings(refund_max_attempts=3, query_after_seconds=1.0, query_every_seconds=0.3)
WALLETS = ("paypal", "alipay", "wechat_pay")
NAMES = {"paypal": "PayPal", "alipay": "Alipay", "wechat_pay": "WeChat Pay"}
ENDINGS = {"approve": None, "decline": "payment_declined", "cancel": "cancelled_by_customer"}


@pytest.fixture
def system(pg_settings: Settings) -> Iterator[PaymentSystem]:
    running = PaymentSystem(pg_settings, FAST)
    running.serve()
    yield running
    running.close()


def sandbox_of(system: PaymentSystem) -> Sandbox:
    """The running sandbox as its own processes hold it (its keys read from its database)."""
    return sandbox_app.sandbox_of(system.sandbox.ctx)


def for_order(system: PaymentSystem, message_type: str, order_id: str) -> list[object]:
    return [m for m in system.sent(message_type) if m.payload["order_id"] == order_id]


def delivered(system: PaymentSystem) -> list[str]:
    return [d.provider for d in system.deliveries() if d.delivered_at]


# -- the customer's page, each ending, each provider's notification ------------------------
@pytest.mark.parametrize("method", WALLETS)
def test_approve_decline_and_cancel_on_the_providers_page(system: PaymentSystem, method: str) -> None:
    urls = {decision: system.checkout_url(f"ord_{decision}", method) for decision in ENDINGS}
    assert all(url.startswith(f"{system.sandbox_url}/sandbox/") for url in urls.values()), "the sandbox's pages"
    page = requests.get(urls["approve"], timeout=5)
    assert page.status_code == 200 and NAMES[method] in page.text and "€12.50" in page.text
    if method == "paypal":
        assert "/sandbox/paypal/checkoutnow?token=" in urls["approve"]
    else:
        assert f"/sandbox/{method}/qr/" in urls["approve"] and 'class="qr"' in page.text and "<svg" in page.text
    for decision, url in urls.items():
        for _try in range(3 if decision == "decline" else 1):  # a decline leaves the page open for two more
            answer = requests.post(url, data={"decision": decision}, timeout=5)  # a browser's form post
            assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/html")
            if decision == "decline" and _try < 2:
                assert answer.url == url and "The payment was declined." in answer.text, "back on the page"
        ended = system.payment(f"ord_{decision}")
        assert ended.status == ("captured" if decision == "approve" else "failed"), "settled as the customer returns"
        assert answer.url == f"{system.url}/v1/payments/{ended.id}/return"
    tries = wait_for(lambda: system.sent_at_least("payment.attempt_failed", 2), what="the two declined tries")
    assert [(t.payload["order_id"], t.payload["attempt"]) for t in tries] == [("ord_decline", 1), ("ord_decline", 2)]
    [captured] = wait_for(lambda: for_order(system, "payment.captured", "ord_approve"), timeout=6, what="captured")
    assert captured.payload["method"] == method and captured.payload["card_last4"] is None  # type: ignore[attr-defined]
    assert (captured.payload["amount"], captured.payload["currency"]) == (1250, "EUR")  # type: ignore[attr-defined]
    failed = wait_for(lambda: system.sent_at_least("payment.failed", 2), timeout=8, what="two failures")
    assert {f.payload["order_id"]: f.payload["reason"] for f in failed} == {
        "ord_decline": "payment_declined", "ord_cancel": "cancelled_by_customer"}
    for decision, reason in ENDINGS.items():
        row = system.payment(f"ord_{decision}")
        assert (row.status, row.failure_reason, row.gateway) == ("captured" if reason is None else "failed", reason,
                                                                 method)
    wait_for(lambda: len(delivered(system)) == len(system.deliveries()), what="notices delivered")
    with system.ctx.sessions() as s:
        event_ids = set(s.scalars(select(WebhookEventRow.event_id)))
    # Each ending was asked about as the customer came back (the tries too: no provider
    # notifies a declined try); PayPal notifies every ending as well, QR payments only the payment.
    assert sum(e.startswith("query:") for e in event_ids) == 5
    assert delivered(system) == (["paypal"] * 3 if method == "paypal" else [method])


@pytest.mark.parametrize("method", WALLETS)
def test_a_wallet_payment_is_refunded_and_the_providers_refund_notice_is_taken(system: PaymentSystem,
                                                                              method: str) -> None:
    url = system.checkout_url("ord_1", method)
    assert requests.post(url, json={"decision": "approve"}, timeout=5).json()["status"] == "approved"
    wait_for(lambda: system.sent("payment.captured"), timeout=6, what="payment.captured")
    row = system.payment()
    system.publish("payment.refund", {"order_id": "ord_1", "payment_id": row.id, "reason": "credit_failed"})
    [refunded] = wait_for(lambda: system.sent("payment.refunded"), what="payment.refunded")
    assert (refunded.payload["amount"], system.payment().status) == (1250, "refunded")
    [checkout] = system.checkouts()  # the provider's books: refunded once, under our refund's id
    assert checkout.refunded is True and checkout.refund_reference == "rf_" + row.id.removeprefix("pay_")
    # the provider's own refund notice arrives, verified, answered as it expects, and changes nothing
    wait_for(lambda: delivered(system) == [method, method], what="the refund notice taken")
    with system.ctx.sessions() as s:
        recorded = set(s.scalars(select(WebhookEventRow.event_id)))
    notices = {d.event_id for d in system.deliveries()}
    # the provider's two notices, each recorded once; beside them at most our own question about
    # the payment (FAST asks after 1 s: on a busy machine it may come before the notice)
    assert len(notices) == 2 and notices <= recorded
    assert recorded - notices <= {query_event_id(row.id, GatewayEventKind.PAYMENT_SUCCEEDED)}
    assert len(system.sent("payment.refunded")) == 1


# -- what each provider is answered --------------------------------------------------------
def approved_notice(system: PaymentSystem, method: str) -> tuple[str, dict[str, str]]:
    """A genuine notice of payment for an open checkout, signed now, not yet sent."""
    system.checkout_url("ord_1", method)
    sandbox = sandbox_of(system)
    with system.sandbox.sessions() as s:  # the sandbox's own books (nothing is committed here)
        row = s.scalars(select(SandboxSessionRow)).one()
        row.status = bank.SessionStatus.APPROVED.value
        notice = sandbox.notifiers.for_method(method).notice(GatewayEventKind.PAYMENT_SUCCEEDED, row, utcnow())
    assert notice is not None
    return notice.body, sandbox.notifiers.for_method(method).headers(notice.body, utcnow())


def tampered(method: str, body: str) -> str:
    if method == "alipay":
        return urlencode({**dict(parse_qsl(body)), "total_amount": "0.01"})
    event = json.loads(body)
    event["summary"] = event["summary"] + " "
    return json.dumps(event, ensure_ascii=False)


@pytest.mark.parametrize(("method", "accepted", "refused"), [
    ("paypal", (200, "application/json"), (400, "application/problem+json")),
    ("alipay", (200, "text/plain"), (400, "text/plain")),
    ("wechat_pay", (204, None), (401, "application/json")),
])
def test_each_provider_is_answered_as_it_expects(system: PaymentSystem, method: str, accepted: tuple[int, str | None],
                                                 refused: tuple[int, str]) -> None:
    body, headers = approved_notice(system, method)
    endpoint = f"{system.url}/v1/webhooks/{method}"
    forged = requests.post(endpoint, data=tampered(method, body).encode(), headers=headers, timeout=5)
    assert (forged.status_code, forged.headers["Content-Type"].split(";")[0]) == refused
    if method == "alipay":
        assert forged.text == "failure"
    if method == "wechat_pay":
        assert forged.json()["code"] == "FAIL" and forged.json()["message"]
    unsigned_body = urlencode({k: v for k, v in parse_qsl(body) if k != "sign"}) if method == "alipay" else body
    unsigned = requests.post(endpoint, data=unsigned_body.encode(), headers={"Content-Type": headers["Content-Type"]},
                             timeout=5)
    assert unsigned.status_code == refused[0]
    assert system.payment().status == "created" and system.count(WebhookEventRow) == 0
    for _ in range(2):  # the genuine notice, and its redelivery: the same answer, one capture
        ok = requests.post(endpoint, data=body.encode(), headers=headers, timeout=5)
        assert ok.status_code == accepted[0]
        if accepted[1]:
            assert ok.headers["Content-Type"].startswith(accepted[1])
        if method == "alipay":
            assert ok.text == "success"
        if method == "wechat_pay":
            assert ok.content == b""
    assert system.payment().status == "captured" and len(system.sent("payment.captured")) == 1


def test_a_notice_is_resent_until_the_provider_gets_its_answer(pg_settings: Settings) -> None:
    system = PaymentSystem(pg_settings, FAST)  # the webhook endpoint is not listening yet
    try:
        system.create("ord_1", "alipay")
        url = wait_for(lambda: system.sent("payment.created"))[0].payload["redirect_url"]
        assert url.startswith(f"{system.sandbox_url}/sandbox/alipay/qr/")  # at the sandbox, which is up
        assert requests.post(url, json={"decision": "approve"}, timeout=5).status_code == 200
        wait_for(lambda: [d for d in system.deliveries() if d.attempts >= 2], timeout=5, what="retries")
        system.serve()
        wait_for(lambda: system.sent("payment.captured"), timeout=8, what="payment.captured after retries")
        [notice] = wait_for(lambda: [d for d in system.deliveries() if d.delivered_at], what="delivered")
        assert notice.provider == "alipay" and notice.attempts >= 3
    finally:
        system.close()


# -- the pages' edges ------------------------------------------------------------------------
def test_the_wallet_pages_refuse_what_a_customer_cannot_do(system: PaymentSystem) -> None:
    url = system.checkout_url("ord_1", "alipay")
    session_id = url.rsplit("/", 1)[1]
    pages = system.sandbox_url
    assert requests.get(f"{pages}/sandbox/wechat_pay/qr/{session_id}", timeout=5).status_code == 404
    assert requests.get(f"{pages}/sandbox/paypal/checkoutnow?token={session_id}", timeout=5).status_code == 404
    assert requests.get(f"{pages}/sandbox/checkout/{session_id}", timeout=5).status_code == 404
    assert requests.get(url.replace(pages, system.url), timeout=5).status_code == 404, "not the payment service's"
    bad = requests.post(url, json={"decision": "maybe"}, timeout=5)
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_decision"
    assert requests.post(url, data={"decision": "maybe"}, timeout=5).status_code == 422
    assert requests.post(url, json={"decision": "approve"}, timeout=5).status_code == 200
    again = requests.post(url, json={"decision": "cancel"}, timeout=5)
    assert again.status_code == 409 and again.json()["code"] == "checkout_completed"
    other = system.checkout_url("ord_2", "paypal")
    system.publish("payment.cancel", {"order_id": "ord_2", "reason": "payment_timeout"})
    wait_for(lambda: system.payment("ord_2").status == "cancelled", what="cancelled")
    late = requests.post(other, json={"decision": "approve"}, timeout=5)
    assert late.status_code == 409 and late.json()["code"] == "checkout_cancelled"


def test_the_sandbox_paypal_certificate_is_served_where_its_webhooks_say(system: PaymentSystem) -> None:
    sandbox = sandbox_of(system)
    cert_url = paypal_cert_url(sandbox.base_url, sandbox.keys)
    assert cert_url.startswith(f"{system.sandbox_url}/sandbox/paypal/"), "at the sandbox's public address"
    served = requests.get(cert_url, timeout=5)
    assert served.status_code == 200
    assert x509.load_pem_x509_certificate(served.content) == sandbox.keys.paypal_cert
    missing = requests.get(f"{system.sandbox_url}/sandbox/paypal/v1/notifications/certs/CERT-0", timeout=5)
    assert missing.status_code == 404
    # what the payment service trusts, read from the merchant page: that address, that certificate
    api = f"{system.sandbox_url}/sandbox/api/merchant"
    assert requests.get(api, timeout=5).status_code == 401, "the merchant's key only"
    trust = requests.get(api, headers={"Authorization": f"Bearer {system.settings.sandbox_api_key}"},
                         timeout=5).json()["paypal"]
    assert trust["cert_url"] == cert_url
    assert x509.load_pem_x509_certificate(trust["cert"].encode()) == sandbox.keys.paypal_cert


# -- the keys ----------------------------------------------------------------------------------
def test_every_process_of_a_deployment_gets_the_same_sandbox_keys(databases: Databases) -> None:
    url = databases.create("sandbox")  # the sandbox's own database, where its keys are kept
    migrate(url, sandbox_app.MIGRATIONS)
    engine = make_engine(url)
    sessions = session_factory(engine)
    results: list[str] = []
    start = threading.Barrier(4)

    def process() -> None:  # four processes starting at once on a new deployment
        start.wait()
        results.append(SandboxKeys.ensure(sessions).dump())

    threads = [threading.Thread(target=process) for _ in range(4)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    try:
        assert len(results) == 4 and len(set(results)) == 1, "one set of keys for all"
        assert SandboxKeys.ensure(sessions).dump() == results[0], "and the same at the next start"
        with sessions() as s:
            assert s.scalar(select(func.count()).select_from(SandboxKeyRow)) == 1
        assert time.monotonic() - began < 20
    finally:
        engine.dispose()
