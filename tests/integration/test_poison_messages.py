"""Poison messages: whatever a message holds, it is handled or parked with a reason, the
consumer never reconnects for it, and the top-ups beside it go on.

One system runs for the whole module on real PostgreSQL and RabbitMQ: the order, payment
and wallet services, web and worker (all a card top-up needs; notify only sends the
receipt). Each kind of poison is published with pika straight onto a consumer queue on the
top-up's path (the wallet's `credit`, the order's `payment_captured`) just before a normal
top-up is paid; the top-up must complete, the poison must be in the queue's `.dlq` byte
for byte with its reason, and every consumer must still be on the connection it started
with. The same runner on the embedded default (kombu's memory transport, SQLite) and the
last resort (a copy that breaks the connection) have their own tests below.
"""

from __future__ import annotations

import gzip
import json
import pickle
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pika
import pytest
from kombu import Connection, Producer

from deploy.infra import Databases, delete_namespace, new_namespace
from deploy.local import LocalSystem
from services.wallet import app as wallet_app
from services.wallet.models import InboxMessage
from shared.clock import utcnow
from shared.config import Settings
from shared.messaging import received
from shared.messaging.broker import connect
from shared.messaging.consumer import ConsumerRunner, RetryPolicy
from shared.messaging.envelope import Envelope
from shared.messaging.topology import Topology
from tests.e2e.frontend import Frontend
from tests.helpers import TOP_UP_SERVICES, top_up_settings, wait_for

# the queues, after the namespace: the top-up passes through both
CREDIT = "wallet.credit"
CAPTURED = "order.payment_captured"
REASON = "x-topup-parked-reason"


# -- the poisons ----------------------------------------------------------------------------
def credit(marker: str) -> dict[str, Any]:
    """A wallet.credit command as JSON: valid, so that each poison differs in one thing."""
    return json.loads(Envelope.new("wallet.credit", {
        "order_id": f"ord_{marker}", "customer_id": f"cus_{marker}", "amount": 100, "charge_amount": 100,
        "currency": "EUR", "validity_days": 365}, correlation_id=f"ord_{marker}").to_json())


def changed(marker: str, **fields: Any) -> bytes:
    data = credit(marker)
    payload = fields.pop("payload", {})
    data.update(fields)
    data["payload"].update(payload)
    return json.dumps(data, separators=(",", ":"), allow_nan=True).encode()


def captured_for_nobody(marker: str) -> bytes:
    """A valid payment.captured for an order that does not exist: its handler fails every
    time, so it goes through the retry path (where a bad attempt header used to crash)."""
    return Envelope.new("payment.captured", {
        "order_id": f"ord_{marker}", "payment_id": "pay_1", "amount": 9000, "currency": "EUR", "method": "card",
        "card_brand": "visa", "card_last4": "4242", "captured_at": utcnow()}).to_json().encode()


@dataclass(frozen=True)
class Poison:
    name: str
    queue: str
    body: bytes
    #: what the parking reason must say
    reason: str
    properties: dict[str, Any] = field(default_factory=lambda: {"content_type": "application/json",
                                                                "delivery_mode": 2})
    #: a header the parked copy must carry (besides the reason)
    parked_header: str | None = None
    #: pika cannot send a float in a header; kombu's py-amqp can
    via_kombu: bool = False

    def __str__(self) -> str:
        return self.name


def attempt(name: str, value: Any, reason: str = "x-topup-attempt header") -> Poison:
    return Poison(f"attempt header {name}", CAPTURED, captured_for_nobody(name), reason,
                  {"content_type": "application/json", "headers": {"x-topup-attempt": value}},
                  via_kombu=isinstance(value, float))


