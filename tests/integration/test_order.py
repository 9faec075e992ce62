"""The order service alone on real PostgreSQL and RabbitMQ: the saga driven by raw messages
(published with pika, as the other services would), in order, out of order, and twice."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from services.order import app as order_app
from services.order.models import Order, OutboxMessage
from services.order.watch import RECHECK_SECONDS, OrderWatch
from shared.clock import utcnow
from shared.config import Settings
from shared.messaging.envelope import Envelope
from shared.messaging.worker import declare_topology
from shared.service import ServiceContext
from tests.helpers import publish_raw, wait_for


class Saga:
    def __init__(self, ctx: ServiceContext, client: FlaskClient) -> None:
        self.ctx, self.client = ctx, client
        self.settings = ctx.settings

    def customer(self) -> dict[str, Any]:
        body = self.client.post("/v1/auth/register", json={"email": "ana@example.com", "password": "correct horse",
                                                             "country": "DE"}).get_json()
        token = self.client.post("/v1/auth/login", json={"email": "ana@example.com",
                                                          "password": "correct horse"}).get_json()["access_token"]
        return {**body, "headers": {"Authorization": f"Bearer {token}"}}

    def place(self, who: dict[str, Any], amount: int = 10000) -> str:
        quote = self.client.post("/v1/quotes", headers=who["headers"],
                                 json={"amount": amount, "currency": "EUR", "method": "card"}).get_json()
        placed = self.client.post("/v1/orders", headers={**who["headers"], "Idempotency-Key": quote["quote_id"]},
                                  json={"quote_id": quote["quote_id"]})
        assert placed.status_code == 201, placed.get_json()
        return str(placed.get_json()["order_id"])

    def send(self, message_type: str, payload: dict[str, Any], order_id: str | None = None) -> Envelope:
        envelope = Envelope.new(message_type, payload, correlation_id=order_id)
        publish_raw(self.settings.amqp_url, self.settings.amqp_namespace, envelope)
        return envelope

    def status(self, order_id: str) -> str:
        with self.ctx.sessions() as session:
            order = session.get(Order, order_id)
            assert order is not None
            return order.status

    def wait(self, order_id: str, status: str) -> None:
        wait_for(lambda: self.status(order_id) == status, what=f"{order_id} {status}")

    def sent(self, message_type: str, order_id: str) -> list[dict[str, Any]]:
        with self.ctx.sessions() as session:
            rows = session.scalars(select(OutboxMessage).where(OutboxMessage.type == message_type,
                                                               OutboxMessage.correlation_id == order_id))
            return [Envelope.from_json(row.body).payload for row in rows]

    def paid_then_refused(self, who: dict[str, Any], order_id: str, reason: str) -> None:
        """Authorized, captured, then the wallet refuses the credit: the saga must refund."""
        self.send("wallet.credit_authorized", {"order_id": order_id, "customer_id": who["customer_id"]}, order_id)
        self.captured(order_id)
        self.wait(order_id, "paid")
        self.send("wallet.credit_failed", {"order_id": order_id, "customer_id": who["customer_id"],
                                           "reason": reason}, order_id)
        wait_for(lambda: self.sent("payment.refund", order_id), what="the refund command")

    def captured(self, order_id: str, payment_id: str = "pay_1") -> Envelope:
        return self.send("payment.captured", {
            "order_id": order_id, "payment_id": payment_id, "amount": 9000, "currency": "EUR", "method": "card",
            "card_brand": "visa", "card_last4": "4242", "captured_at": utcnow()}, order_id)


class Waiting:
    """A frontend's GET running on its own thread, so the test can change the order meanwhile."""

    def __init__(self, client: FlaskClient, url: str, headers: dict[str, str]) -> None:
        self.client, self.url, self.headers = client, url, headers
        self.response: Any = None
        self.seconds = 0.0
        self.thread = threading.Thread(target=self._get)
        self.thread.start()

    def _get(self) -> None:
        started = time.monotonic()
        self.response = self.client.get(self.url, headers=self.headers)
        self.seconds = time.monotonic() - started

    def answer(self, timeout: float) -> Any:
        self.thread.join(timeout)
        return self.response


@pytest.fixture
def saga(pg_settings: Settings) -> Iterator[Saga]:
    settings = pg_settings.with_changes(order_payment_timeout_seconds=2)
    ctx = order_app.start(settings)
    declare_topology(settings)
    worker = order_app.create_worker(ctx=ctx)
    worker.start()
    yield Saga(ctx, order_app.create_app(ctx=ctx).test_client())
    worker.stop()
    ctx.engine.dispose()


