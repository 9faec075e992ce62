"""Every ending of a payment, on real PostgreSQL and RabbitMQ: refunds the gateway refuses
or does not answer, an operator's retry, a cancel that overtakes its create, webhooks that
never come, and notices that arrive out of order or twice."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime

import pytest
import requests
from sqlalchemy import select, update

from deploy.infra import free_port
from services.payment.domain.errors import GatewayTimeout
from services.payment.domain.gateway import Gateway, GatewayEvent
from services.payment.domain.payment import Payment
from services.payment.domain.refund import refund_reference
from services.payment.gateways import Gateways
from services.payment.models import OrderCancellationRow, PaymentRow, RefundRow, WebhookEventRow
from services.payment.settings import PaymentSettings
from services.sandbox.models import SandboxSessionRow
from shared.config import Settings
from shared.db import unit_of_work
from tests.helpers import wait_for
from tests.integration.test_payment import APPROVED, AUTH, DECLINED, PaymentSystem, signed

REFUSES_REFUNDS, NEVER_NOTIFIED = "4000000000005126", "4000000000000077"
# One try per checkout: these are about how payments end (tries: test_payment.py).
FAST = PaymentSettings(refund_max_attempts=3, query_after_seconds=1.0, query_every_seconds=0.3, payment_attempts=1)


@pytest.fixture
def system(pg_settings: Settings) -> Iterator[PaymentSystem]:
    running = PaymentSystem(pg_settings, FAST)
    running.serve()
    yield running
    running.close()


@pytest.fixture
def deaf_system(pg_settings: Settings) -> Iterator[PaymentSystem]:
    """The sandbox's webhooks go to an address where nobody listens: every one is lost."""
    running = PaymentSystem(pg_settings, FAST, webhook_url=f"http://127.0.0.1:{free_port()}/v1/webhooks/sandbox")
    running.serve()
    yield running
    running.close()


class CountingGateway:
    """Our real sandbox gateway (its connector, over HTTP), whose first `failures` refunds get
    no answer in time."""

    def __init__(self, inner: Gateway, calls: list[str], failures: int) -> None:
        self.inner, self.calls, self.failures = inner, calls, failures
        self.name = inner.name

    def create_session(self, payment: Payment, return_url: str) -> tuple[str, str]:
        return self.inner.create_session(payment, return_url)

    def refund(self, payment: Payment) -> None:
        self.calls.append(payment.payment_id)
        if len(self.calls) <= self.failures:
            raise GatewayTimeout("no answer within 5 s")
        self.inner.refund(payment)

    def cancel(self, payment: Payment) -> bool:
        return self.inner.cancel(payment)

    def query(self, payment: Payment) -> GatewayEvent | None:
        return self.inner.query(payment)

    def verify(self, headers: Mapping[str, str], raw_body: bytes, now: datetime) -> GatewayEvent:
        return self.inner.verify(headers, raw_body, now)


def counting(calls: list[str], failures: int = 0) -> Callable[[Settings], Gateways]:
    def build(settings: Settings) -> Gateways:
        real = Gateways.from_settings(settings)
        sandbox = real.factories["sandbox"]

        def factory() -> Gateway:
            return CountingGateway(sandbox(), calls, failures)

        return Gateways({**real.factories, "sandbox": factory}, real.by_method, real.sandbox)

    return build


def refund(system: PaymentSystem, row: PaymentRow, reason: str = "credit_failed") -> None:
    system.publish("payment.refund", {"order_id": row.order_id, "payment_id": row.id, "reason": reason})


def refund_row(system: PaymentSystem, payment_id: str) -> RefundRow:
    with system.ctx.sessions() as s:
        return s.scalars(select(RefundRow).where(RefundRow.payment_id == payment_id)).one()


def captured(system: PaymentSystem, number: str = APPROVED) -> PaymentRow:
    system.pay(number)
    wait_for(lambda: system.sent("payment.captured"), what="payment.captured")
    return system.payment()


# -- refunds the gateway refuses ---------------------------------------------------------
def test_a_refund_the_gateway_keeps_refusing_ends_in_refund_failed(system: PaymentSystem) -> None:
    row = captured(system, REFUSES_REFUNDS)
    refund(system, row)
    [failed] = wait_for(lambda: system.sent("payment.refund_failed"), what="payment.refund_failed")
    assert failed.payload == {"order_id": "ord_1", "payment_id": row.id, "reason": "refund_declined", "attempts": 3}
    assert failed.correlation_id == "ord_1"
    record = refund_row(system, row.id)
    assert (record.status, record.attempts, record.failure_code, record.next_attempt_at) == (
        "failed", 3, "refund_declined", None)
    assert record.reason == "credit_failed" and "refused" in (record.last_error or "")
    time.sleep(0.5)  # no attempt after giving up
    assert refund_row(system, row.id).attempts == 3
    assert system.payment().status == "captured", "the money is still with us: an operator must act"
    assert system.sent("payment.refunded") == []
    operator = requests.get(f"{system.url}/v1/payments/{row.id}", headers=AUTH, timeout=5).json()
    assert operator["refund"]["status"] == "failed" and operator["refund"]["failure_code"] == "refund_declined"


