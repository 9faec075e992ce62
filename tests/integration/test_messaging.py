"""The messaging layer on real RabbitMQ and PostgreSQL: retries, parking, the inbox, the relay.

Uses the wallet's tables as any service's outbox and inbox, with handlers written for the
test, so each failure mode is forced on purpose.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import pika
import pytest
from sqlalchemy import event, select

from deploy.infra import Databases
from services.wallet import app as wallet_app
from services.wallet.models import InboxMessage, OutboxMessage
from shared.config import Settings
from shared.db import unit_of_work
from shared.messaging.broker import connect
from shared.messaging.consumer import ConsumerRunner, RetryPolicy
from shared.messaging.envelope import Envelope
from shared.messaging.outbox import put
from shared.messaging.parking import parked_counts
from shared.messaging.relay import OutboxRelay
from shared.messaging.topology import Topology
from shared.messaging.worker import declare_topology
from shared.service import ServiceContext
from tests.helpers import publish_raw, wait_for

QUEUE = "wallet.credit"


def credit_command(order_id: str = "ord_1") -> Envelope:
    return Envelope.new("wallet.credit", {"order_id": order_id, "customer_id": "cus_1", "amount": 100,
                                          "charge_amount": 100, "currency": "EUR", "validity_days": 365})


@pytest.fixture
def ctx(pg_settings: Settings) -> Iterator[ServiceContext]:
    context = wallet_app.start(pg_settings)
    declare_topology(pg_settings)
    yield context
    context.stop()


def run_consumer(ctx: ServiceContext, credit_handler: object) -> tuple[threading.Event, threading.Thread]:
    def ignore(session: object, msg: object) -> None:
        return None

    handlers = {"open_account": ignore, "update_customer": ignore, "authorize_credit": ignore,
                "credit": credit_handler}
    runner = ConsumerRunner("wallet", ctx.sessions, InboxMessage, handlers,  # type: ignore[arg-type]
                            connect(ctx.settings.amqp_url), Topology(ctx.settings.amqp_namespace),
                            RetryPolicy(max_attempts=3, base_seconds=0.05))
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
    thread.start()
    return stop, thread


def parked(settings: Settings, queue: str = QUEUE) -> list[tuple[bytes, dict[str, object]]]:
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    try:
        channel = connection.channel()
        found = []
        while True:
            method, props, body = channel.basic_get(f"{settings.amqp_namespace}.{queue}.dlq", auto_ack=True)
            if method is None:
                return found
            found.append((body, props.headers or {}))
    finally:
        connection.close()


def test_a_handler_that_keeps_failing_is_retried_with_backoff_then_parked(ctx: ServiceContext) -> None:
    attempts: list[str] = []

    def failing(session: object, msg: Envelope) -> None:
        attempts.append(msg.message_id)
        raise RuntimeError("the ledger is on fire")

    stop, thread = run_consumer(ctx, failing)
    message = credit_command()
    publish_raw(ctx.settings.amqp_url, ctx.settings.amqp_namespace, message)
    found = wait_for(lambda: parked(ctx.settings), timeout=10, what="the message in the parking queue")
    stop.set()
    thread.join(5)
    assert attempts == [message.message_id] * 3
    body, headers = found[0]
    assert json.loads(body)["message_id"] == message.message_id
    assert "the ledger is on fire" in str(headers["x-topup-parked-reason"])
    with ctx.sessions() as session:
        assert session.scalar(select(InboxMessage).where(InboxMessage.message_id == message.message_id)) is None


def test_a_handler_that_recovers_is_processed_once(ctx: ServiceContext) -> None:
    calls: list[int] = []

    def flaky(session: object, msg: Envelope) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("database blinked")

    stop, thread = run_consumer(ctx, flaky)
    message = credit_command()
    publish_raw(ctx.settings.amqp_url, ctx.settings.amqp_namespace, message)
    publish_raw(ctx.settings.amqp_url, ctx.settings.amqp_namespace, message)  # and a duplicate
    wait_for(lambda: len(calls) >= 2, what="the retry")

    def noted() -> bool:
        with ctx.sessions() as session:
            return session.get(InboxMessage, ("credit", message.message_id)) is not None

    wait_for(noted, what="the inbox note")
    stop.set()
    thread.join(5)
    assert len(calls) == 2, "one failure, one success; the duplicate changed nothing"
    assert parked(ctx.settings) == []


def test_messages_that_arrive_together_share_a_transaction_and_one_failure_spoils_none(
        ctx: ServiceContext) -> None:
    """Six commands queued while the worker was down arrive together. Their handlers write an
    outbox row each; the one for ord_3 always fails. The batch's transaction is rolled back,
    the five good ones commit one by one (exactly one row each), ord_3 alone is retried."""
    sessions: list[object] = []

    def handler(session: object, msg: Envelope) -> None:
        sessions.append(session)
        if msg.payload["order_id"] == "ord_3":
            raise RuntimeError("this account is cursed")
        put(session, OutboxMessage, Envelope.new("wallet.credited", {  # type: ignore[arg-type]
            "order_id": msg.payload["order_id"], "customer_id": "cus_1", "entry_id": "je_1", "amount": 100,
            "currency": "EUR", "balance_after": 100}))

    commands = [credit_command(f"ord_{i}") for i in range(6)]
    for command in commands:
        publish_raw(ctx.settings.amqp_url, ctx.settings.amqp_namespace, command)
    stop, thread = run_consumer(ctx, handler)
    found = wait_for(lambda: parked(ctx.settings), timeout=10, what="ord_3 parked")
    stop.set()
    thread.join(5)
    assert [json.loads(body)["payload"]["order_id"] for body, _ in found] == ["ord_3"]
    with ctx.sessions() as session:
        credited = sorted(json.loads(row.body)["payload"]["order_id"] for row in session.scalars(select(OutboxMessage)))
        noted = set(session.scalars(select(InboxMessage.message_id)))
    assert credited == ["ord_0", "ord_1", "ord_2", "ord_4", "ord_5"]
    assert noted == {c.message_id for c in commands if c.payload["order_id"] != "ord_3"}
    assert len({id(s) for s in sessions}) < len(sessions) - 2, "the first delivery shared one transaction"


def test_a_batch_notes_its_messages_in_one_statement_and_writes_its_outbox_rows_in_another(
        ctx: ServiceContext) -> None:
    """Five commands and a copy of one, queued while the worker was down, arrive together:
    one inbox statement notes them all (the copy is seen as a duplicate and handled once),
    and the five outbox rows their handlers put go out as one statement before the commit."""
    handled: list[str] = []

    def handler(session: object, msg: Envelope) -> None:
        handled.append(msg.payload["order_id"])
        put(session, OutboxMessage, Envelope.new("wallet.credited", {  # type: ignore[arg-type]
            "order_id": msg.payload["order_id"], "customer_id": "cus_1", "entry_id": "je_1", "amount": 100,
            "currency": "EUR", "balance_after": 100}))

    commands = [credit_command(f"ord_{i}") for i in range(5)]
    for command in [*commands, commands[2]]:
        publish_raw(ctx.settings.amqp_url, ctx.settings.amqp_namespace, command)
    statements: list[str] = []
    listen = lambda conn, cursor, statement, *rest: statements.append(statement)  # noqa: E731
    event.listen(ctx.engine, "before_cursor_execute", listen)
    try:
        stop, thread = run_consumer(ctx, handler)
        wait_for(lambda: len(handled) >= 5, what="the five handled")
        stop.set()
        thread.join(5)
    finally:
        event.remove(ctx.engine, "before_cursor_execute", listen)
    assert sorted(handled) == [f"ord_{i}" for i in range(5)], "the copy was not handled again"
    inbox = [s for s in statements if s.lstrip().upper().startswith("INSERT INTO INBOX")]
    outbox = [s for s in statements if s.lstrip().upper().startswith("INSERT INTO OUTBOX")]
    # They arrive together, so one batch, one statement each (two, should the broker split them).
    assert len(inbox) == len(outbox) <= 2, statements
    with ctx.sessions() as session:
        assert len(session.scalars(select(OutboxMessage)).all()) == 5
        assert set(session.scalars(select(InboxMessage.message_id))) == {c.message_id for c in commands}


@pytest.mark.parametrize("body", [b"\x00 not json", b'{"type": "wallet.credit", "payload": {"order_id": 5}}'])
def test_an_unreadable_message_is_parked_not_dropped(ctx: ServiceContext, body: bytes) -> None:
    calls: list[int] = []
    stop, thread = run_consumer(ctx, lambda session, msg: calls.append(1))
    publish_raw(ctx.settings.amqp_url, ctx.settings.amqp_namespace, body=body, message_type="wallet.credit")
    found = wait_for(lambda: parked(ctx.settings), what="the unreadable message parked")
    stop.set()
    thread.join(5)
    assert found[0][0] == body and calls == []
    assert str(found[0][1]["x-topup-parked-reason"]).startswith("unreadable")


def credited(i: int) -> Envelope:
    return Envelope.new("wallet.credited", {"order_id": f"ord_{i}", "customer_id": "cus_1", "entry_id": f"je_{i}",
                                            "amount": 1, "currency": "EUR", "balance_after": i})


def drain(settings: Settings, queue: str) -> list[str]:
    """The message ids waiting in a queue, in order (each checked persistent)."""
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    channel, ids = connection.channel(), []
    while True:
        method, props, body = channel.basic_get(f"{settings.amqp_namespace}.{queue}", auto_ack=True)
        if method is None:
            break
        assert props.delivery_mode == 2
        ids.append(json.loads(body)["message_id"])
    connection.close()
    return ids


def unmarked(ctx: ServiceContext) -> int:
    with ctx.sessions() as session:
        return sum(1 for row in session.scalars(select(OutboxMessage)) if row.published_at is None)


def test_a_commit_publishes_its_own_rows_at_once_in_order_and_marks_them_later(ctx: ServiceContext) -> None:
    messages = [credited(i) for i in range(5)]
    with unit_of_work(ctx.sessions) as session:
        put(session, OutboxMessage, *messages)
    assert drain(ctx.settings, "order.credited") == [m.message_id for m in messages], "published as it committed"
    assert ctx.publisher is not None and ctx.publisher.mark_now() == 5, "the five marks in one statement"
    assert unmarked(ctx) == 0
    relay = OutboxRelay("wallet", ctx.sessions, OutboxMessage, connect(ctx.settings.amqp_url),
                        Topology(ctx.settings.amqp_namespace), poll_seconds=0.01, stale_after=0)
    assert relay.publish_pending() == 0, "nothing left for the relay"


def test_stopping_writes_the_marks_still_queued_and_leaves_no_connection_open(
        ctx: ServiceContext, databases: Databases) -> None:
    """A process that stops between a publish and its mark (at most MARK_EVERY) writes the
    mark as it stops, or the relay of the next process would publish the row again; and its
    marker thread does not reopen a connection after the engine is disposed."""
    assert ctx.publisher is not None
    with unit_of_work(ctx.sessions) as session:
        put(session, OutboxMessage, credited(1))
    assert drain(ctx.settings, "order.credited") and unmarked(ctx) == 1, "published, not yet marked"
    ctx.stop()
    assert unmarked(ctx) == 0
    ctx.engine.dispose()  # the read above
    time.sleep(ctx.publisher.MARK_EVERY + 0.5)  # the marker's next round, had it survived
    assert databases.left_open() == {}


def test_nothing_is_published_for_a_transaction_or_savepoint_that_rolled_back(ctx: ServiceContext) -> None:
    kept, lost, undone = credited(1), credited(2), credited(3)
    with pytest.raises(RuntimeError), unit_of_work(ctx.sessions) as session:
        put(session, OutboxMessage, undone)
        raise RuntimeError("the handler failed")
    with unit_of_work(ctx.sessions) as session:
        put(session, OutboxMessage, kept)
        with pytest.raises(RuntimeError), session.begin_nested():
            put(session, OutboxMessage, lost)
            raise RuntimeError("the savepoint failed")
    assert drain(ctx.settings, "order.credited") == [kept.message_id]


def test_what_a_crash_left_between_commit_and_publish_is_swept_by_the_relay(ctx: ServiceContext) -> None:
    """The process dies right after its commit (here: its publisher never runs): the rows
    wait, unmarked, and another worker's relay publishes them, in order, once they are stale."""
    assert ctx.publisher is not None
    ctx.publisher.publish = lambda messages: None  # type: ignore[method-assign]
    messages = [credited(i) for i in range(5)]
    with unit_of_work(ctx.sessions) as session:
        put(session, OutboxMessage, *messages)
    assert drain(ctx.settings, "order.credited") == [] and unmarked(ctx) == 5
    relay = OutboxRelay("wallet", ctx.sessions, OutboxMessage, connect(ctx.settings.amqp_url),
                        Topology(ctx.settings.amqp_namespace), poll_seconds=0.01, stale_after=0.3)
    assert relay.publish_pending() == 0, "not yet: a live committer may still be publishing them"
    wait_for(lambda: relay.publish_pending() == 5, timeout=5, what="the stale rows swept")
    assert unmarked(ctx) == 0 and relay.publish_pending() == 0
    assert drain(ctx.settings, "order.credited") == [m.message_id for m in messages]


