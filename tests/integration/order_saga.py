"""The order service alone on real PostgreSQL and RabbitMQ, driven by raw messages (published
with pika, as the other services would): the helpers its tests share."""

from __future__ import annotations

import threading
import time
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select

from services.order.models import InboxMessage, Order, OutboxMessage
from shared.clock import utcnow
from shared.messaging.envelope import Envelope
from shared.service import ServiceContext
from tests.helpers import publish_raw, wait_for


class Saga:
    def __init__(self, ctx: ServiceContext, client: FlaskClient) -> None:
        self.ctx, self.client = ctx, client
        self.settings = ctx.settings

    def customer(self, email: str = "ana@example.com") -> dict[str, Any]:
        body = self.client.post("/v1/auth/register", json={"email": email, "password": "correct horse",
                                                             "country": "DE"}).get_json()
        token = self.client.post("/v1/auth/login", json={"email": email,
                                                          "password": "correct horse"}).get_json()["access_token"]
        return {**body, "headers": {"Authorization": f"Bearer {token}"}}

    def place(self, who: dict[str, Any], amount: int = 10000, **extra: Any) -> str:
        quote = self.client.post("/v1/quotes", headers=who["headers"],
                                 json={"amount": amount, "currency": "EUR", "method": "card"}).get_json()
        placed = self.client.post("/v1/orders", headers={**who["headers"], "Idempotency-Key": quote["quote_id"]},
                                  json={"quote_id": quote["quote_id"], **extra})
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

    def sent_about(self, message_type: str, customer_id: str) -> list[dict[str, Any]]:
        """The messages of a type the service sent about a customer, oldest first."""
        with self.ctx.sessions() as session:
            rows = session.scalars(select(OutboxMessage).where(OutboxMessage.type == message_type)
                                   .order_by(OutboxMessage.id))
            payloads = [Envelope.from_json(row.body).payload for row in rows]
        return [p for p in payloads if p.get("customer_id") == customer_id]

    def count_messages_handled(self, handler: str) -> int:
        with self.ctx.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(InboxMessage)
                                      .where(InboxMessage.handler == handler)) or 0)

    def paid_then_refused(self, who: dict[str, Any], order_id: str, reason: str) -> None:
        """Captured, then the wallet refuses the credit: the saga must refund."""
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
    """A frontend's GET (or POST, with `json`) running on its own thread, so the test can
    change the order meanwhile."""

    def __init__(self, client: FlaskClient, url: str, headers: dict[str, str], json: Any = None) -> None:
        self.client, self.url, self.headers, self.json = client, url, headers, json
        self.response: Any = None
        self.seconds = 0.0
        self.thread = threading.Thread(target=self._send)
        self.thread.start()

    def _send(self) -> None:
        started = time.monotonic()
        if self.json is None:
            self.response = self.client.get(self.url, headers=self.headers)
        else:
            self.response = self.client.post(self.url, headers=self.headers, json=self.json)
        self.seconds = time.monotonic() - started

    def answer(self, timeout: float) -> Any:
        self.thread.join(timeout)
        return self.response
