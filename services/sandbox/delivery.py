"""The sandbox gateways' webhook sender: a loop in the sandbox's worker that POSTs queued
notices over real HTTP, each transmission signed at send time the way its provider signs
(see notifiers.py), and retries like real gateways do until the answer is the one that
provider takes as "received" (2xx; Alipay: the text `success`; WeChat Pay: 200 or 204).

Rows are claimed in one short transaction and their outcomes recorded in another, with the
HTTP calls in between and no transaction open: the receiving endpoint writes to this same
database (on SQLite, holding a write lock across the call would deadlock it), and a slow
receiver must not hold row locks. A claim is a lease: a sender that dies mid-call leaves
the row to be picked up again when the lease runs out. Both are plain statements: the claim
is one UPDATE ... RETURNING of the rows a locking subquery picks (FOR UPDATE SKIP LOCKED on
PostgreSQL; SQLite, one writer at a time, needs no row locks), and a batch's outcomes are
one UPDATE for every notice taken and one for each that was not, recorded together (early,
if sending the batch takes half its lease).

With SANDBOX_FAULTS, a notice may be held back before its first sending (`reorder`: later
ones overtake it) or sent twice (`duplicate`), as real providers' notifications are.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
import structlog
from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session, sessionmaker

from services.sandbox.faults import Fault, Faults
from services.sandbox.models import SandboxDeliveryRow
from services.sandbox.notifiers import Notifiers
from shared.clock import utcnow
from shared.db import unit_of_work
from shared.loops import PollLoop, backoff

log = structlog.get_logger(__name__)

MAX_ATTEMPTS = 50
TIMEOUT_SECONDS = 5.0
LEASE = timedelta(seconds=30)  # comfortably longer than one request's timeout
BATCH = 20
DELIVERIES: Table = SandboxDeliveryRow.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Claimed:
    event_id: str
    provider: str
    url: str
    body: str
    attempts: int  # before this one
    created_at: datetime


class WebhookSender:
    def __init__(self, sessions: sessionmaker[Session], notifiers: Notifiers, idle_seconds: float,
                 faults: Faults | None = None) -> None:
        self.sessions = sessions
        self.notifiers = notifiers
        self.faults = faults or Faults({})
        self.idle_seconds = idle_seconds
        self.http = requests.Session()

    def claim_due(self) -> list[Claimed]:
        """The notices due now, leased: one statement. Sent in the order they were queued."""
        now, table = utcnow(), DELIVERIES
        due = (select(table.c.event_id)
               .where(table.c.delivered_at.is_(None), table.c.next_attempt_at <= now)
               .order_by(table.c.next_attempt_at)
               .limit(BATCH)
               .with_for_update(skip_locked=True))
        claim = (update(table).where(table.c.event_id.in_(due)).values(next_attempt_at=now + LEASE)
                 .returning(table.c.event_id, table.c.provider, table.c.url, table.c.body, table.c.attempts,
                            table.c.created_at))
        with unit_of_work(self.sessions) as session:
            rows = [Claimed(*row) for row in session.execute(claim)]
        return sorted(rows, key=lambda row: (row.created_at, row.event_id))

    def send(self, delivery: Claimed) -> str | None:
        """POST one notice; None when the receiver took it, else what went wrong."""
        error = self.transmit(delivery)
        if error is None and self.faults.hits(Fault.DUPLICATE):
            log.info("sandbox_fault", fault=Fault.DUPLICATE.value, event_id=delivery.event_id)
            self.transmit(delivery)
        return error

    def transmit(self, delivery: Claimed) -> str | None:
        notifier = self.notifiers.named(delivery.provider)
        headers = notifier.headers(delivery.body, utcnow())
        try:
            response = self.http.post(delivery.url, data=delivery.body.encode("utf-8"), headers=headers,
                                      timeout=TIMEOUT_SECONDS)
        except requests.RequestException as exc:
            return f"{type(exc).__name__}: {exc}"[:500]
        if notifier.accepted(response.status_code, response.text):
            return None
        return f"HTTP {response.status_code}: {response.text[:300]}"

    def record(self, outcomes: list[tuple[Claimed, str | None]]) -> None:
        """What each transmission came to, in one transaction: delivered (one UPDATE for all
        of them), or to be tried again later with a backoff, or (MAX_ATTEMPTS) given up."""
        if not outcomes:
            return
        now, table = utcnow(), DELIVERIES
        taken = [claimed for claimed, error in outcomes if error is None]
        with unit_of_work(self.sessions) as session:
            if taken:
                session.execute(update(table).where(table.c.event_id.in_([c.event_id for c in taken])).values(
                    attempts=table.c.attempts + 1, delivered_at=now, next_attempt_at=None, last_error=None))
            for claimed, error in outcomes:
                if error is not None:
                    session.execute(update(table).where(table.c.event_id == claimed.event_id).values(
                        attempts=table.c.attempts + 1, next_attempt_at=self._retry_at(claimed, error, now),
                        last_error=error))
        for claimed in taken:
            log.info("sandbox_webhook_delivered", event_id=claimed.event_id, provider=claimed.provider,
                     attempts=claimed.attempts + 1)

    def hold(self, delivery: Claimed, seconds: float) -> None:
        """Send this notice later than it is due (a fault on purpose), as a retry would be."""
        with unit_of_work(self.sessions) as session:
            session.execute(update(DELIVERIES).where(DELIVERIES.c.event_id == delivery.event_id).values(
                attempts=1, last_error="held back (SANDBOX_FAULTS reorder)",
                next_attempt_at=utcnow() + timedelta(seconds=seconds)))

    @staticmethod
    def _retry_at(claimed: Claimed, error: str, now: datetime) -> datetime | None:
        attempts = claimed.attempts + 1
        if attempts >= MAX_ATTEMPTS:
            log.error("sandbox_webhook_abandoned", event_id=claimed.event_id, attempts=attempts, error=error)
            return None
        delay = backoff(attempts, base=0.5, cap=60)
        log.warning("sandbox_webhook_retry", event_id=claimed.event_id, attempts=attempts, retry_in=delay,
                    error=error)
        return now + timedelta(seconds=delay)

    def deliver_due(self) -> int:
        """Send the notices due now. How many, when they were a full batch (more may be due:
        the loop goes on at once); else 0, since nothing more was due when they were claimed:
        the loop then waits for its doorbell (a notice queued meanwhile rings it) or its next
        poll, rather than spend a statement and a commit claiming nothing."""
        claimed = self.claim_due()
        began, outcomes = time.monotonic(), list[tuple[Claimed, str | None]]()
        try:
            for delivery in claimed:
                if delivery.attempts == 0 and (held := self.faults.reorder_delay()):
                    log.info("sandbox_fault", fault=Fault.REORDER.value, event_id=delivery.event_id, held=held)
                    self.hold(delivery, held)
                    continue
                outcomes.append((delivery, self.send(delivery)))
                if time.monotonic() - began > LEASE.total_seconds() / 2:
                    done, outcomes = outcomes, []
                    self.record(done)  # a slow batch: record what is done before its lease runs out
        finally:
            self.record(outcomes)
        return len(claimed) if len(claimed) == BATCH else 0

    def loop(self) -> PollLoop:
        return PollLoop("sandbox.webhooks", self.deliver_due, self.idle_seconds,
                        wakes_on=SandboxDeliveryRow.__tablename__)
