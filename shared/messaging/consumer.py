"""The one consumer runner: queue -> handler, with the inbox, retries and parking.

For each message: parse and validate the envelope; in one transaction, note it in the inbox
and run the handler (whose outbox rows commit with it); then ack. Messages that arrived
together share that transaction (see `process_batch`). A message that cannot be
read is parked at once (retrying will not make it readable; kombu's own default would drop
it). A handler that raises is retried with exponential backoff through the queue's retry
queue, and parked after `max_attempts`: never lost, never retried forever.
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

from shared.db import unit_of_work
from shared.loops import backoff
from shared.messaging.broker import close_quietly, is_memory, reopened
from shared.messaging.envelope import Envelope, InvalidMessage
from shared.messaging.inbox import InboxMixin, first_time
from shared.messaging.topology import Subscription, Topology

log = structlog.get_logger(__name__)

Handler = Callable[[Session, Envelope], None]
ATTEMPT_HEADER = "x-topup-attempt"


@dataclass(frozen=True)
class Delivery:
    sub: Subscription
    message: Message
    envelope: Envelope


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
        on_committed: Callable[[], None] = lambda: None,
    ) -> None:
        self.service = service
        self.sessions = sessions
        self.inbox = inbox
        self.connection = connection
        self.topology = topology
        self.retry = retry
        self.prefetch = prefetch
        self.on_committed = on_committed
        self.subscriptions = topology.subscriptions(service)
        missing = {s.handler for s in self.subscriptions} - set(handlers)
        if missing:
            raise ValueError(f"{service}: no handler for {sorted(missing)}")
        self.handlers = handlers
        self.batch_size = 1 if is_memory(connection.as_uri()) else prefetch
        self._received: list[tuple[Subscription, Message]] = []
        self._producer: Producer | None = None

    # -- messages, a batch at a time ---------------------------------------------------------
    def process(self, sub: Subscription, message: Message) -> None:
        """Handle one message on its own (the batch path's fallback, and the tests' entry)."""
        envelope = self._read(sub, message)
        if envelope is not None:
            self._handle_one(Delivery(sub, message, envelope))

    def process_batch(self, received: list[tuple[Subscription, Message]]) -> None:
        """Handle every message that arrived together in one transaction: one commit instead
        of one per message, which is most of a message's cost under load. If any handler
        fails, the whole batch rolls back and each message is handled alone, so that only the
        failing one is retried and the others commit as they would have."""
        batch = [Delivery(sub, message, envelope) for sub, message in received
                 if (envelope := self._read(sub, message)) is not None]
        if len(batch) <= 1:
            for delivery in batch:
                self._handle_one(delivery)
            return
        try:
            with unit_of_work(self.sessions) as session:
                fresh = [self._apply(session, delivery) for delivery in batch]
        except Exception:  # noqa: BLE001 - find the failing message by handling them one at a time
            for delivery in batch:
                self._handle_one(delivery)
            return
        for delivery in batch:
            delivery.message.ack()
        self._after_commit(batch, fresh)

    def _read(self, sub: Subscription, message: Message) -> Envelope | None:
        """The message's envelope; an unreadable one is parked at once and acked."""
        try:
            envelope = Envelope.from_json(message.body)
            if envelope.type != sub.message_type:
                raise InvalidMessage(f"{envelope.type} delivered to {sub.handler}")
        except InvalidMessage as exc:
            log.error("message_unreadable", queue=self.topology.queue_name(sub), error=str(exc))
            self._park(sub, message, f"unreadable: {exc}")
            message.ack()
            return None
        return envelope

    def _apply(self, session: Session, delivery: Delivery) -> bool:
        """Note the message in the inbox and run its handler, unless it was seen before."""
        sub, envelope = delivery.sub, delivery.envelope
        fresh = first_time(session, self.inbox, sub.handler, envelope.message_id, envelope.type)
        if fresh:
            self.handlers[sub.handler](session, envelope)
        return fresh

    def _handle_one(self, delivery: Delivery) -> None:
        try:
            with unit_of_work(self.sessions) as session:
                fresh = self._apply(session, delivery)
        except Exception as exc:  # noqa: BLE001 - any handler failure goes to retry/park
            self._failed(delivery.sub, delivery.message, exc, self._bound(delivery))
            return
        delivery.message.ack()
        self._after_commit([delivery], [fresh])

    def _after_commit(self, batch: list[Delivery], fresh: list[bool]) -> None:
        if any(fresh):
            self.on_committed()
        for delivery, new in zip(batch, fresh, strict=True):
            if not new:
                self._bound(delivery).info("message_duplicate")

    @staticmethod
    def _bound(delivery: Delivery) -> Any:
        envelope = delivery.envelope
        return log.bind(handler=delivery.sub.handler, message_id=envelope.message_id,
                        type=envelope.type, correlation_id=envelope.correlation_id)

    def _failed(self, sub: Subscription, message: Message, exc: Exception, bound: Any) -> None:
        attempt = int((message.headers or {}).get(ATTEMPT_HEADER, 1))
        if attempt >= self.retry.max_attempts:
            bound.error("message_parked", attempt=attempt, error=repr(exc))
            self._park(sub, message, repr(exc))
        else:
            delay = self.retry.delay(attempt)
            bound.warning("message_retry", attempt=attempt, retry_in=delay, error=repr(exc))
            self._schedule_retry(sub, message, attempt + 1, delay)
        message.ack()

    # -- retry and parking ---------------------------------------------------------------
    def _publish_kwargs(self, message: Message, headers: dict[str, Any]) -> dict[str, Any]:
        props = message.properties or {}
        return {
            "content_type": "application/json",
            "content_encoding": "utf-8",
            "serializer": None,
            "delivery_mode": 2,
            "headers": headers,
            "message_id": props.get("message_id"),
            "type": props.get("type"),
            "correlation_id": props.get("correlation_id"),
            "retry": False,
        }

    def _schedule_retry(self, sub: Subscription, message: Message, attempt: int, delay: float) -> None:
        headers = {**(message.headers or {}), ATTEMPT_HEADER: attempt}
        queue = self.topology.queue_name(sub)
        kwargs = self._publish_kwargs(message, headers)
        if is_memory(self.connection.as_uri()):
            # The in-memory transport has no TTL or dead-lettering: wait in a timer instead.
            def later() -> None:
                with Connection("memory://") as conn:
                    Producer(conn.channel()).publish(message.body, exchange="", routing_key=queue, **kwargs)

            timer = threading.Timer(delay, later)
            timer.daemon = True
            timer.start()
            return
        self._producer_for_retries().publish(
            message.body, exchange="", routing_key=f"{queue}.retry", expiration=delay, **kwargs
        )

    def _park(self, sub: Subscription, message: Message, reason: str) -> None:
        headers = {**(message.headers or {}), "x-topup-parked-reason": reason[:500]}
        self._producer_for_retries().publish(
            message.body,
            exchange=self.topology.dead_letter_exchange,
            routing_key=self.topology.queue_name(sub),
            **self._publish_kwargs(message, headers),
        )

    def _producer_for_retries(self) -> Producer:
        if self._producer is None:
            self._producer = Producer(self.connection.channel())
        return self._producer

    # -- the loop ------------------------------------------------------------------------
    def _consumers(self, channel: Any) -> list[Consumer]:
        consumers = []
        for sub in self.subscriptions:
            consumer = Consumer(
                channel,
                queues=[self.topology.queue(sub)],
                on_message=lambda message, sub=sub: self._received.append((sub, message)),
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