def test_retry_and_parking_work_on_the_embedded_in_memory_transport(sqlite_settings: Settings) -> None:
    from kombu import Connection, Producer

    context = wallet_app.start(sqlite_settings)
    attempts: list[int] = []

    def failing(session: object, msg: Envelope) -> None:
        attempts.append(1)
        raise RuntimeError("still failing")

    stop, thread = run_consumer(context, failing)
    topology = Topology(sqlite_settings.amqp_namespace)
    with Connection("memory://") as conn:
        wait_for(lambda: conn.default_channel._has_queue(f"{topology.namespace}.wallet.credit"), what="declared")
        Producer(conn.default_channel).publish(credit_command().to_json(), exchange=topology.exchange("order"),
                                               routing_key="wallet.credit", content_type="application/json",
                                               content_encoding="utf-8", serializer=None)

        def parked_here() -> object:
            return conn.default_channel.basic_get(f"{topology.namespace}.wallet.credit.dlq", no_ack=True)

        wait_for(lambda: parked_counts(sqlite_settings) == {"wallet.credit": 1}, what="counted as parked (console)")
        message = wait_for(parked_here, what="the message parked in memory")
        assert parked_counts(sqlite_settings) == {}
    stop.set()
    thread.join(5)
    context.engine.dispose()
    assert len(attempts) == 3
    assert "still failing" in message.headers["x-topup-parked-reason"]
