"""The sandbox gateways' webhook sender: a loop in the payment worker that POSTs queued
notices over real HTTP, each transmission signed at send time the way its provider signs
(see notifiers.py), and retries like real gateways do until the answer is the one that
provider takes as "received" (2xx; Alipay: the text `success`; WeChat Pay: 200 or 204).

Rows are claimed in one short transaction and their outcome recorded in another, with the
HTTP call in between and no transaction open: the receiving endpoint writes to this same
database (on SQLite, holding a write lock across the call would deadlock it), and a slow
receiver must not hold row locks. A claim is a lease: a sender that dies mid-call leaves
the row to be picked up again when the lease runs out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import requests
import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.payment.sandbox.models import SandboxDeliveryRow
from services.payment.sandbox.notifiers import Notifiers
from shared.clock import utcnow
from shared.db import unit_of_work
from shared.loops import PollLoop, backoff

log = structlog.get_logger(__name__)

MAX_ATTEMPTS = 50
TIMEOUT_SECONDS = 5.0
LEASE = timedelta(seconds=30)  # comfortably longer than one request's timeout
BATCH = 20


@dataclass(frozen=True)
class Claimed:
    event_id: str
    provider: str
    url: str
    body: str


class WebhookSender:
    def __init__(self, sessions: sessionmaker[Session], notifiers: Notifiers, idle_seconds: float) -> None:
        self.sessions = sessions
        self.notifiers = notifiers
        self.idle_seconds = idle_seconds
        self.http = requests.Session()

    def claim_due(self) -> list[Claimed]:
        now = utcnow()
        with unit_of_work(self.sessions) as session:
            rows = session.scalars(
                select(SandboxDeliveryRow)
                .where(SandboxDeliveryRow.delivered_at.is_(None), SandboxDeliveryRow.next_attempt_at <= now)
                .order_by(SandboxDeliveryRow.next_attempt_at)
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            ).all()
            for row in rows:
                row.next_attempt_at = now + LEASE
            return [Claimed(r.event_id, r.provider, r.url, r.body) for r in rows]

    def send(self, delivery: Claimed) -> str | None:
        """POST one notice; None when the receiver took it, else what went wrong."""
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

    def record(self, event_id: str, error: str | None) -> None:
        with unit_of_work(self.sessions) as session:
            row = session.get(SandboxDeliveryRow, event_id, with_for_update=True)
            if row is None:
                return
            row.attempts += 1
            now = utcnow()
            if error is None:
                row.delivered_at, row.next_attempt_at, row.last_error = now, None, None
                log.info("sandbox_webhook_delivered", event_id=event_id, provider=row.provider, attempts=row.attempts)
            elif row.attempts >= MAX_ATTEMPTS:
                row.next_attempt_at, row.last_error = None, error
                log.error("sandbox_webhook_abandoned", event_id=event_id, attempts=row.attempts, error=error)
            else:
                delay = backoff(row.attempts, base=0.5, cap=60)
                row.next_attempt_at, row.last_error = now + timedelta(seconds=delay), error
                log.warning("sandbox_webhook_retry", event_id=event_id, attempts=row.attempts,
                            retry_in=delay, error=error)

    def deliver_due(self) -> int:
        claimed = self.claim_due()
        for delivery in claimed:
            self.record(delivery.event_id, self.send(delivery))
        return len(claimed)

    def loop(self) -> PollLoop:
        return PollLoop("payment.sandbox_webhooks", self.deliver_due, self.idle_seconds,
                        wakes_on=SandboxDeliveryRow.__tablename__)