DEEP = 200_000
#: headers that nearly fill RabbitMQ's 128 KiB frame: a copy with a parking reason as long as
#: this body's would not fit, and RabbitMQ would close the connection that sent it
FRAME_FILLER = "x" * 130_900
FRAME_FILLING_BODY = changed("frame", type="wallet." + "x" * 200)
POISONS = [
    Poison("nested 200,000 deep", CREDIT,
           b'{"type":"wallet.credit","payload":' + b"[" * DEEP + b"]" * DEEP + b"}", "nests deeper than 32"),
    Poison("nested 40 deep, parseable", CREDIT, changed("deep40", payload={"note": json.loads("[" * 40 + "]" * 40)}),
           "nests deeper than 32"),
    Poison("bytes that are not UTF-8", CREDIT, b'{"type":"wallet.credit","note":"\xff\xfe\xc3("}', "not UTF-8"),
    Poison("UTF-16 as its content encoding says", CREDIT, json.dumps({"note": "utf16"}).encode("utf-16"),
           "not UTF-8", {"content_type": "application/json", "content_encoding": "utf-16"}),
    Poison("gzip as its content encoding says", CREDIT, gzip.compress(changed("gzip")), "not UTF-8",
           {"content_type": "application/json", "content_encoding": "gzip"}),
    Poison("a pickle", CREDIT, pickle.dumps({"note": "pickle"}, protocol=5), "not UTF-8",
           {"content_type": "application/x-python-serialize", "content_encoding": "binary"}),
    Poison("a compression kombu does not know", CREDIT, changed("compression1"), "kombu could not decode",
           {"content_type": "application/json", "headers": {"compression": "application/x-nonsense"}}),
    Poison("a compression header on a plain body", CREDIT, changed("compression2"), "kombu could not decode",
           {"content_type": "application/json", "headers": {"compression": "application/x-gzip"}}),
    Poison("an integer beyond 64 bits", CREDIT, changed("huge", payload={"amount": 10**30}), "beyond 64 bits"),
    Poison("an integer of 5,000 digits", CREDIT,
           changed("digits").replace(b'"amount":100', b'"amount":' + b"9" * 5000), "beyond 64 bits"),
    Poison("NaN", CREDIT, changed("nan", payload={"amount": float("nan")}), "NaN is not a JSON number"),
    Poison("a number beyond a float", CREDIT, changed("inf").replace(b'"amount":100', b'"amount":1e400'),
           "too large for a float"),
    Poison("a NUL in a string", CREDIT, changed("nul", payload={"customer_id": "cus_\x00"}), "NUL"),
    Poison("a JSON array", CREDIT, b'["wallet.credit", "array"]', "JSON array, not an object"),
    Poison("a JSON string", CREDIT, b'"wallet.credit string"', "JSON string, not an object"),
    Poison("a JSON number", CREDIT, b"1234567", "JSON number, not an object"),
    Poison("a number for its message_id", CREDIT, changed("idnum", message_id=12345), "message_id is not text"),
    Poison("a list for its type", CREDIT, changed("typelist", type=["wallet.credit"]), "type is not text"),
    Poison("an unknown message type", CREDIT, changed("unknown", type="wallet.teleport"),
           "unknown message type 'wallet.teleport'"),
    Poison("a message type for another queue", CREDIT,
           Envelope.new("wallet.authorize_credit", {"order_id": "ord_x", "customer_id": "cus_x", "amount": 100,
                                                    "currency": "EUR"}).to_json().encode(),
           "wallet.authorize_credit delivered to credit"),
    Poison("no properties at all, unreadable", CREDIT, b'{"note": "no properties"}', "type is missing", {}),
    Poison("odd properties", CREDIT, b'{"note": "odd properties"}', "type is missing",
           {"content_type": "text/plain; charset=latin-1", "message_id": "not-a-uuid", "type": "no.such.type",
            "correlation_id": "c" * 255, "priority": 9, "timestamp": 0, "app_id": "\u652f\u4ed8"}),
    Poison("headers that fill the frame", CREDIT, FRAME_FILLING_BODY, "unknown message type",
           {"content_type": "application/json", "headers": {"filler": FRAME_FILLER}},
           parked_header="x-topup-headers-dropped"),
    attempt("of text", "abc"),
    attempt("of numeric text", "2"),
    attempt("below zero", -5),
    attempt("of zero", 0),
    attempt("of a fraction", 2.5),
    # (NaN cannot be one: RabbitMQ drops a message with a NaN in its headers at the door)
    attempt("of a list", [1, 2]),
    attempt("of a table", {"n": 1}),
    attempt("of a boolean", True),
    attempt("of void", None),
    attempt("of bytes", b"\xff\x01"),
    attempt("of a decimal", Decimal("2.50")),
    attempt("of a timestamp", datetime(2030, 1, 1, tzinfo=UTC)),
    attempt("beyond any retry", 2**62, reason="unknown order"),
    Poison("no properties at all, failing handler", CAPTURED, captured_for_nobody("bare"), "unknown order", {}),
]


