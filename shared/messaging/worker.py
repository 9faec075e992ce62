"""A service's worker process: its consumer runner, its outbox relay and any other loops,
each on a thread, all stopped together on SIGTERM/SIGINT. On PostgreSQL a doorbell thread
wakes the loops that wait for rows other processes insert (shared/doorbell.py)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
from kombu import Connection
from sqlalchemy.orm import Session, sessionmaker

from shared import localbell, metrics
from shared.config import Settings
from shared.db import is_sqlite, normalize_url
from shared.doorbell import Doorbell
from shared.loops import PollLoop
from shared.messaging.broker import connect
from shared.messaging.consumer import ConsumerRunner, Handler, RetryPolicy
from shared.messaging.inbox import InboxMixin
from shared.messaging.outbox import OutboxMixin
from shared.messaging.relay import OutboxRelay
from shared.messaging.topology import Topology

log = structlog.get_logger(__name__)

Loop = Callable[[threading.Event], None]


def declare_topology(settings: Settings) -> None:
    """Declare every exchange and queue now (e.g. before the first message is published)."""
    with connect(settings.amqp_url, settings.amqp_heartbeat) as conn:
        conn.ensure_connection(max_retries=3)
        Topology.of(settings).declare(conn.default_channel)


def messaging_loops(
    service: str,
    settings: Settings,
    sessions: sessionmaker[Session],
    outbox: type[OutboxMixin],
    inbox: type[InboxMixin],
    handlers: dict[str, Handler],
) -> list[Loop]:
    """The relay (sweeping what no commit published itself) and the consumer runner of one
    service."""
    topology = Topology.of(settings)

    def conn() -> Connection:
        return connect(settings.amqp_url, settings.amqp_heartbeat)

    relay = OutboxRelay(service, sessions, outbox, conn(), topology, settings.poll_seconds(service))
    relay_loop = relay.loop()
    consumer = ConsumerRunner(
        service,
        sessions,
        inbox,
        handlers,
        conn(),
        topology,
        RetryPolicy(settings.retry_max_attempts, settings.retry_base_seconds),
        prefetch=settings.amqp_prefetch,
    )
    return [relay_loop, consumer.run]


@dataclass
class Worker:
    name: str
    loops: list[Loop]
    #: the service's database; on PostgreSQL its notifications wake the loops
    database_url: str | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    #: run as its own process, after the loops stopped: the service context's stop (the
    #: marks of what was published are written, the connections closed)
    on_exit: Callable[[], None] | None = None
    #: run as its own process: where Prometheus scrapes it (METRICS_PORT; None: nowhere)
    metrics_port: int | None = None
    unsubscribe: list[Callable[[], None]] = field(default_factory=list)

    def doorbell(self) -> Doorbell | None:
        rings = {loop.wakes_on: lambda _payload, wake=loop.wake: wake()
                 for loop in self.loops if isinstance(loop, PollLoop) and loop.wakes_on}
        if not rings or not self.database_url or is_sqlite(self.database_url):
            return None
        return Doorbell(self.database_url, rings)

    def ring_locally(self) -> None:
        """On SQLite, this process's commits wake the loops (shared/localbell.py)."""
        if not self.database_url or not is_sqlite(self.database_url):
            return
        url = normalize_url(self.database_url)
        for loop in self.loops:
            if isinstance(loop, PollLoop) and loop.wakes_on:
                self.unsubscribe.append(localbell.subscribe(url, loop.wakes_on, loop.wake))

    def start(self) -> None:
        self.ring_locally()
        doorbell = self.doorbell()
        for i, loop in enumerate([*self.loops, *([doorbell] if doorbell else [])]):
            thread = threading.Thread(target=self._guard, args=(loop,), name=f"{self.name}-{i}", daemon=True)
            thread.start()
            self.threads.append(thread)

    def _guard(self, loop: Loop) -> None:
        try:
            loop(self.stop_event)
        except Exception:
            log.exception("worker_loop_crashed", worker=self.name)
            self.stop_event.set()

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        for unsubscribe in self.unsubscribe:
            unsubscribe()
        for loop in self.loops:
            if isinstance(loop, PollLoop):
                loop.wake()  # an idle loop would otherwise finish its sleep first
        for thread in self.threads:
            thread.join(timeout)

    def run_forever(self) -> None:
        """The body of `python -m services.<name>.worker`."""
        signal.signal(signal.SIGTERM, lambda *_: self.stop_event.set())
        signal.signal(signal.SIGINT, lambda *_: self.stop_event.set())
        if self.metrics_port:
            metrics.serve(self.metrics_port)
        self.start()
        log.info("worker_started", worker=self.name, metrics_port=self.metrics_port)
        self.stop_event.wait()
        self.stop()
        if self.on_exit is not None:
            self.on_exit()
        log.info("worker_stopped", worker=self.name)
