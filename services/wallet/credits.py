"""What happens to credits over time: a top-up's credit becomes a lot with its expiry; the
rest of a lot is booked out of the balance when the lot expires; its owner is reminded
before that, and reminded to top up when the balance runs low.

Expiry is durable because it is data: a lot past its `expires_at` with money left is due,
whoever looks first (the worker's sweep, or a debit or credit on the account, which expire
what is due before they touch the balance) books it under the account's lock and sets the
rest to zero in the same transaction. A restart can neither skip one nor repeat one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, sessionmaker

from services.wallet import store
from services.wallet.domain.ledger import AccountStatus, expiry_entry
from services.wallet.domain.lots import Lot, crossed_low_balance, due_to_expire, remind_at
from services.wallet.models import AccountRow, CreditLotRow
from shared import metrics
from shared.clock import utcnow
from shared.currencies import default_low_balance
from shared.db import unit_of_work
from shared.loops import PollLoop
from shared.messaging.envelope import Envelope
from shared.money import Money

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class CreditRules:
    #: how long before its expiry a credit's owner is reminded (EXPIRY_REMINDER_BEFORE)
    reminder_before: timedelta
    #: a credit's validity when its command does not say (messages from before `valid_until`)
    default_validity: timedelta


def to_lot(row: CreditLotRow) -> Lot:
    return Lot(row.id, Money(row.remaining_minor, row.currency), row.expires_at)


def add_lot(session: Session, row: AccountRow, booked: store.Booked, order_id: str | None, expires_at: datetime,
            rules: CreditRules, now: datetime) -> CreditLotRow:
    lot = CreditLotRow(id=f"lot_{uuid.uuid4().hex}", customer_id=row.customer_id, entry_id=booked.row.id,
                       order_id=order_id, currency=row.currency, amount_minor=booked.change,
                       remaining_minor=booked.change, expires_at=expires_at,
                       remind_at=remind_at(now, expires_at, rules.reminder_before), created_at=now)
    session.add(lot)
    return lot


def expire_due(session: Session, row: AccountRow, now: datetime, caused_by: Envelope | None = None,
               lots: list[CreditLotRow] | None = None) -> int:
    """Book the rest of every credit of this (locked) account whose validity has ended:
    one expiry entry, one announcement and one email per credit. Returns how many. `lots`:
    the account's open credits when the caller already holds them (they are updated)."""
    held = store.open_lots(session, row.customer_id) if lots is None else lots
    due = {lot.lot_id for lot in due_to_expire(map(to_lot, held), now)}
    before = Money(row.balance_minor, row.currency)
    for lot in (lot for lot in held if lot.id in due):
        rest = Money(lot.remaining_minor, lot.currency)
        booked = store.record_entry(session, row, expiry_entry(store.to_account(row), lot.id, rest), now)
        lot.remaining_minor = 0
        log.info("credit_expired", customer_id=row.customer_id, lot_id=lot.id, amount=rest.amount_minor)
        metrics.after_commit(session, metrics.EXPIRIES.inc)
        metrics.after_commit(session, metrics.REMINDERS.labels("credit_expired").inc)
        store.emit(session,
                   store.account_updated(session, row, booked, caused_by, order_id=lot.order_id, lots=held),
                   Envelope.new("wallet.credit_expired", {
                       "customer_id": row.customer_id, "lot_id": lot.id, "entry_id": booked.row.id,
                       "order_id": lot.order_id, "amount": rest.amount_minor, "currency": rest.currency,
                       "expired_at": lot.expires_at, "balance_after": row.balance_minor}, caused_by=caused_by))
    if due:
        remind_if_low(session, row, before, caused_by)
    return len(due)


def threshold(row: AccountRow) -> Money:
    if row.low_balance_threshold_minor is None:
        return default_low_balance(row.currency)
    return Money(row.low_balance_threshold_minor, row.currency)


def remind_if_low(session: Session, row: AccountRow, before: Money, caused_by: Envelope | None) -> None:
    """After a debit or an expiry: remind the owner to top up if this took the balance below
    their threshold (once per crossing: see domain/lots.py). Not when they switched reminders
    off, nor on a frozen account, which could not be topped up anyway."""
    after, limit = Money(row.balance_minor, row.currency), threshold(row)
    if not crossed_low_balance(before, after, limit):
        return
    if not row.reminders or row.status != AccountStatus.ACTIVE:
        return
    log.info("balance_low", customer_id=row.customer_id, balance=after.amount_minor, threshold=limit.amount_minor)
    metrics.after_commit(session, metrics.REMINDERS.labels("balance_low").inc)
    store.emit(session, Envelope.new("wallet.balance_low", {
        "customer_id": row.customer_id, "balance": after.amount_minor, "currency": after.currency,
        "threshold": limit.amount_minor, "account_version": row.version}, caused_by=caused_by))


def remind_expiring(session: Session, row: AccountRow, now: datetime) -> int:
    lots = [lot for lot in store.open_lots(session, row.customer_id)
            if lot.reminded_at is None and lot.remind_at is not None and lot.remind_at <= now < lot.expires_at]
    for lot in lots:
        lot.reminded_at = now
        if row.reminders and row.status == AccountStatus.ACTIVE:
            metrics.after_commit(session, metrics.REMINDERS.labels("credit_expiring").inc)
            store.emit(session, Envelope.new("wallet.credit_expiring", {
                "customer_id": lot.customer_id, "lot_id": lot.id, "order_id": lot.order_id,
                "amount": lot.remaining_minor, "currency": lot.currency, "expires_at": lot.expires_at}))
    return len(lots)


class CreditSweeper:
    """The wallet worker's loop: expire what is due, send the reminders that are due."""

    def __init__(self, sessions: sessionmaker[Session], batch_size: int = 100) -> None:
        self.sessions = sessions
        self.batch_size = batch_size

    def sweep(self, now: datetime | None = None) -> int:
        """Expire the credits whose validity ended, then remind the owners of those about to
        end: each credit's owner is told once, `reminder_before` its expiry, what will expire
        and when, unless it was spent by then (or the owner wants no reminders). One question
        finds the accounts with either due (an idle sweep is one statement), then each is
        handled in a transaction of its own, under the account's lock like every change to
        its credits (so what is told is what is left)."""
        moment = now or utcnow()
        expiring = and_(CreditLotRow.remaining_minor > 0, CreditLotRow.expires_at <= moment)
        reminding = and_(CreditLotRow.reminded_at.is_(None), CreditLotRow.remaining_minor > 0,
                         CreditLotRow.remind_at <= moment, CreditLotRow.expires_at > moment)
        with self.sessions() as session:
            customers = list(session.scalars(select(CreditLotRow.customer_id).where(or_(expiring, reminding))
                                             .distinct().limit(self.batch_size)))
        done = 0
        for customer_id in customers:
            with unit_of_work(self.sessions) as session:
                row = store.get_account(session, customer_id, lock=True)
                if row is not None:
                    done += expire_due(session, row, moment) + remind_expiring(session, row, moment)
        return done

    def loop(self, idle_seconds: float) -> PollLoop:
        return PollLoop("wallet.credits", self.sweep, idle_seconds)