def test_an_operator_retry_starts_the_attempts_again(system: PaymentSystem) -> None:
    row = captured(system, REFUSES_REFUNDS)
    refund(system, row)
    wait_for(lambda: system.sent("payment.refund_failed"), what="first payment.refund_failed")
    refund(system, row, reason="refund_declined")  # the operator retries; still refused
    second = wait_for(lambda: system.sent_at_least("payment.refund_failed", 2), what="second refund_failed")
    assert second[1].payload["attempts"] == 3, "a fresh series of attempts, not one more"
    with unit_of_work(system.sandbox.ctx.sessions) as s:  # the operator sorts it out with the issuer
        s.execute(update(SandboxSessionRow).values(refund_failure=None))
    refund(system, row, reason="refund_declined")
    [refunded] = wait_for(lambda: system.sent("payment.refunded"), what="payment.refunded")
    assert (refunded.payload["payment_id"], refunded.payload["amount"]) == (row.id, 1250)
    assert system.payment().status == "refunded"
    record = refund_row(system, row.id)
    assert (record.status, record.attempts) == ("succeeded", 1)
    assert len(system.sent("payment.refund_failed")) == 2


def test_a_refund_succeeds_after_the_gateway_timed_out(pg_settings: Settings) -> None:
    calls: list[str] = []
    system = PaymentSystem(pg_settings, FAST, gateways=counting(calls, failures=1))
    try:
        system.serve()
        row = captured(system)
        refund(system, row)
        wait_for(lambda: system.sent("payment.refunded"), what="payment.refunded")
        assert calls == [row.id, row.id]
        record = refund_row(system, row.id)
        assert (record.status, record.attempts) == ("succeeded", 2)
        assert system.sent("payment.refund_failed") == []
        assert system.payment().status == "refunded"
    finally:
        system.close()


def test_duplicated_refund_commands_refund_once(pg_settings: Settings) -> None:
    calls: list[str] = []
    system = PaymentSystem(pg_settings, FAST, gateways=counting(calls))
    try:
        system.serve()
        row = captured(system)
        first = system.publish("payment.refund", {"order_id": "ord_1", "payment_id": row.id, "reason": "credit_failed"})
        system.publish_again(first)  # broker redelivery
        refund(system, row)  # the saga asking again
        wait_for(lambda: system.sent("payment.refunded"), what="payment.refunded")
        wait_for(lambda: len([d for d in system.deliveries() if d.delivered_at]) == 2, what="the refund notice")
        time.sleep(0.5)
        assert calls == [row.id], "one call to the gateway"
        [checkout] = system.checkouts()
        assert checkout.refunded is True and checkout.refund_reference == refund_reference(row.id)
        assert len(system.deliveries()) == 2, "the capture's notice and one refund notice"
        assert refund_row(system, row.id).attempts == 1
        assert system.sent("payment.refund_failed") == []
    finally:
        system.close()


# -- a cancel that overtakes its create ---------------------------------------------------
def test_a_cancel_before_the_create_fails_the_late_create(system: PaymentSystem) -> None:
    system.publish("payment.cancel", {"order_id": "ord_1", "reason": "payment_timeout"})
    wait_for(lambda: system.count(OrderCancellationRow) == 1, what="the cancel remembered")
    first = system.create()
    [failed] = wait_for(lambda: system.sent("payment.failed"), what="payment.failed")
    assert failed.payload["reason"] == "order_cancelled" and failed.causation_id == first.message_id
    row = system.payment()
    assert (row.status, row.failure_reason, row.gateway, row.redirect_url) == (
        "cancelled", "order_cancelled", None, None)
    assert failed.payload["payment_id"] == row.id
    system.create()  # asked again: answered again, still no checkout
    wait_for(lambda: system.sent_at_least("payment.failed", 2), what="second answer")
    assert system.sent("payment.created") == []
    assert system.checkouts() == [] and system.count(PaymentRow) == 1


def test_a_cancel_after_the_create_still_closes_the_checkout(system: PaymentSystem) -> None:
    url = system.checkout_url()
    system.publish("payment.cancel", {"order_id": "ord_1", "reason": "payment_timeout"})
    wait_for(lambda: system.payment().status == "cancelled", what="cancelled")
    assert system.count(OrderCancellationRow) == 0
    assert requests.post(url, json={"card_number": APPROVED, "exp_month": "12", "exp_year": "2035",
                                    "cvc": "123"}, timeout=5).status_code == 409


