"""Reading and writing the wallet's domain objects (the repository)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.wallet.domain.ledger import Account, AccountStatus, JournalEntry, customer_account
from services.wallet.models import AccountRow, JournalEntryRow, OutboxMessage, PostingRow
from shared.messaging.envelope import Envelope
from shared.messaging.outbox import put
from shared.money import Money


def to_account(row: AccountRow) -> Account:
    return Account(row.customer_id, row.currency, AccountStatus(row.status), Money(row.balance_minor, row.currency))


def get_account(session: Session, customer_id: str, *, lock: bool = False) -> AccountRow | None:
    """The account row; `lock` serializes balance changes on one account (row lock on
    PostgreSQL; SQLite already runs one writer at a time)."""
    query = select(AccountRow).where(AccountRow.customer_id == customer_id)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).one_or_none()


def open_account(session: Session, customer_id: str, currency: str) -> tuple[AccountRow, bool]:
    """The customer's account, opened now if it does not exist yet (True when opened).

    Opening on demand makes the wallet indifferent to whether the registration event or
    the customer's first order arrives first.
    """
    row = get_account(session, customer_id, lock=True)
    if row is not None:
        return row, False
    row = AccountRow(customer_id=customer_id, currency=currency, status="active", balance_minor=0, version=1)
    session.add(row)
    session.flush()
    return row, True


def find_entry(session: Session, kind: str, order_id: str) -> JournalEntryRow | None:
    return session.scalars(
        select(JournalEntryRow).where(JournalEntryRow.kind == kind, JournalEntryRow.order_id == order_id)
    ).one_or_none()


def record_entry(session: Session, row: AccountRow, entry: JournalEntry) -> JournalEntryRow:
    """Append an entry and move the cached balance by the customer's side of it."""
    row.balance_minor += entry.amount_for(customer_account(row.customer_id))
    row.version += 1
    entry_row = JournalEntryRow(
        id=f"je_{uuid.uuid4().hex}",
        kind=entry.kind.value,
        order_id=entry.order_id,
        customer_id=row.customer_id,
        balance_after_minor=row.balance_minor,
    )
    entry_row.postings = [
        PostingRow(account=p.account, amount_minor=p.amount.amount_minor, currency=p.amount.currency)
        for p in entry.postings
    ]
    session.add(entry_row)
    return entry_row


def account_updated(row: AccountRow, caused_by: Envelope | None = None) -> Envelope:
    return Envelope.new(
        "wallet.account_updated",
        {"customer_id": row.customer_id, "balance": row.balance_minor, "currency": row.currency,
         "status": row.status, "version": row.version},
        correlation_id=None,
        caused_by=caused_by,
    )


def emit(session: Session, *envelopes: Envelope) -> None:
    put(session, OutboxMessage, *envelopes)
