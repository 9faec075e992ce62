"""The refund loop: a background loop in the payment worker that asks the gateways to give
money back, and keeps asking (with backoff) while they refuse or do not answer.

Each due refund is claimed in one short transaction (a lease: `next_attempt_at` moves past
the call's timeout, so a worker that dies mid-call leaves it to be picked up again), the
gateway is called with no transaction of ours open (a slow gateway must not hold row locks,
and on SQLite a write lock held across the call would block every other writer), and the
outcome is recorded in another short transaction by `handlers.refund_attempted`. A lease
that ran out while the first call was still going makes a second call possible; every call
carries the refund's own id as its idempotency key (domain/refund.py), so that is never a
second refund.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.payment import handlers, store
from services.payment.domain.errors import GatewayError
from services.payment.domain.payment import Payment
from services.payment.domain.refund import RefundPolicy, RefundStatus
from services.payment.gateways import Gateways
from services.payment.models import RefundRow
from shared.clock import utcnow
from shared.db import unit_of_work
from shared.loops import PollLoop

log = structlog.get_logger(__name__)

LEASE = timedelta(seconds=60)  # longer than any gateway call's timeout
BATCH = 20


@dataclass(frozen=True)
class Claimed:
    payment: Payment
    gateway: str | None


class RefundRunner:
    def __init__(self, sessions: sessionmaker[Session], gateways: Gateways, policy: RefundPolicy,
                 idle_seconds: float) -> None:
        self.sessions = sessions
        self.gateways = gateways
        self.policy = policy
        self.idle_seconds = idle_seconds

    def claim_due(self) -> list[Claimed]:
        now = utcnow()
        with unit_of_work(self.sessions) as session:
            refunds = session.scalars(
                select(RefundRow)
                .where(RefundRow.status == RefundStatus.PENDING.value, RefundRow.next_attempt_at <= now)
                .order_by(RefundRow.next_attempt_at)
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            ).all()
            claimed = []
            for refund in refunds:
                refund.next_attempt_at = now + LEASE
                row = store.get_payment(session, refund.payment_id)
                if row is not None:
                    claimed.append(Claimed(store.to_payment(row), row.gateway))
            return claimed

    def attempt(self, claimed: Claimed) -> GatewayError | None:
        """One call to the gateway; None when it refunded. Any failure is an attempt that
        counts: a bug or an outage must end at an operator, not in an endless loop."""
        payment = claimed.payment
        try:
            gateway = self.gateways.named(claimed.gateway)
            if gateway is None:
                return GatewayError(f"gateway {claimed.gateway!r} is not configured", "gateway_unavailable")
            gateway.refund(payment)
        except GatewayError as exc:
            return exc
        except Exception as exc:  # see the docstring: every failure counts
            log.exception("refund_attempt_crashed", payment_id=payment.payment_id)
            return GatewayError(repr(exc))
        return None

    def run_due(self) -> int:
        claimed = self.claim_due()
        for one in claimed:
            error = self.attempt(one)
            with unit_of_work(self.sessions) as session:
                handlers.refund_attempted(session, one.payment.payment_id, error, self.policy, utcnow())
        return len(claimed)

    def loop(self) -> PollLoop:
        return PollLoop("payment.refunds", self.run_due, self.idle_seconds, wakes_on=RefundRow.__tablename__)