# -- webhooks that never come ------------------------------------------------------------
def test_a_payment_whose_webhook_is_never_sent_is_settled_by_asking(system: PaymentSystem) -> None:
    row = system.pay(NEVER_NOTIFIED)
    assert system.deliveries() == [], "this test card's webhook is never sent"
    [done] = wait_for(lambda: system.sent("payment.captured"), timeout=6, what="payment.captured by query")
    assert (done.payload["payment_id"], done.payload["card_last4"], done.payload["amount"]) == (row.id, "0077", 1250)
    assert system.payment().status == "captured"
    with system.ctx.sessions() as s:
        assert s.scalars(select(WebhookEventRow.event_id)).all() == [f"query:{row.id}:payment.succeeded"]
    time.sleep(1.0)
    assert len(system.sent("payment.captured")) == 1
    assert system.payment().queries == 1, "a settled payment is not asked about again"


@pytest.mark.parametrize(("number", "outcome"), [(APPROVED, "payment.captured"), (DECLINED, "payment.failed")])
def test_a_lost_webhook_is_settled_by_asking_and_the_late_webhook_changes_nothing(
        deaf_system: PaymentSystem, number: str, outcome: str) -> None:
    system = deaf_system
    row = system.pay(number)
    [done] = wait_for(lambda: system.sent(outcome), timeout=6, what=f"{outcome} by query")
    if outcome == "payment.failed":
        assert done.payload["reason"] == "card_declined"
        assert (system.payment().status, system.payment().failure_reason) == ("failed", "card_declined")
    else:
        assert system.payment().status == "captured"
    [lost] = system.deliveries()
    assert lost.delivered_at is None and lost.attempts >= 1
    body = lost.body.encode()  # the webhook arrives after all, late
    response = requests.post(f"{system.url}/v1/webhooks/sandbox", data=body, headers=signed(system.settings, body),
                             timeout=5)
    assert response.status_code == 200
    assert len(system.sent(outcome)) == 1
    assert system.sent("payment.captured" if outcome == "payment.failed" else "payment.failed") == []
    assert system.payment().id == row.id


def test_an_unpaid_checkout_is_asked_about_a_few_times_only(system: PaymentSystem) -> None:
    system.checkout_url()
    time.sleep(2.6)  # due after 1 s, then pauses of 0.3, 0.6, 1.2 s ... (doubling)
    row = system.payment()
    assert row.status == "created" and 1 <= row.queries <= 4
    assert system.count(WebhookEventRow) == 0


# -- notices out of order or twice -------------------------------------------------------
def sandbox_event(row: PaymentRow, kind: str, event_id: str) -> bytes:
    card = {"brand": "visa", "last4": "4242"} if kind == "payment.succeeded" else None
    return json.dumps({"id": event_id, "type": kind, "created": int(time.time()),
                       "data": {"session_id": row.gateway_ref, "payment_reference": row.id, "amount": row.amount_minor,
                                "currency": row.currency, "card": card, "failure_code": None}}).encode()


def post(system: PaymentSystem, body: bytes) -> dict[str, bool]:
    response = requests.post(f"{system.url}/v1/webhooks/sandbox", data=body, headers=signed(system.settings, body),
                             timeout=5)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_a_refund_notice_before_the_capture_notice_ends_as_the_orderly_sequence(system: PaymentSystem) -> None:
    system.checkout_url()
    row = system.payment()
    refund_notice = sandbox_event(row, "refund.succeeded", "evt_refund")
    capture_notice = sandbox_event(row, "payment.succeeded", "evt_capture")
    assert post(system, refund_notice) == {"received": True}
    assert system.payment().status == "created" and system.payment().refund_noted_at is not None
    assert system.sent("payment.refunded") == [] and system.sent("payment.captured") == []
    assert post(system, capture_notice) == {"received": True}
    assert system.payment().status == "refunded"
    captured_messages, refunded_messages = system.sent("payment.captured"), system.sent("payment.refunded")
    assert len(captured_messages) == 1 and len(refunded_messages) == 1
    assert captured_messages[0].payload["card_last4"] == "4242"
    # duplicates of both, and the same refund told again under a new id: nothing changes
    assert post(system, refund_notice) == {"received": True, "duplicate": True}
    assert post(system, capture_notice) == {"received": True, "duplicate": True}
    assert post(system, sandbox_event(row, "refund.succeeded", "evt_refund_again")) == {"received": True}
    refund(system, row)  # the saga, having seen the capture after all, asks for the refund
    wait_for(lambda: system.sent_at_least("payment.refunded", 2), what="the refund answered again")
    assert system.payment().status == "refunded"
    assert len(system.sent("payment.captured")) == 1
    with system.ctx.sessions() as s:
        assert s.scalars(select(RefundRow)).all() == [], "nothing left to give back"


def test_the_orderly_sequence_twice_over_changes_nothing_twice(system: PaymentSystem) -> None:
    system.checkout_url()
    row = system.payment()
    capture_notice = sandbox_event(row, "payment.succeeded", "evt_capture")
    refund_notice = sandbox_event(row, "refund.succeeded", "evt_refund")
    for body in (capture_notice, refund_notice, capture_notice, refund_notice):
        post(system, body)
    assert system.payment().status == "refunded"
    assert len(system.sent("payment.captured")) == 1 and len(system.sent("payment.refunded")) == 1
    assert system.count(WebhookEventRow) == 2