# -- the system -----------------------------------------------------------------------------
@dataclass
class Running:
    system: LocalSystem
    runners: dict[str, ConsumerRunner]
    connections: dict[str, object]
    channel: Any  # pika's, to publish the poisons and read the parking queues
    frontend: Frontend
    customer: dict[str, Any]
    parked: list[tuple[str, bytes, dict[str, Any]]] = field(default_factory=list)

    @property
    def namespace(self) -> str:
        return self.system.settings.amqp_namespace

    def publish(self, poison: Poison) -> None:
        if poison.via_kombu:
            with Connection(self.system.settings.amqp_url) as conn:
                Producer(conn.default_channel).publish(poison.body, exchange="", serializer=None,
                                                       routing_key=f"{self.namespace}.{poison.queue}",
                                                       **poison.properties)
            return
        self.channel.basic_publish(exchange="", routing_key=f"{self.namespace}.{poison.queue}", body=poison.body,
                                   properties=pika.BasicProperties(**poison.properties), mandatory=True)

    def parked_copies(self, poison: Poison) -> list[dict[str, Any]]:
        for queue in (CREDIT, CAPTURED):
            while True:
                method, props, body = self.channel.basic_get(f"{self.namespace}.{queue}.dlq", auto_ack=True)
                if method is None:
                    break
                self.parked.append((queue, body, props.headers or {}))
        return [headers for queue, body, headers in self.parked if queue == poison.queue and body == poison.body]

    def reconnected(self) -> list[str]:
        return [name for name, runner in self.runners.items() if runner.connection is not self.connections[name]]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, pg_server: str, amqp_url: str) -> Iterator[Running]:
    dbs = Databases(pg_server)
    settings = top_up_settings(dbs, amqp_url, str(tmp_path_factory.mktemp("poison")))
    system = LocalSystem(settings).start(services=TOP_UP_SERVICES)  # notify is not needed for a top-up
    runners = {worker.name: runner for worker in system.workers for loop in worker.loops
               if isinstance(runner := getattr(loop, "__self__", None), ConsumerRunner)}
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    channel.confirm_delivery()
    frontend = Frontend(system)
    yield Running(system, runners, {name: runner.connection for name, runner in runners.items()}, channel,
                  frontend, frontend.register())
    connection.close()
    system.stop()
    delete_namespace(amqp_url, settings.amqp_namespace)
    dbs.drop_all()


@pytest.mark.parametrize("poison", POISONS, ids=str)
def test_a_poison_message_is_parked_with_its_reason_while_a_top_up_completes(running: Running,
                                                                               poison: Poison) -> None:
    frontend, who = running.frontend, running.customer
    order = frontend.top_up(who, 2000)
    running.publish(poison)
    assert frontend.pay(order).status_code == 200
    frontend.wait_status(who, order["order_id"], "completed", timeout=20)

    [headers] = wait_for(lambda: running.parked_copies(poison), what=f"{poison} parked")
    assert poison.reason in str(headers[REASON]), headers[REASON]
    if poison.parked_header:
        assert poison.parked_header in headers
    assert running.reconnected() == [], "a consumer reconnected"
    assert running.parked_copies(poison) == [headers], "parked once"


def test_a_valid_message_without_any_properties_is_handled(running: Running) -> None:
    """Missing properties change nothing: the body decides."""
    command = Envelope.new("wallet.credit", json.loads(changed("bare"))["payload"])
    message = Poison("a valid command without properties", CREDIT, command.to_json().encode(), "", {})
    running.publish(message)

    def noted() -> bool:
        with running.system.contexts["wallet"].sessions() as session:
            return session.get(InboxMessage, ("credit", command.message_id)) is not None

    wait_for(noted, what="the command handled")
    assert running.reconnected() == []
    assert running.parked_copies(message) == []


