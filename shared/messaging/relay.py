"""The outbox relay: publishes the outbox rows nobody else did, in order, with confirms, then
marks them.

Each commit's own thread publishes its rows once it has committed (direct.py), so the
relay only sweeps: rows older than `stale_after` and still unmarked were left by a crash,
a broker outage or a failed publish. It is not woken by new rows, only by its clock.
At-least-once by design: a crash between the broker's confirm and our commit republishes
the batch (and a row whose direct publish was confirmed but not yet marked is sent again),
and the consumers' inbox swallows the duplicates. Several relays of one service can run at
once: on PostgreSQL each takes its rows with SKIP LOCKED. A published message
that carried a credential (a reset token) has its stored body replaced by a note in the
same commit, so that the outbox does not keep a token that opens an account.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog
from kombu import Connection, Producer
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shared import metrics
from shared.clock import utcnow
from shared.db import unit_of_work
from shared.loops import PollLoop
from shared.messaging.broker import keep_alive, reopened
from shared.messaging.direct import Outgoing, mark, send
from shared.messaging.outbox import OutboxMixin
from shared.messaging.topology import Topology

log = structlog.get_logger(__name__)


class OutboxRelay:
    #: seconds to wait for the socket and for the broker's confirm before trying again later
    PUBLISH_TIMEOUT = 10.0

    def __init__(
        self,
        service: str,
        sessions: sessionmaker[Session],
        model: type[OutboxMixin],
        connection: Connection,
        topology: Topology,
        poll_seconds: float,
        batch_size: int = 200,
        stale_after: float = 5.0,
    ) -> None:
        self.service = service
        self.sessions = sessions
        self.model = model
        self.connection = connection
        self.exchange = topology.exchange(service)
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        #: seconds a row is left to its committing thread's publish and mark before it is swept
        self.stale_after = timedelta(seconds=stale_after)
        self._producer: Producer | None = None

    def publish_pending(self) -> int:
        """Publish one batch; returns how many messages went out."""
        model: Any = self.model
        with unit_of_work(self.sessions) as session:
            rows = session.scalars(
                select(model)
                .where(model.published_at.is_(None), model.created_at <= utcnow() - self.stale_after)
                .order_by(model.id)
                .limit(self.batch_size)
                .with_for_update(skip_locked=True)
            ).all()
            if not rows:
                self._keepalive()
                return 0
            producer = self._get_producer()
            for row in rows:
                send(producer, self.exchange, Outgoing(row.message_id, row.type, row.correlation_id, row.body),
                     self.PUBLISH_TIMEOUT)
                metrics.PUBLISHED.labels(self.service, row.type).inc()
            mark(session, [row.message_id for row in rows])
        return len(rows)

    def _keepalive(self) -> None:
        if self._producer is not None:
            keep_alive(self.connection)

    def _get_producer(self) -> Producer:
        if self._producer is None:
            self.connection.ensure_connection(max_retries=1)
            self._producer = Producer(self.connection.channel())
        return self._producer

    def _reset(self) -> None:
        self._producer = None
        self.connection = reopened(self.connection)

    def loop(self) -> PollLoop:
        """The relay as a background loop, on its clock: every `poll_seconds`, and no more
        often than `stale_after` (it sweeps only rows that old: looking sooner finds none)."""
        every = max(self.poll_seconds, self.stale_after.total_seconds())
        return PollLoop(f"{self.service}.relay", self.publish_pending, every, on_error=self._reset)
