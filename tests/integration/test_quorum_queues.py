"""Quorum queues (AMQP_QUEUE_TYPE=quorum, the manifests' default) on the real RabbitMQ: every
queue is declared as one, a top-up completes through them, and a message whose handler
keeps failing is retried through its quorum retry queue and then parked with its reason."""

from __future__ import annotations

from collections.abc import Iterator

import pika
import pytest
from kombu import Queue
from pika.exceptions import ChannelClosedByBroker

from deploy.infra import Databases, delete_namespace
from deploy.local import LocalSystem
from shared.clock import utcnow
from shared.messaging.envelope import Envelope
from shared.messaging.topology import SUBSCRIPTIONS, Topology
from tests.e2e.frontend import Frontend
from tests.helpers import TOP_UP_SERVICES, top_up_settings, wait_for


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory, pg_server: str, amqp_url: str) -> Iterator[LocalSystem]:
    dbs = Databases(pg_server)
    settings = top_up_settings(dbs, amqp_url, str(tmp_path_factory.mktemp("quorum")), amqp_queue_type="quorum")
    running = LocalSystem(settings).start(services=TOP_UP_SERVICES)
    yield running
    running.stop()
    delete_namespace(amqp_url, settings.amqp_namespace)
    dbs.drop_all()


def redeclared(amqp_url: str, queue: Queue) -> bool:
    """Whether RabbitMQ takes `queue` declared again with these arguments: it refuses a
    queue's other kind (406 PRECONDITION_FAILED, inequivalent arguments)."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        connection.channel().queue_declare(queue.name, durable=True, arguments=queue.queue_arguments or None)
        return True
    except ChannelClosedByBroker as refused:
        assert refused.reply_code == 406, refused
        return False
    finally:
        if connection.is_open:
            connection.close()


def test_every_queue_is_a_quorum_queue(system: LocalSystem, amqp_url: str) -> None:
    sub = next(s for s in SUBSCRIPTIONS if s.handler == "payment_captured")
    for kind, taken in (("quorum", True), ("classic", False)):
        topology = Topology(system.settings.amqp_namespace, kind)
        for queue in (topology.queue(sub), topology.retry_queue(sub), topology.parking_queue(sub)):
            assert redeclared(amqp_url, queue) is taken, f"{queue.name} as {kind}"


def test_a_top_up_completes_through_quorum_queues(system: LocalSystem) -> None:
    frontend = Frontend(system)
    who = frontend.register()
    order = frontend.top_up(who, 3000)
    frontend.pay(order)
    frontend.wait_status(who, order["order_id"], "completed")
    assert frontend.get(who, "/v1/balance").json()["amount"] == 3000


def test_a_failing_message_is_retried_then_parked_with_its_reason(system: LocalSystem, amqp_url: str) -> None:
    namespace = system.settings.amqp_namespace
    poison = Envelope.new("payment.captured", {
        "order_id": "ord_nobody", "payment_id": "pay_1", "amount": 900, "currency": "EUR", "method": "card",
        "card_brand": "visa", "card_last4": "4242", "captured_at": utcnow()}).to_json().encode()
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish("", f"{namespace}.order.payment_captured", poison,
                              pika.BasicProperties(delivery_mode=2, content_type="application/json"), mandatory=True)

        def parked() -> tuple[bytes, dict[str, object]] | None:
            method, properties, body = channel.basic_get(f"{namespace}.order.payment_captured.dlq", auto_ack=True)
            return (body, properties.headers or {}) if method is not None else None

        body, headers = wait_for(parked, timeout=20, what="the message parked after its retries")
    finally:
        connection.close()
    assert body == poison
    assert "unknown order ord_nobody" in str(headers["x-topup-parked-reason"])
    assert headers["x-topup-attempt"] == 3, "tried three times, through the quorum retry queue"