# -- the embedded default -------------------------------------------------------------------
MEMORY_POISONS = [
    ("nested 200,000 deep", b'{"type":"wallet.credit","payload":' + b"[" * DEEP + b"]" * DEEP + b"}", {},
     "nests deeper than 32"),
    ("a number for its message_id", changed("idnum", message_id=12345), {}, "message_id is not text"),
    ("a compression kombu does not know", changed("compression"), {"compression": "application/x-nonsense"},
     "kombu could not decode"),
    ("attempt header of text", changed("failing"), {"x-topup-attempt": "abc"}, "x-topup-attempt header"),
    ("attempt header of NaN", changed("failing"), {"x-topup-attempt": float("nan")}, "x-topup-attempt header"),
    ("attempt header of a list", changed("failing"), {"x-topup-attempt": [1]}, "x-topup-attempt header"),
    ("attempt header below zero", changed("failing"), {"x-topup-attempt": -1}, "x-topup-attempt header"),
]


@pytest.mark.parametrize(("body", "headers", "reason"), [p[1:] for p in MEMORY_POISONS],
                         ids=[p[0] for p in MEMORY_POISONS])
def test_a_poison_message_is_parked_on_the_embedded_transport_too(sqlite_settings: Settings, body: bytes,
                                                                  headers: dict[str, Any], reason: str) -> None:
    """The wallet's runner on kombu's memory transport and SQLite, its credit handler failing
    for the order `ord_failing` (the retry path) and noting every other: the poison is parked,
    the good command after it is handled, and the runner never reconnects."""
    context = wallet_app.start(sqlite_settings)
    handled: list[str] = []

    def credit_handler(session: object, msg: Envelope) -> None:
        if msg.payload["order_id"] == "ord_failing":
            raise LookupError("unknown order ord_failing")
        handled.append(msg.payload["order_id"])

    runner, stop, thread = run_wallet_runner(context.settings, context.sessions, credit_handler)
    started_on = runner.connection
    queue = f"{sqlite_settings.amqp_namespace}.{CREDIT}"
    try:
        with Connection("memory://") as conn:
            wait_for(lambda: conn.default_channel._has_queue(queue), what="declared")
            producer = Producer(conn.default_channel)
            good = Envelope.new("wallet.credit", json.loads(changed("good"))["payload"])
            for message, message_headers in ((body, headers), (good.to_json().encode(), {})):
                producer.publish(message, exchange="", routing_key=queue, headers=message_headers,
                                 content_type="application/json", content_encoding="utf-8", serializer=None)
            wait_for(lambda: handled == ["ord_good"], what="the good command handled")
            parked = wait_for(lambda: conn.default_channel.basic_get(f"{queue}.dlq", no_ack=True),
                              what="the poison parked in memory")
    finally:
        stop.set()
        thread.join(5)
        context.engine.dispose()
    assert parked.body == body
    assert reason in parked.headers[REASON]
    assert runner.connection is started_on, "the runner reconnected"


def run_wallet_runner(settings: Settings, sessions: Any, credit_handler: Callable[..., None],
                      topology: Topology | None = None) -> tuple[ConsumerRunner, threading.Event, threading.Thread]:
    def ignore(session: object, msg: object) -> None:
        return None

    handlers = {"open_account": ignore, "update_customer": ignore, "authorize_credit": ignore,
                "credit": credit_handler}
    runner = ConsumerRunner("wallet", sessions, InboxMessage, handlers,  # type: ignore[arg-type]
                            connect(settings.amqp_url), topology or Topology(settings.amqp_namespace),
                            RetryPolicy(max_attempts=3, base_seconds=0.05))
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
    thread.start()
    return runner, stop, thread


