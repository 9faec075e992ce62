"""Lost notifications: a loop in the payment worker that asks the gateway about payments
whose webhook has not come.

Gateways do not promise delivery (WeChat Pay and Alipay tell merchants to query orders
whose notification never arrived; some outcomes they never notify at all). A payment still
`created` PAYMENT_QUERY_AFTER seconds after it opened is asked about, then again with
growing pauses (PAYMENT_QUERY_EVERY, doubling, capped), until it ends: the customer pays,
fails, or the order expires and cancels it. An answer goes through exactly the webhook's
path (`handlers.gateway_event`) under a synthetic event id, so a webhook arriving later,
or the same answer twice, changes nothing twice.

As in the refund loop, claims are short transactions (`next_query_at` is both the pause and
the lease) and the gateway is asked with no transaction of ours open.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

import structlog
from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from services.payment import handlers, store
from services.payment.domain.errors import GatewayError
from services.payment.domain.gateway import GatewayEvent
from services.payment.domain.payment import Payment, PaymentStatus
from services.payment.gateways import Gateways
from services.payment.settings import PaymentSettings
from shared.clock import utcnow
from shared.db import unit_of_work
from shared.loops import PollLoop, backoff

log = structlog.get_logger(__name__)

BATCH = 20
MAX_PAUSE_SECONDS = 600.0


@dataclass(frozen=True)
class Claimed:
    payment: Payment
    gateway: str


class PaymentQueries:
    def __init__(self, sessions: sessionmaker[Session], gateways: Gateways, options: PaymentSettings) -> None:
        self.sessions = sessions
        self.gateways = gateways
        self.after = timedelta(seconds=options.query_after_seconds)
        self.every = options.query_every_seconds

    def pause(self, queries: int) -> timedelta:
        return timedelta(seconds=backoff(queries, base=self.every, cap=max(self.every, MAX_PAUSE_SECONDS)))

    def claim_due(self) -> list[Claimed]:
        now, payments = utcnow(), store.PAYMENTS
        with unit_of_work(self.sessions) as session:
            rows = [store.record_of(row) for row in session.execute(
                select(payments)
                .where(payments.c.status == PaymentStatus.CREATED.value, payments.c.gateway.is_not(None),
                       payments.c.created_at <= now - self.after,
                       or_(payments.c.next_query_at.is_(None), payments.c.next_query_at <= now))
                .order_by(payments.c.created_at)
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            )]
            if rows:
                # One statement for the batch; updated_at kept: pacing our questions is not a
                # change an operator should see in the payment's updated_at.
                session.execute(
                    update(payments).where(payments.c.id == bindparam("payment_id")).values(
                        queries=bindparam("new_queries"), next_query_at=bindparam("next_at"),
                        updated_at=bindparam("kept_updated_at")),
                    [{"payment_id": row.id, "new_queries": row.queries + 1,
                      "next_at": now + self.pause(row.queries + 1), "kept_updated_at": row.updated_at}
                     for row in rows])
            return [Claimed(store.to_payment(row), row.gateway or "") for row in rows]

    def settle_due(self) -> int:
        claimed = self.claim_due()
        for one in claimed:
            settle_by_query(self.sessions, self.gateways, one.payment, one.gateway)
        return len(claimed)

    def loop(self, idle_seconds: float) -> PollLoop:
        """Payments fall due by the clock, not by a row another process inserts: no doorbell."""
        return PollLoop("payment.queries", self.settle_due, idle_seconds)


def settle_by_query(sessions: sessionmaker[Session], gateways: Gateways, payment: Payment,
                    gateway_name: str) -> handlers.Applied | None:
    """Ask the gateway about one payment and apply the answer as its webhook would be: the
    loop's way, and the return endpoint's when the customer comes back (returns.py). What
    the answer did; None when there is no news, or the gateway could not say (logged; the
    loop asks again)."""
    try:
        gateway = gateways.named(gateway_name)
        event = gateway.query(payment) if gateway is not None else None
    except GatewayError as exc:
        log.warning("payment_query_failed", payment_id=payment.payment_id, error=str(exc))
        return None
    if event is None:
        return None
    with unit_of_work(sessions) as session:
        applied = handlers.gateway_event(session, gateway_name, event, answer_record(event))
    if applied.fresh:
        log.info("payment_settled_by_query", payment_id=payment.payment_id, type=event.kind.value)
    return applied


def answer_record(event: GatewayEvent) -> bytes:
    """What is kept of a query's answer beside the webhooks (for support and disputes)."""
    return json.dumps({
        "source": "query", "id": event.event_id, "type": event.kind.value, "gateway_ref": event.gateway_ref,
        "amount": event.amount.amount_minor, "currency": event.amount.currency, "failure_code": event.failure_code,
        "occurred_at": event.occurred_at.isoformat(), "attempt": event.attempt,
    }, separators=(",", ":")).encode()
