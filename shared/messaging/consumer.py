"""The one consumer runner: queue -> handler, with the inbox, retries and parking.

For each message: parse and validate the envelope; in one transaction, note it in the inbox
and run the handler (whose outbox rows commit with it); then ack. Messages that arrived
together share that transaction, their inbox notes one statement and their outbox rows
another (see `process_batch` and `_apply`). A message that cannot be read is parked at
once (retrying will not make it readable; kombu's own default would drop it). A handler
that raises is retried with exponential backoff through the queue's retry queue, and
parked after `max_attempts`: never lost, never retried forever.

Nothing a message holds may reach the run loop, whose one answer is to reconnect: the
broker would deliver the same message again, and the service would do nothing else (a body
nested 200,000 deep once cost 261 reconnects in 2.5 minutes, and no top-up moved). So every
failure on one message ends with that message settled: handled, retried or parked, and if
even its copy cannot be published, rejected to the broker's dead-lettering (`_park`).
Only a lost connection goes back to the loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from kombu import Connection, Consumer, Producer
from kombu.message import Message
from sqlalchemy.orm import Session, sessionmaker

from shared import metrics, tracing
from shared.db import unit_of_work
from shared.loops import backoff
from shared.messaging import writebehind
from shared.messaging.broker import MEMORY_URL, close_quietly, connect, is_memory, reopened
from shared.messaging.envelope import Envelope, InvalidMessage
from shared.messaging.inbox import InboxMixin, first_times
from shared.messaging.received import (
    ATTEMPT_HEADER,
    PARKED_REASON_HEADER,
    Breakers,
    as_text,
    attempt_of,
    body_of,
    copied_headers,
    headers_of,
    properties_of,
)
from shared.messaging.topology import Subscription, Topology

log = structlog.get_logger(__name__)

Handler = Callable[[Session, Envelope], None]
REASON_CHARS = 500


def order_id_of(envelope: Envelope) -> str | None:
    """The order a message is about, for its log lines and its span: saga traffic names it."""
    order_id = envelope.payload.get("order_id")
    return order_id if isinstance(order_id, str) else None


@dataclass(frozen=True)
class Delivery:
    sub: Subscription
    message: Message
    envelope: Envelope
    attempt: int


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_seconds: float = 1.0
    cap_seconds: float = 300.0

    def delay(self, attempt: int) -> float:
        """Backoff before attempt number `attempt + 1` (attempts count from 1)."""
        return backoff(attempt, self.base_seconds, self.cap_seconds)


class ConsumerRunner:
    def __init__(
        self,
        service: str,
        sessions: sessionmaker[Session],
        inbox: type[InboxMixin],
        handlers: dict[str, Handler],
        connection: Connection,
        topology: Topology,
        retry: RetryPolicy,
        prefetch: int = 32,
    ) -> None:
        self.service = service
        self.sessions = sessions
        self.inbox = inbox
        self.connection = connection
        self.topology = topology
        self.retry = retry
        self.prefetch = prefetch
        self.subscriptions = topology.subscriptions(service)
        missing = {s.handler for s in self.subscriptions} - set(handlers)
        if missing:
            raise ValueError(f"{service}: no handler for {sorted(missing)}")
        self.handlers = handlers
        self.batch_size = 1 if is_memory(connection.as_uri()) else prefetch
        self._received: list[tuple[Subscription, Message]] = []
        self._producer: Producer | None = None
        self._breakers = Breakers()

    # -- messages, a batch at a time ---------------------------------------------------------
    def process(self, sub: Subscription, message: Message) -> None:
        """Handle one message on its own (the batch path's fallback, and the tests' entry)."""
        delivery = self._read(sub, message)
        if delivery is not None:
            self._handle_one(delivery)

    def process_batch(self, received: list[tuple[Subscription, Message]]) -> None:
        """Handle every message that arrived together in one transaction: one commit instead
        of one per message, which is most of a message's cost under load. If any handler
        fails, the whole batch rolls back and each message is handled alone, so that only the
        failing one is retried and the others commit as they would have."""
        batch = [delivery for sub, message in received if (delivery := self._read(sub, message)) is not None]
        if len(batch) <= 1:
            for delivery in batch:
                self._handle_one(delivery)
            return
        self._prepare(batch)
        try:
            with unit_of_work(self.sessions) as session:
                fresh = self._apply(session, batch)
        except Exception:  # noqa: BLE001 - find the failing message by handling them one at a time
            for delivery in batch:
                self._handle_one(delivery)
            return
        for delivery in batch:
            delivery.message.ack()
        self._after_commit(batch, fresh)

    def _prepare(self, batch: list[Delivery]) -> None:
        """Let a handler that can do part of its work ahead, outside the transaction, do it
        for all of the batch's messages at once (`prepare`: the payment service opens a
        batch's checkouts at the gateways together). What it prepares must be safe to do
        for a message that turns out to be a duplicate; its failure only loses the head start."""
        by_handler: dict[str, list[Envelope]] = {}
        for delivery in batch:
            by_handler.setdefault(delivery.sub.handler, []).append(delivery.envelope)
        for name, envelopes in by_handler.items():
            prepare = getattr(self.handlers[name], "prepare", None)
            if prepare is not None:
                try:
                    prepare(envelopes)
                except Exception:
                    log.exception("prepare_failed", handler=name, messages=len(envelopes))

    def _read(self, sub: Subscription, message: Message) -> Delivery | None:
        """The message as a delivery to handle. One that cannot be read is parked at once,
        whatever made the reading fail; one whose copies broke the connection is rejected."""
        if self._breakers.tripped(message):
            self._reject(sub, message, "publishing a copy of it broke the connection twice")
            return None
        try:
            if message.errors:  # kombu could not decode it (an unknown compression, say)
                raise InvalidMessage(f"kombu could not decode it: {message.errors[0][1]!r}")
            envelope = Envelope.from_json(message.body)
            if envelope.type != sub.message_type:
                raise InvalidMessage(f"{envelope.type} delivered to {sub.handler}")
            return Delivery(sub, message, envelope, attempt_of(headers_of(message)))
        except Exception as exc:  # noqa: BLE001 - nothing a message holds may escape to the run loop
            reason = f"unreadable: {exc if isinstance(exc, InvalidMessage) else repr(exc)}"[:REASON_CHARS]
        log.error("message_unreadable", queue=self.topology.queue_name(sub), error=reason)
        self._park(sub, message, reason)
        return None

    def _apply(self, session: Session, batch: list[Delivery]) -> list[bool]:
        """Note the messages in the inbox (one statement) and run the handler of each that
        was not seen before. The rows the handlers append for later readers (outbox,
        timeline) are written together just before the commit (writebehind.py)."""
        fresh = first_times(session, self.inbox,
                            [(d.sub.handler, d.envelope.message_id, d.envelope.type) for d in batch])
        with writebehind.deferred(session):
            for delivery, new in zip(batch, fresh, strict=True):
                if new:
                    envelope = delivery.envelope
                    with tracing.consuming(self.service, self.topology.queue_name(delivery.sub), envelope.type,
                                           envelope.message_id, envelope.headers, order_id_of(envelope)):
                        self.handlers[delivery.sub.handler](session, envelope)
        return fresh

    def _handle_one(self, delivery: Delivery) -> None:
        try:
            with unit_of_work(self.sessions) as session:
                fresh = self._apply(session, [delivery])
        except Exception as exc:  # noqa: BLE001 - any handler failure goes to retry/park
            self._failed(delivery, exc)
            return
        delivery.message.ack()
        self._after_commit([delivery], fresh)

    def _after_commit(self, batch: list[Delivery], fresh: list[bool]) -> None:
        for delivery, new in zip(batch, fresh, strict=True):
            metrics.CONSUMED.labels(self.topology.queue_name(delivery.sub), "handled" if new else "duplicate").inc()
            if not new:
                self._bound(delivery).info("message_duplicate")

    @staticmethod
    def _bound(delivery: Delivery) -> Any:
        envelope = delivery.envelope
        return log.bind(handler=delivery.sub.handler, message_id=envelope.message_id,
                        type=envelope.type, correlation_id=envelope.correlation_id)

    def _failed(self, delivery: Delivery, exc: Exception) -> None:
        sub, message, attempt, bound = delivery.sub, delivery.message, delivery.attempt, self._bound(delivery)
        if attempt >= self.retry.max_attempts:
            bound.error("message_parked", attempt=attempt, error=repr(exc))
            self._park(sub, message, repr(exc))
            return
        delay = self.retry.delay(attempt)
        bound.warning("message_retry", attempt=attempt, retry_in=delay, error=repr(exc))
        refused = self._copy(message, lambda: self._schedule_retry(sub, message, attempt + 1, delay))
        if refused is None:
            message.ack()
            metrics.RETRIED.labels(self.topology.queue_name(sub)).inc()
        else:
            bound.error("message_retry_failed", attempt=attempt, error=repr(refused))
            self._park(sub, message, f"{exc!r}; its retry could not be published: {refused!r}")

    # -- retry and parking ---------------------------------------------------------------
    def _park(self, sub: Subscription, message: Message, reason: str) -> None:
        """A copy to the parking queue with the reason in a header, then the ack."""
        refused = self._copy(message, lambda: self._publish_parked(sub, message, reason))
        if refused is None:
            message.ack()
            metrics.PARKED.labels(self.topology.queue_name(sub)).inc()
        else:
            self._reject(sub, message, f"{reason}; parking failed: {refused!r}")

    def _reject(self, sub: Subscription, message: Message, reason: str) -> None:
        """The last resort, publishing nothing: RabbitMQ dead-letters a rejected message to
        the same parking queue (its queue's `x-dead-letter-exchange`), body and headers as
        they were, the reason only in `x-death` and in this log line. The in-memory
        transport has no dead-lettering: there the log line is all that is left."""
        log.error("message_rejected", queue=self.topology.queue_name(sub), reason=reason[:REASON_CHARS],
                  message_id=as_text(properties_of(message).get("message_id")))
        message.reject(requeue=False)
        metrics.PARKED.labels(self.topology.queue_name(sub)).inc()

    def _copy(self, message: Message, publish: Callable[[], None]) -> Exception | None:
        """Publish a copy of `message` (its retry or its parking). Returns the error if the
        broker or the client refused the copy while the connection lived on: the message's
        own fault, for the caller to settle another way. A lost connection goes to the run
        loop (the message comes back unacked), and is counted against the message in case
        it was the copy that broke it."""
        try:
            publish()
        except Exception as exc:  # sorted out just below: lost connection or refused copy
            if not self._connected():
                self._producer = None
                self._breakers.broke(message)
                raise
            self._drop_producer()
            return exc
        self._breakers.forget(message)
        return None

    def _publish_kwargs(self, message: Message, headers: dict[Any, Any], *, as_received: bool) -> dict[str, Any]:
        """A copy's properties: the ids the message came with, and, for a parked copy, its
        own content type and encoding (its body is copied byte for byte, readable or not)."""
        props = properties_of(message)
        content_type = as_text(message.content_type) if as_received else None
        content_encoding = as_text(message.content_encoding) if as_received else None
        return {
            "content_type": content_type or "application/json",
            "content_encoding": content_encoding or "utf-8",
            "serializer": None,
            "delivery_mode": 2,
            "headers": headers,
            "message_id": as_text(props.get("message_id")),
            "type": as_text(props.get("type")),
            "correlation_id": as_text(props.get("correlation_id")),
            "retry": False,
        }

    def _schedule_retry(self, sub: Subscription, message: Message, attempt: int, delay: float) -> None:
        headers = {**copied_headers(message), ATTEMPT_HEADER: attempt}
        queue = self.topology.queue_name(sub)
        body = body_of(message)
        kwargs = self._publish_kwargs(message, headers, as_received=False)
        if is_memory(self.connection.as_uri()):
            # The in-memory transport has no TTL or dead-lettering: wait in a timer instead.
            def later() -> None:
                try:
                    with connect(MEMORY_URL) as conn:
                        Producer(conn.channel()).publish(body, exchange="", routing_key=queue, **kwargs)
                except Exception as exc:  # noqa: BLE001 - a timer thread has no one to tell but the log
                    log.error("message_retry_lost", queue=queue, message_id=kwargs["message_id"], error=repr(exc))

            timer = threading.Timer(delay, later)
            timer.daemon = True
            timer.start()
            return
        self._producer_for_retries().publish(body, exchange="", routing_key=f"{queue}.retry", expiration=delay,
                                             **kwargs)

    def _publish_parked(self, sub: Subscription, message: Message, reason: str) -> None:
        headers = {**copied_headers(message), PARKED_REASON_HEADER: reason[:REASON_CHARS]}
        self._producer_for_retries().publish(
            body_of(message),
            exchange=self.topology.dead_letter_exchange,
            routing_key=self.topology.queue_name(sub),
            **self._publish_kwargs(message, headers, as_received=True),
        )

    def _producer_for_retries(self) -> Producer:
        if self._producer is None:
            self._producer = Producer(self.connection.channel())
        return self._producer

    def _drop_producer(self) -> None:
        """Close the producer's channel after a refused copy (the broker may have closed it
        already) so that the next copy opens a fresh one. Only on a live connection: on a
        dead one, closing a channel could wait for an answer that never comes."""
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.channel.close()
            except Exception:  # noqa: BLE001 - it may be closed already; that is why we drop it
                pass

    def _connected(self) -> bool:
        try:
            return bool(self.connection.connected)
        except Exception:  # noqa: BLE001
            return False

    # -- the loop ------------------------------------------------------------------------
    def _consumers(self, channel: Any) -> list[Consumer]:
        # py-amqp would decode a body by its content_encoding, and leave it as bytes when it
        # cannot: the envelope reads UTF-8 itself, and a parked copy keeps the bytes as sent.
        if hasattr(channel, "auto_decode"):
            channel.auto_decode = False
        consumers = []
        for sub in self.subscriptions:
            consumer = Consumer(
                channel,
                queues=[self.topology.queue(sub)],
                on_message=lambda message, sub=sub: self._received.append((sub, message)),
                # kombu raises what it cannot decode out of drain_events, where it would look like
                # a lost connection; it goes to the batch instead, and is parked (message.errors).
                on_decode_error=lambda message, exc, sub=sub: self._received.append((sub, message)),
                no_ack=False,
                prefetch_count=self.prefetch,
                auto_declare=False,
            )
            consumers.append(consumer)
        return consumers

    def _receive_batch(self) -> None:
        """Wait up to a quarter second for a message, then take whatever else has already
        arrived, up to the prefetch. The in-memory transport polls, so waiting there for a
        second message would cost a polling interval per hop: it takes one at a time."""
        try:
            self.connection.drain_events(timeout=0.25)
            while len(self._received) < self.batch_size:
                self.connection.drain_events(timeout=0.001)
        except TimeoutError:
            pass

    def run(self, stop: threading.Event) -> None:
        failures = 0
        while not stop.is_set():
            try:
                self.connection.ensure_connection(max_retries=1)
                channel = self.connection.channel()
                self.topology.declare(channel)
                consumers = self._consumers(channel)
                for consumer in consumers:
                    consumer.consume()
                failures = 0
                log.info("consumer_started", service=self.service, queues=len(consumers))
                while not stop.is_set():
                    self._receive_batch()
                    received, self._received = self._received, []
                    self.process_batch(received)
                    self.connection.heartbeat_check()
            except Exception as exc:  # noqa: BLE001 - reconnect with backoff, forever but loudly
                self._received = []  # unacked: the broker delivers them again
                failures += 1
                delay = backoff(failures)
                log.warning("consumer_connection_lost", service=self.service, error=repr(exc), retry_in=delay)
                self._producer = None
                self.connection = reopened(self.connection)
                stop.wait(delay)
        close_quietly(self.connection)