def test_the_saga_completes_even_when_the_capture_overtakes_payment_created(saga: Saga) -> None:
    who = saga.customer()
    order_id = saga.place(who)
    assert saga.sent("wallet.authorize_credit", order_id)[0]["amount"] == 10000
    saga.send("wallet.credit_authorized", {"order_id": order_id, "customer_id": who["customer_id"]}, order_id)
    wait_for(lambda: saga.sent("payment.create", order_id), what="payment.create")
    assert saga.sent("payment.create", order_id)[0]["amount"] == 9000, "the charge, after the promotion"

    capture = saga.captured(order_id)
    saga.wait(order_id, "paid")
    saga.send("payment.created", {"order_id": order_id, "payment_id": "pay_1", "method": "card",
                                  "redirect_url": "http://gateway.test/checkout/cs_1"}, order_id)
    publish_raw(saga.settings.amqp_url, saga.settings.amqp_namespace, capture)  # redelivered
    saga.captured(order_id)  # and announced again under a new id
    credited = {"order_id": order_id, "customer_id": who["customer_id"], "entry_id": "je_1", "amount": 10000,
                "currency": "EUR", "balance_after": 10000}
    saga.send("wallet.credited", credited, order_id)
    saga.send("wallet.credited", credited, order_id)
    saga.wait(order_id, "completed")

    assert len(saga.sent("wallet.credit", order_id)) == 1
    completed = saga.sent("order.completed", order_id)
    assert len(completed) == 1
    assert completed[0]["email"] == "ana@example.com" and completed[0]["card_last4"] == "4242"
    assert completed[0]["balance_after"] == 10000 and completed[0]["charge_amount"] == 9000
    body = saga.client.get(f"/v1/orders/{order_id}", headers=who["headers"]).get_json()
    assert [step["event"] for step in body["timeline"]] == [
        "placed", "credit_authorized", "payment_captured", "credited"]
    assert body["next_action"] is None


def test_a_paid_top_up_the_wallet_refuses_is_refunded(saga: Saga) -> None:
    who = saga.customer()
    order_id = saga.place(who)
    saga.paid_then_refused(who, order_id, "account_frozen")
    assert saga.sent("payment.refund", order_id)[0] == {"order_id": order_id, "payment_id": "pay_1",
                                                        "reason": "account_frozen"}
    saga.send("payment.refunded", {"order_id": order_id, "payment_id": "pay_1", "amount": 9000, "currency": "EUR",
                                   "refunded_at": utcnow()}, order_id)
    saga.wait(order_id, "refunded")
    assert saga.sent("order.reversed", order_id)[0]["reason"] == "account_frozen"
    assert saga.sent("order.completed", order_id) == []


def test_an_unpaid_order_expires_and_late_money_is_refunded(saga: Saga) -> None:
    who = saga.customer()
    order_id = saga.place(who)
    saga.wait(order_id, "expired")
    assert saga.sent("payment.cancel", order_id)[0]["reason"] == "payment_timeout"
    saga.captured(order_id, payment_id="pay_late")
    wait_for(lambda: saga.sent("payment.refund", order_id), what="the late payment refunded")
    assert saga.status(order_id) == "expired", "a terminal status never changes"
    assert saga.sent("wallet.credit", order_id) == []


def test_the_balance_read_model_ignores_stale_updates(saga: Saga) -> None:
    who = saga.customer()
    update = {"customer_id": who["customer_id"], "currency": "EUR"}
    saga.send("wallet.account_updated", {**update, "balance": 500, "status": "frozen", "version": 3})
    saga.send("wallet.account_updated", {**update, "balance": 100, "status": "active", "version": 2})

    def balance() -> dict[str, Any]:
        return saga.client.get("/v1/balance", headers=who["headers"]).get_json()  # type: ignore[no-any-return]

    wait_for(lambda: balance()["amount"] == 500, what="the newer update")
    saga.send("wallet.account_updated", {**update, "balance": 700, "status": "active", "version": 4})
    wait_for(lambda: balance() == {"amount": 700, "currency": "EUR", "status": "active"}, what="version 4")


