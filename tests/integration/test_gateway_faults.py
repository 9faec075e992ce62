"""Faults on purpose (SANDBOX_FAULTS, services/sandbox/faults.py): the payment service talks
over HTTP to a sandbox that times out after doing the work, fails before doing it, answers
slowly, and sends its notifications twice or late. On RabbitMQ + PostgreSQL, each kind on
its own, made certain with `limit` and `on` (the first such call meets it). Whatever the
fault, one checkout per payment, one refund per payment, and every payment ends as it should.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests
from sqlalchemy import func, select

from services.payment.domain.refund import refund_reference
from services.payment.gateways import Gateways
from services.payment.models import WebhookEventRow
from services.payment.store import to_payment
from services.sandbox.models import SandboxRequestRow
from shared.config import Settings
from tests.helpers import wait_for
from tests.integration.test_payment import DECLINED, PaymentSystem, card

#: the payment service gives up on a call after this; a timed-out sandbox answers after HANG
TIMEOUT, HANG = 0.5, 1.5


@pytest.fixture
def faulty(pg_settings: Settings) -> Iterator[object]:
    """A payment system whose sandbox meets the faults asked for: `faulty("timeout=1,...")`."""
    started: list[PaymentSystem] = []

    def start(spec: str) -> PaymentSystem:
        system = PaymentSystem(pg_settings, gateway_timeout=TIMEOUT, sandbox_faults=f"{spec},hang={HANG}")
        system.serve()
        started.append(system)
        return system

    yield start
    for system in started:
        system.close()


def refund_notices(system: PaymentSystem) -> int:
    return sum(1 for d in system.deliveries() if "refund" in d.body.lower())


def kept_requests(system: PaymentSystem, operation: str) -> int:
    with system.sandbox.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(SandboxRequestRow)
                            .where(SandboxRequestRow.operation == operation)) or 0)


def pay_and_capture(system: PaymentSystem) -> str:
    url = system.checkout_url()
    assert requests.post(url, json=card(), timeout=5).status_code == 200
    wait_for(lambda: system.sent("payment.captured"), timeout=10, what="payment.captured")
    return url


# -- opening a checkout ----------------------------------------------------------------
@pytest.mark.parametrize("spec", ["timeout=1,on=create,limit=1", "error=1,on=create,limit=1"])
def test_a_create_whose_outcome_was_unknown_opens_one_checkout(faulty, spec: str) -> None:  # type: ignore[no-untyped-def]
    """Timed out after the work: asking finds the checkout. Failed before it: asking finds
    nothing, and the same key opens it. Either way one checkout, and the payment goes on."""
    system: PaymentSystem = faulty(spec)
    pay_and_capture(system)
    assert system.sandbox.sandbox.faults.drawn == 1, "the fault was met"
    assert len(system.checkouts()) == 1
    assert kept_requests(system, "create") == 1
    assert len(system.sent("payment.created")) == 1
    assert system.payment().status == "captured"


def test_a_provider_that_cannot_open_the_checkout_fails_the_payment_at_once(faulty) -> None:  # type: ignore[no-untyped-def]
    """Every call fails (GATEWAY_ATTEMPTS of them, each asked about): no customer has a page,
    nothing can be charged, so the payment fails now, saying why, instead of being parked."""
    system: PaymentSystem = faulty("error=1,on=create")
    system.create()
    [failed] = wait_for(lambda: system.sent("payment.failed"), timeout=15, what="payment.failed")
    assert failed.payload["reason"] == "gateway_unavailable"
    assert system.payment().status == "failed" and system.payment().failure_reason == "gateway_unavailable"
    assert system.sandbox.sandbox.faults.drawn == system.settings.gateway_attempts
    assert system.checkouts() == [] and system.sent("payment.created") == []


def test_a_slow_provider_is_waited_for(faulty) -> None:  # type: ignore[no-untyped-def]
    system: PaymentSystem = faulty("slow=1,lag=0.2")
    pay_and_capture(system)
    assert system.sandbox.sandbox.faults.drawn >= 1
    assert len(system.checkouts()) == 1 and system.payment().status == "captured"


# -- refunds ---------------------------------------------------------------------------
@pytest.mark.parametrize("spec", ["timeout=1,on=refund,limit=1", "error=1,on=refund,limit=1"])
def test_a_refund_whose_outcome_was_unknown_is_paid_once(faulty, spec: str) -> None:  # type: ignore[no-untyped-def]
    system: PaymentSystem = faulty(spec)
    pay_and_capture(system)
    row = system.payment()
    system.publish("payment.refund", {"order_id": "ord_1", "payment_id": row.id, "reason": "credit_failed"})
    wait_for(lambda: system.sent("payment.refunded"), timeout=10, what="payment.refunded")
    assert system.sandbox.sandbox.faults.drawn == 1
    [checkout] = system.checkouts()
    assert checkout.refunded and checkout.refund_reference == refund_reference(row.id)
    assert kept_requests(system, "refund") == 1
    assert refund_notices(system) == 1, "the provider paid the money back once"
    assert len(system.sent("payment.refunded")) == 1 and system.payment().status == "refunded"
    # and its settlement report of the day lists the refund under our refund id, once
    sandbox = Gateways.from_settings(system.settings).sandbox
    assert sandbox is not None
    report = sandbox.settlement_report("sandbox", datetime.now(UTC).date()).decode()
    assert report.count(refund_reference(row.id)) == 1


def test_two_workers_asking_for_the_same_refund_at_once_refund_once(faulty) -> None:  # type: ignore[no-untyped-def]
    """Two refund calls for one payment cross at the provider (its answers slowed so that
    they overlap): both are told it is refunded; it is refunded once."""
    system: PaymentSystem = faulty("slow=1,on=refund,lag=0.3")
    pay_and_capture(system)
    payment = to_payment(system.payment())
    gateway = Gateways.from_settings(system.settings).named("sandbox")
    assert gateway is not None
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            gateway.refund(payment)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == []
    assert system.sandbox.sandbox.faults.drawn == 2, "both calls were slowed, so they overlapped"
    [checkout] = system.checkouts()
    assert checkout.refunded
    assert kept_requests(system, "refund") == 1
    assert refund_notices(system) == 1


# -- cancels ---------------------------------------------------------------------------
def test_a_cancel_that_timed_out_after_the_work_is_known_to_be_done(faulty) -> None:  # type: ignore[no-untyped-def]
    system: PaymentSystem = faulty("timeout=1,on=cancel,limit=1")
    url = system.checkout_url()
    system.publish("payment.cancel", {"order_id": "ord_1", "reason": "payment_timeout"})
    wait_for(lambda: system.payment().status == "cancelled", timeout=10, what="cancelled")
    assert system.sandbox.sandbox.faults.drawn == 1
    assert [c.status for c in system.checkouts()] == ["cancelled"]
    response = requests.post(url, json=card(), timeout=5)
    assert response.status_code == 409 and response.json()["code"] == "checkout_cancelled"


# -- notifications ---------------------------------------------------------------------
def test_every_notification_sent_twice_changes_the_payment_once(faulty) -> None:  # type: ignore[no-untyped-def]
    system: PaymentSystem = faulty("duplicate=1")
    pay_and_capture(system)
    row = system.payment()
    system.publish("payment.refund", {"order_id": "ord_1", "payment_id": row.id, "reason": "credit_failed"})
    wait_for(lambda: system.sent("payment.refunded"), timeout=10, what="payment.refunded")
    wait_for(lambda: len([d for d in system.deliveries() if d.delivered_at]) == 2, what="both notices")
    assert system.sandbox.sandbox.faults.drawn >= 2, "both notices went twice"
    assert system.count(WebhookEventRow) == 2, "one record per notice, not per sending"
    assert len(system.sent("payment.captured")) == 1 and len(system.sent("payment.refunded")) == 1


def test_notifications_overtaken_by_later_ones_end_the_payment_as_it_ended(faulty) -> None:  # type: ignore[no-untyped-def]
    """A declined try and then the capture, each notice held back a random while: the
    capture may arrive first. The payment ends captured, and the late decline changes nothing."""
    system: PaymentSystem = faulty("reorder=1,lag=0.2")
    url = system.checkout_url()
    assert requests.post(url, json=card(DECLINED), timeout=5).status_code == 200
    assert requests.post(url, json=card(), timeout=5).status_code == 200
    wait_for(lambda: system.sent("payment.captured"), timeout=10, what="payment.captured")
    wait_for(lambda: len([d for d in system.deliveries() if d.delivered_at]) == 2, what="both notices")
    assert system.sandbox.sandbox.faults.drawn == 2, "both notices were held back"
    assert system.payment().status == "captured"
    assert len(system.sent("payment.captured")) == 1
    assert len(system.sent("payment.failed")) == 0
    kinds = sorted(json.loads(d.body)["type"] for d in system.deliveries())
    assert kinds == ["payment.attempt_failed", "payment.succeeded"]


def test_a_wallet_notification_waits_while_the_providers_keys_cannot_be_read(pg_settings: Settings) -> None:
    """The sandbox's merchant page out of reach: a PayPal notice cannot be checked, so it is
    answered 503 with Retry-After (PayPal sends it again) and changes nothing."""
    from deploy.infra import free_port
    from services.payment import app as payment_app

    settings = pg_settings.with_changes(sandbox_api_url=f"http://127.0.0.1:{free_port()}", gateway_timeout_seconds=0.5)
    ctx = payment_app.start(settings)
    try:
        client = payment_app.create_app(ctx=ctx).test_client()
        answer = client.post("/v1/webhooks/paypal", json={"id": "WH-1", "event_type": "PAYMENT.CAPTURE.COMPLETED"},
                             headers={"Accept-Language": "zh-CN"})
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "30"
        problem = answer.get_json()
        assert problem["code"] == "gateway_unavailable" and problem["title"] == "暂时无法核验此通知。"
        with ctx.sessions() as s:
            assert s.scalar(select(func.count()).select_from(WebhookEventRow)) == 0
    finally:
        ctx.stop()
