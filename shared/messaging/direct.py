"""Commit, then publish: the thread that committed a state change sends its messages at once.

The outbox makes a state change and its messages one commit (outbox.py). Publishing them
used to be the relay's job alone: woken after each commit, it opened a transaction, locked
the new rows, published them and marked them, one more transaction per commit, and half its
rounds found nothing (it was woken twice). Now the committing thread publishes its own rows
right after its commit, on this process's confirmed channel, and their marks
(`published_at`) are written later, many in one statement, by a small marker thread. The
relay only sweeps what nobody published: rows a crash, a broker outage or a failed publish
left behind (relay.py).

Nothing is lost in between: a row is marked only after the broker confirmed it; a crash
before the mark makes the relay publish it again (at least once; the consumers' inbox
drops the copy). A transaction that rolls back, or a savepoint inside it, publishes nothing
it put. If publishing fails, direct publishing pauses for a few seconds (the relay sweeps)
rather than making every commit wait on a broker that is away.

A fault switch for drills and tests: with `TOPUP_FAULT_EXIT_BEFORE_PUBLISH=<message type>`
the process dies (exit 137, as a kill -9) right after committing a message of that type and
before publishing it: exactly the crash the relay is there for.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any

import structlog
from kombu import Connection, Producer
from sqlalchemy import bindparam, case, column, event, table, update
from sqlalchemy.orm import Session, sessionmaker

from shared import metrics
from shared.clock import utcnow
from shared.committed import AfterCommit
from shared.config import Settings
from shared.contracts import CARRIES_A_CREDENTIAL
from shared.db import unit_of_work
from shared.messaging.broker import close_quietly, connect, keep_alive
from shared.messaging.topology import Topology

log = structlog.get_logger(__name__)

#: what this transaction put in the outbox, published once it commits
PENDING = AfterCommit("topup.outbox.pending")
REDACTED = '{"redacted": "this message carried a credential; its body was removed once published"}'

OUTBOX = table("outbox", column("message_id"), column("type"), column("body"), column("published_at"))
MARK = (update(OUTBOX).where(OUTBOX.c.message_id.in_(bindparam("ids", expanding=True)))
        .values(published_at=bindparam("now"),
                body=case((OUTBOX.c.type.in_(sorted(CARRIES_A_CREDENTIAL)), REDACTED), else_=OUTBOX.c.body)))


@dataclass(frozen=True)
class Outgoing:
    """One outbox row as it is published."""

    message_id: str
    type: str
    correlation_id: str | None
    body: str


def send(producer: Producer, exchange: Any, message: Outgoing, timeout: float) -> None:
    """Publish one outbox row, persistent, waiting for the broker's confirm (the direct
    publisher's way and the relay's)."""
    producer.publish(
        message.body, exchange=exchange, routing_key=message.type, content_type="application/json",
        content_encoding="utf-8", serializer=None, delivery_mode=2, message_id=message.message_id,
        type=message.type, correlation_id=message.correlation_id, retry=False, timeout=timeout,
        confirm_timeout=timeout)


def mark(session: Session, message_ids: list[str]) -> None:
    """Mark published rows, all in one statement (a credential-carrying body is dropped too)."""
    session.execute(MARK, {"ids": message_ids, "now": utcnow()})


def note(session: Session, outgoing: Outgoing) -> None:
    """Remember a row put in this transaction, to publish it once the transaction commits."""
    PENDING.add(session, outgoing)


class DirectPublisher:
    PUBLISH_TIMEOUT = 10.0
    #: after a failed publish, commits leave their messages to the relay's sweep this long
    PAUSE_AFTER_FAILURE = 5.0
    #: how often published rows are marked, and the idle connection kept alive: one commit
    #: per process this often under load (well inside the relay's 5 s before it sweeps a row)
    MARK_EVERY = 2.0

    def __init__(self, service: str, settings: Settings, sessions: sessionmaker[Session]) -> None:
        self.service = service
        self.url, self.heartbeat = settings.amqp_url, settings.amqp_heartbeat
        self.exchange = Topology(settings.amqp_namespace).exchange(service)
        self.sessions = sessions
        self._lock = threading.Lock()  # one channel per process: publishes take turns
        self._connection: Connection | None = None
        self._producer: Producer | None = None
        self._paused_until = 0.0
        self._marks: list[str] = []
        self._marks_lock = threading.Lock()
        self._marker: threading.Thread | None = None
        self._stopped = threading.Event()
        self._die_before = os.environ.get("TOPUP_FAULT_EXIT_BEFORE_PUBLISH")

    def attach(self) -> DirectPublisher:
        event.listen(self.sessions, "after_transaction_create", PENDING.began)
        event.listen(self.sessions, "after_soft_rollback", PENDING.rolled_back)
        event.listen(self.sessions, "after_commit", self._committed)
        return self

    def close(self) -> None:
        """The process stops: write the marks still queued (else the relay publishes those
        rows again after a restart), end the marker thread, which would otherwise open a
        database connection after the engine was disposed, and close the channel. A commit
        after this leaves its messages to the relay."""
        self._stopped.set()
        with self._marks_lock:
            marker = self._marker
        if marker is not None:
            marker.join(self.PUBLISH_TIMEOUT)
        self.mark_now()
        with self._lock:
            self._drop_connection()

    # -- after a commit ----------------------------------------------------------------------
    def _committed(self, session: Session) -> None:
        """A commit: a savepoint's (nothing is committed yet) or the transaction's, whose
        rows are now in the database for good (what rolled back was dropped in `_rolled_back`)."""
        pending: list[Outgoing] | None = PENDING.take(session)
        if pending:
            self.publish(pending)

    def publish(self, messages: list[Outgoing]) -> None:
        """Publish with confirms and queue the marks; on any failure leave the rest to the
        relay. Never raises: the state change is committed whatever happens here."""
        if time.monotonic() < self._paused_until or self._stopped.is_set():
            return
        if self._die_before and any(message.type == self._die_before for message in messages):
            log.warning("fault_exit_before_publish", service=self.service, type=self._die_before)
            os._exit(137)
        confirmed: list[str] = []
        with self._lock:
            try:
                producer = self._producer_now()
                for message in messages:
                    send(producer, self.exchange, message, self.PUBLISH_TIMEOUT)
                    confirmed.append(message.message_id)
                    metrics.PUBLISHED.labels(self.service, message.type).inc()
            except Exception as exc:  # noqa: BLE001 - the relay publishes what is left
                self._drop_connection()
                self._paused_until = time.monotonic() + self.PAUSE_AFTER_FAILURE
                log.warning("direct_publish_failed", service=self.service, error=repr(exc),
                            published=len(confirmed), left_to_the_relay=len(messages) - len(confirmed))
        if confirmed:
            self._queue_marks(confirmed)

    def _producer_now(self) -> Producer:
        if self._producer is None:
            self._connection = connect(self.url, self.heartbeat)
            self._connection.ensure_connection(max_retries=1)
            self._producer = Producer(self._connection.channel())
        return self._producer

    def _drop_connection(self) -> None:
        if self._connection is not None:
            close_quietly(self._connection)
        self._connection, self._producer = None, None

    # -- marks, many at a time -----------------------------------------------------------------
    def _queue_marks(self, message_ids: list[str]) -> None:
        with self._marks_lock:
            self._marks.extend(message_ids)
            if self._marker is None:
                self._marker = threading.Thread(target=self._mark_forever, name=f"{self.service}-outbox-marks",
                                                daemon=True)
                self._marker.start()

    def mark_now(self) -> int:
        """Write the marks queued so far in one statement; how many."""
        with self._marks_lock:
            ids, self._marks = self._marks, []
        if not ids:
            return 0
        try:
            with unit_of_work(self.sessions) as session:
                mark(session, ids)
        except Exception as exc:  # noqa: BLE001 - the relay publishes these again: duplicates, never losses
            log.warning("outbox_marks_failed", service=self.service, error=repr(exc), rows=len(ids),
                        note="the relay publishes them again; the consumers' inbox drops the copies")
            return 0
        return len(ids)

    def _mark_forever(self) -> None:
        while not self._stopped.wait(self.MARK_EVERY):
            self.mark_now()
            self._keepalive()

    def _keepalive(self) -> None:
        """Read the broker's heartbeats and send ours while no commit publishes, so that an
        idle channel is not closed under us."""
        if not self._lock.acquire(blocking=False):
            return  # a publish is using the connection: it is alive
        try:
            if self._connection is not None:
                keep_alive(self._connection)
        except Exception:  # noqa: BLE001 - reconnect at the next publish
            self._drop_connection()
        finally:
            self._lock.release()