# -- the last resort ------------------------------------------------------------------------
def test_a_message_whose_copy_breaks_the_connection_is_rejected_to_the_parking_queue(
        running: Running, amqp_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the header budget, parking headers that fill the frame makes RabbitMQ close
    the connection (frame_too_large). The message comes back; after the second break it is
    rejected, RabbitMQ dead-letters it, as it was, to the same parking queue, and the runner
    goes on with the next message."""
    monkeypatch.setattr(received, "HEADER_BUDGET", 10**9)
    namespace, handled = new_namespace(), []
    runner, stop, thread = run_wallet_runner(running.system.settings, running.system.contexts["wallet"].sessions,
                                             lambda session, msg: handled.append(msg.message_id),
                                             Topology(namespace))
    started_on = runner.connection
    queue = f"{namespace}.{CREDIT}"
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        wait_declared(connection, queue)
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(exchange="", routing_key=queue, body=FRAME_FILLING_BODY, mandatory=True,
                              properties=pika.BasicProperties(headers={"filler": FRAME_FILLER}))

        def dead_lettered() -> Any:
            method, props, body = channel.basic_get(f"{queue}.dlq", auto_ack=True)
            return (props, body) if method is not None else None

        props, body = wait_for(dead_lettered, timeout=15, what="the message dead-lettered")
        good = Envelope.new("wallet.credit", json.loads(changed("after"))["payload"])
        channel.basic_publish(exchange="", routing_key=queue, body=good.to_json().encode(), mandatory=True)
        wait_for(lambda: handled == [good.message_id], what="the next message handled")
    finally:
        connection.close()
        stop.set()
        thread.join(5)
        delete_namespace(amqp_url, namespace)
    assert body == FRAME_FILLING_BODY and props.headers["filler"] == FRAME_FILLER
    assert props.headers["x-death"][0]["reason"] == "rejected"
    assert runner.connection is not started_on, "this one did break the connection (twice)"


def wait_declared(connection: Any, queue: str) -> None:
    """Until the runner has declared the queue and, after it, its parking queue."""
    wait_for(lambda: queue_exists(connection, queue) and queue_exists(connection, f"{queue}.dlq"),
             what="the runner's queue and its parking queue declared")


def queue_exists(connection: Any, queue: str) -> bool:
    channel = connection.channel()
    try:
        channel.queue_declare(queue, passive=True)
    except pika.exceptions.ChannelClosedByBroker:
        return False
    channel.close()
    return True


def test_a_copy_refused_on_a_live_connection_is_settled_another_way(running: Running, amqp_url: str) -> None:
    """A retry that cannot be published is parked instead; a parking that cannot be
    published falls back to a reject, which RabbitMQ dead-letters to the same parking queue.
    Neither costs a reconnect."""
    namespace = new_namespace()
    runner, stop, thread = run_wallet_runner(running.system.settings, running.system.contexts["wallet"].sessions,
                                             failing_handler, Topology(namespace))
    publish_parked = runner._publish_parked

    def refused_retry(*args: object) -> None:
        raise RuntimeError("the retry queue said no")

    def parked_unless_refused(sub: Any, message: Any, reason: str) -> None:
        if b"refuse-parking" in message.body:
            raise RuntimeError("the parking queue said no")
        publish_parked(sub, message, reason)

    runner._schedule_retry = refused_retry  # type: ignore[method-assign, assignment]
    runner._publish_parked = parked_unless_refused  # type: ignore[method-assign, assignment]
    started_on, queue = runner.connection, f"{namespace}.{CREDIT}"
    failing = Envelope.new("wallet.credit", json.loads(changed("retry-refused"))["payload"]).to_json().encode()
    unreadable = b'{"note": "refuse-parking"}'
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        wait_declared(connection, queue)
        channel = connection.channel()
        for body in (failing, unreadable):
            channel.basic_publish(exchange="", routing_key=queue, body=body)
        parked: dict[bytes, dict[str, Any]] = {}

        def both_parked() -> bool:
            method, props, body = channel.basic_get(f"{queue}.dlq", auto_ack=True)
            if method is not None:
                parked[body] = props.headers or {}
            return len(parked) == 2

        wait_for(both_parked, what="both messages in the parking queue")
    finally:
        connection.close()
        stop.set()
        thread.join(5)
        delete_namespace(amqp_url, namespace)
    assert "its retry could not be published: RuntimeError('the retry queue said no')" in parked[failing][REASON]
    assert parked[unreadable]["x-death"][0]["reason"] == "rejected" and REASON not in parked[unreadable]
    assert runner.connection is started_on, "the runner reconnected"


def failing_handler(session: object, msg: Envelope) -> None:
    raise LookupError(f"unknown order {msg.payload['order_id']}")
