"""`make parked` / `python -m deploy.parked`: see, replay and discard parked messages.

A message that failed every attempt, or could not be read at all, waits in its queue's
parking queue (`<ns>.<service>.<handler>.dlq`, shared/messaging/topology.py) with the reason
in `x-topup-parked-reason`. Once the cause is fixed (a bug deployed away, a database back),
an operator replays it; a message that should never run (garbage, a test) is discarded with
a reason, which is logged.

    python -m deploy.parked list [--queue order.credited]
    python -m deploy.parked show order.credited <message_id>
    python -m deploy.parked replay order.credited --id <message_id> | --type wallet.credited | --all
    python -m deploy.parked discard order.credited <message_id> --reason "test message"

A replayed message goes back to its queue with a fresh attempt count (without it, a message
parked after its fifth attempt would be parked again at once) and the same message id, so
the handler's inbox still drops it if it was handled after all. It speaks AMQP itself (pika),
so it needs no management plugin: AMQP_URL and AMQP_NAMESPACE as the services read them.
Reading leaves every message in place: each is taken unacknowledged and handed back.

On the embedded default (`make run`, kombu's in-memory transport) the parking queues live
inside the running process: nothing outside it can reach them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pika
import structlog
from pika.adapters.blocking_connection import BlockingChannel

from shared.clock import utcnow
from shared.config import Settings
from shared.logging import configure_logging
from shared.messaging.parking import parked_counts
from shared.messaging.received import ATTEMPT_HEADER, PARKED_REASON_HEADER
from shared.messaging.topology import SUBSCRIPTIONS, Topology

log = structlog.get_logger("deploy.parked")


@dataclass(frozen=True)
class Parked:
    """One parked message as an operator reads it."""

    queue: str  # `<service>.<handler>`, without the namespace
    delivery_tag: int
    message_id: str | None
    type: str | None
    order_id: str | None
    attempts: Any
    reason: str
    occurred_at: datetime | None
    body: bytes
    properties: pika.BasicProperties

    def age(self, now: datetime) -> str:
        if self.occurred_at is None:
            return "?"
        seconds = int((now - self.occurred_at).total_seconds())
        if seconds >= 3600:
            return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
        return f"{seconds // 60}m{seconds % 60:02d}s"


def read(queue: str, tag: int, properties: pika.BasicProperties, body: bytes) -> Parked:
    """What the message says, without trusting it: a garbage body is shown as it is."""
    headers = properties.headers if isinstance(properties.headers, dict) else {}
    envelope: dict[str, Any] = {}
    try:
        parsed = json.loads(body)
        envelope = parsed if isinstance(parsed, dict) else {}
    except (ValueError, RecursionError):
        pass
    payload = envelope.get("payload")
    payload = payload if isinstance(payload, dict) else {}
    occurred = None
    try:
        occurred = datetime.fromisoformat(str(envelope.get("occurred_at")))
    except ValueError:
        pass
    return Parked(
        queue=queue, delivery_tag=tag, message_id=properties.message_id or _text(envelope.get("message_id")),
        type=properties.type or _text(envelope.get("type")),
        order_id=_text(payload.get("order_id")) or properties.correlation_id, attempts=headers.get(ATTEMPT_HEADER, 1),
        reason=str(headers.get(PARKED_REASON_HEADER, "?")), occurred_at=occurred if occurred and occurred.tzinfo
        else None, body=body, properties=properties)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


class ParkingLot:
    """The parking queues of one namespace on one broker."""

    def __init__(self, amqp_url: str, namespace: str) -> None:
        self.topology = Topology(namespace)
        self.namespace = namespace
        self.connection = pika.BlockingConnection(pika.URLParameters(amqp_url))

    def close(self) -> None:
        self.connection.close()

    def queues(self) -> list[str]:
        """Every parking queue, as `<service>.<handler>`."""
        return [f"{s.service}.{s.handler}" for s in SUBSCRIPTIONS]

    def _name(self, queue: str) -> str:
        if queue not in self.queues():
            raise SystemExit(f"no queue {queue!r}; one of: {', '.join(self.queues())}")
        return f"{self.namespace}.{queue}"

    @contextmanager
    def holding(self, queue: str) -> Iterator[tuple[BlockingChannel, list[Parked]]]:
        """Every message parked in `queue`, taken unacknowledged (nobody else gets them
        meanwhile); those not acknowledged inside are handed back when the channel closes."""
        channel = self.connection.channel()
        channel.confirm_delivery()
        held: list[Parked] = []
        try:
            while True:
                method, properties, body = channel.basic_get(f"{self._name(queue)}.dlq", auto_ack=False)
                if method is None:
                    break
                held.append(read(queue, method.delivery_tag, properties, body))
            yield channel, held
        finally:
            if channel.is_open:
                channel.close()  # what was not acknowledged goes back to the parking queue

    def replay(self, queue: str, chosen: Callable[[Parked], bool]) -> list[Parked]:
        """Send the chosen ones back to their queue with a fresh attempt count (confirmed
        first, then taken off the parking queue: never lost, at worst replayed twice)."""
        replayed = []
        with self.holding(queue) as (channel, held):
            for message in filter(chosen, held):
                headers = {key: value for key, value in (message.properties.headers or {}).items()
                           if key not in (ATTEMPT_HEADER, PARKED_REASON_HEADER)}
                properties = pika.BasicProperties(
                    content_type=message.properties.content_type, content_encoding=message.properties.content_encoding,
                    delivery_mode=2, message_id=message.properties.message_id, type=message.properties.type,
                    correlation_id=message.properties.correlation_id, headers=headers or None)
                channel.basic_publish("", self._name(queue), message.body, properties, mandatory=True)
                channel.basic_ack(message.delivery_tag)
                replayed.append(message)
                log.info("parked_message_replayed", queue=queue, message_id=message.message_id, type=message.type,
                         order_id=message.order_id, parked_because=message.reason)
        return replayed

    def discard(self, queue: str, message_id: str, reason: str) -> Parked | None:
        with self.holding(queue) as (channel, held):
            for message in held:
                if message.message_id == message_id:
                    channel.basic_ack(message.delivery_tag)
                    log.warning("parked_message_discarded", queue=queue, message_id=message_id, type=message.type,
                                order_id=message.order_id, parked_because=message.reason, reason=reason)
                    return message
        return None


def _describe(message: Parked, now: datetime) -> str:
    return (f"{message.queue:<34} {message.message_id or '?':<36} {message.type or '?':<28} "
            f"{message.order_id or '-':<38} {message.attempts!s:>3} {message.age(now):>7}  {message.reason}")


def main(argv: list[str] | None = None, out: Any = sys.stdout) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.parked", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="parked messages per queue, with reason, attempts, type, order, age")
    listing.add_argument("--queue", help="one queue, as <service>.<handler>")
    show = commands.add_parser("show", help="one parked message, whole")
    show.add_argument("queue")
    show.add_argument("message_id")
    replay = commands.add_parser("replay", help="send parked messages back with a fresh attempt count")
    replay.add_argument("queue")
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", dest="message_id")
    which.add_argument("--type", dest="message_type")
    which.add_argument("--all", action="store_true")
    discard = commands.add_parser("discard", help="remove one parked message, with a reason (logged)")
    discard.add_argument("queue")
    discard.add_argument("message_id")
    discard.add_argument("--reason", required=True)
    args = parser.parse_args(argv)

    configure_logging()
    settings = Settings.from_env()
    if settings.amqp_url.startswith("memory://"):
        print("AMQP_URL is not set: on the embedded default the parking queues live inside `make run`'s process",
              file=out)
        return 2
    lot = ParkingLot(settings.amqp_url, settings.amqp_namespace)
    now = utcnow()
    try:
        if args.command == "list":
            counts = parked_counts(settings)
            queues = [args.queue] if args.queue else sorted(counts)
            print(f"{sum(counts.values())} parked message(s)", file=out)
            for queue in queues:
                with lot.holding(queue) as (_channel, held):
                    for message in held:
                        print(_describe(message, now), file=out)
        elif args.command == "show":
            with lot.holding(args.queue) as (_channel, held):
                found = [m for m in held if m.message_id == args.message_id]
            if not found:
                print(f"no parked message {args.message_id} in {args.queue}", file=out)
                return 1
            message = found[0]
            print(_describe(message, now), file=out)
            print(f"headers: {message.properties.headers}", file=out)
            print(message.body.decode("utf-8", "replace"), file=out)
        elif args.command == "replay":
            replayed = lot.replay(args.queue, lambda m: bool(
                args.all or (args.message_id and m.message_id == args.message_id)
                or (args.message_type and m.type == args.message_type)))
            print(f"replayed {len(replayed)} message(s) to {args.queue}", file=out)
            return 0 if replayed else 1
        elif args.command == "discard":
            gone = lot.discard(args.queue, args.message_id, args.reason)
            print(f"discarded {args.message_id}" if gone else f"no parked message {args.message_id} in {args.queue}",
                  file=out)
            return 0 if gone else 1
    finally:
        lot.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