def test_a_refund_the_gateway_refuses_is_flagged_for_an_operator_who_retries_it(saga: Saga) -> None:
    ops = {"Authorization": f"Bearer {saga.settings.operator_token}"}
    who = saga.customer()
    order_id = saga.place(who)
    saga.paid_then_refused(who, order_id, "balance_cap_exceeded")
    assert saga.client.post(f"/v1/operator/orders/{order_id}/retry-refund", headers=ops).status_code == 409

    saga.send("payment.refund_failed", {"order_id": order_id, "payment_id": "pay_1", "reason": "refund_declined",
                                        "attempts": 5}, order_id)

    def flagged() -> list[dict[str, Any]]:
        listed = saga.client.get("/v1/operator/orders?needs_operator=true", headers=ops).get_json()["orders"]
        return [o for o in listed if o["order_id"] == order_id]

    listed = wait_for(flagged, what="the order listed for an operator")
    assert listed[0]["status"] == "paid" and listed[0]["timeline"][-1]["reason"] == "refund_declined"
    assert saga.client.get("/v1/operator/orders?needs_operator=true").status_code == 401

    retried = saga.client.post(f"/v1/operator/orders/{order_id}/retry-refund", headers=ops)
    assert retried.status_code == 202 and retried.get_json()["timeline"][-1]["event"] == "refund_retried"
    assert len(saga.sent("payment.refund", order_id)) == 2
    saga.send("payment.refunded", {"order_id": order_id, "payment_id": "pay_1", "amount": 9000, "currency": "EUR",
                                   "refunded_at": utcnow()}, order_id)
    saga.wait(order_id, "refunded")
    assert flagged() == []
    assert saga.client.get(f"/v1/operator/orders/{order_id}", headers=ops).get_json()["needs_operator"] is False


def test_a_frontend_can_wait_for_its_order_to_change_instead_of_polling(saga: Saga) -> None:
    who = saga.customer()
    order_id = saga.place(who)
    first = saga.client.get(f"/v1/orders/{order_id}", headers=who["headers"])
    tag = first.headers["ETag"]
    unchanged = saga.client.get(f"/v1/orders/{order_id}", headers={**who["headers"], "If-None-Match": tag})
    assert unchanged.status_code == 304 and unchanged.headers["ETag"] == tag

    waiting = {**who["headers"], "If-None-Match": tag, "Prefer": "wait=10"}
    frontend = Waiting(saga.client, f"/v1/orders/{order_id}", waiting)
    time.sleep(0.5)
    assert frontend.thread.is_alive(), "the request waits while nothing changes"
    saga.send("wallet.credit_authorized", {"order_id": order_id, "customer_id": who["customer_id"]}, order_id)
    changed = frontend.answer(10)
    assert changed.status_code == 200 and changed.headers["Preference-Applied"] == "wait=10"
    assert changed.headers["ETag"] != tag and frontend.seconds < 5
    assert [e["event"] for e in changed.get_json()["timeline"]] == ["placed", "credit_authorized"]

    started = time.monotonic()
    quiet = saga.client.get(f"/v1/orders/{order_id}", headers={**waiting, "If-None-Match": changed.headers["ETag"],
                                                                "Prefer": "wait=1"})
    assert quiet.status_code == 304 and time.monotonic() - started >= 1


def test_without_postgresql_the_wait_preference_is_declined_and_the_answer_immediate(
        sqlite_settings: Settings) -> None:
    ctx = order_app.start(sqlite_settings)
    saga = Saga(ctx, order_app.create_app(ctx=ctx).test_client())
    who = saga.customer()
    order_id = saga.place(who)
    tag = saga.client.get(f"/v1/orders/{order_id}", headers=who["headers"]).headers["ETag"]
    started = time.monotonic()
    answer = saga.client.get(f"/v1/orders/{order_id}", headers={**who["headers"], "If-None-Match": tag,
                                                                 "Prefer": "wait=5"})
    assert answer.status_code == 304 and "Preference-Applied" not in answer.headers
    assert time.monotonic() - started < 1
    ctx.engine.dispose()


def test_a_change_whose_announcement_is_lost_is_still_found_by_a_waiting_read(
        saga: Saga, monkeypatch: pytest.MonkeyPatch) -> None:
    """As behind a pooler that drops notifications: the waiting read looks again by itself,
    and answers long before its 20 s are over."""
    monkeypatch.setattr(OrderWatch, "_listen", lambda self: None)
    client = order_app.create_app(ctx=saga.ctx).test_client()
    who = saga.customer()
    order_id = saga.place(who)
    tag = client.get(f"/v1/orders/{order_id}", headers=who["headers"]).headers["ETag"]
    frontend = Waiting(client, f"/v1/orders/{order_id}",
                       {**who["headers"], "If-None-Match": tag, "Prefer": "wait=20"})
    time.sleep(0.5)
    saga.send("wallet.credit_authorized", {"order_id": order_id, "customer_id": who["customer_id"]}, order_id)
    answer = frontend.answer(25)
    assert answer.status_code == 200 and answer.headers["Preference-Applied"] == "wait=20"
    assert frontend.seconds < RECHECK_SECONDS + 5 < 20
