"""What an upgrade leaves to announce: profiles and completions from before they were
announced the way the other services now need them.

Customers registered before profiles were announced (`announced_version` behind
`profile_version`) are announced once, so that the notify service knows where and in which
language to write to them and the wallet knows their reminder preferences. Orders completed
before receipts were numbered (`announce_again`) announce their completion once more: the
notify service numbers the receipt it already emailed, without emailing it again, and the
customer can then fetch it. Both are rows marked in the order database by the migration
and cleared in the same transaction as the announcement: durable, each done once.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.order.commands import messages_for
from services.order.customers import announce_profile
from services.order.domain.saga import Action
from services.order.models import Customer, Order, OutboxMessage
from shared.db import unit_of_work
from shared.loops import PollLoop
from shared.messaging.outbox import put


class Backfill:
    def __init__(self, sessions: sessionmaker[Session], batch_size: int = 100) -> None:
        self.sessions = sessions
        self.batch_size = batch_size

    def round(self) -> int:
        with unit_of_work(self.sessions) as session:
            customers = list(session.scalars(
                select(Customer).where(Customer.announced_version < Customer.profile_version)
                .limit(self.batch_size).with_for_update(skip_locked=True)))
            for customer in customers:
                announce_profile(session, customer)
            orders = list(session.scalars(
                select(Order).where(Order.announce_again.is_(True))
                .limit(self.batch_size).with_for_update(skip_locked=True)))
            for order in orders:
                put(session, OutboxMessage, *messages_for(session, order, (Action.ANNOUNCE_COMPLETED,), None))
                order.announce_again = False
        return len(customers) + len(orders)

    def loop(self) -> PollLoop:
        """Busy after an upgrade, then idle: a look a minute is plenty."""
        return PollLoop("order.backfill", self.round, idle_seconds=60.0)
