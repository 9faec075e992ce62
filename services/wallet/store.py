"""Reading and writing the wallet's accounts and ledger, and announcing what changed.

Every change of an account (its balance, its status) raises the account's `version` by one
and is announced by exactly one message that carries the account's whole state at that
version: `wallet.credited` for a top-up's credit, `wallet.account_updated` for everything
else. The order service shows the balance and the statement from these, in version order,
so one version without its message would stall them: `bump` is the only way to change one
(and `record_entry`, which writes the raised version with the new balance).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, bindparam, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from services.wallet.domain.ledger import Account, AccountStatus, EntryKind, JournalEntry, customer_account
from services.wallet.models import (
    AccountRow,
    CreditLotRow,
    CreditRefusalRow,
    JournalEntryRow,
    OutboxMessage,
    PostingRow,
)
from shared.clock import utcnow
from shared.db import insert_into, update_where
from shared.messaging.envelope import Envelope
from shared.messaging.outbox import put
from shared.money import Money


def to_account(row: AccountRow) -> Account:
    return Account(row.customer_id, row.currency, AccountStatus(row.status), Money(row.balance_minor, row.currency))


POSTINGS: Table = PostingRow.__table__  # type: ignore[assignment]
#: (locked?) -> the account by customer id, built once (shared/db.py says why)
ACCOUNT = {False: select(AccountRow).where(AccountRow.customer_id == bindparam("customer_id"))}
ACCOUNT[True] = ACCOUNT[False].with_for_update()


def get_account(session: Session, customer_id: str, *, lock: bool = False) -> AccountRow | None:
    """The account row; `lock` serializes balance changes on one account (row lock on
    PostgreSQL; SQLite already runs one writer at a time). Whatever touches an account's
    balance, its credit lots or its debits takes this lock first: one lock order, no
    deadlocks."""
    return session.scalars(ACCOUNT[lock], {"customer_id": customer_id}).one_or_none()


def open_account(session: Session, customer_id: str, currency: str, caused_by: Envelope) -> AccountRow:
    """The customer's account (locked), opened now if it does not exist yet, and then its
    first version announced like every other.

    Opening on demand makes the wallet indifferent to whether the registration event or
    the customer's first order arrives first.
    """
    row = get_account(session, customer_id, lock=True)
    if row is not None:
        return row
    row = AccountRow(customer_id=customer_id, currency=currency, status="active", balance_minor=0, version=1,
                     reminders=True, profile_version=0)
    session.add(row)
    session.flush()
    emit(session, account_updated(session, row, caused_by=caused_by, lots=[]))
    return row


@dataclass(frozen=True)
class Credited:
    """An order's top-up entry, as a repeated command to credit it is answered."""

    entry_id: str
    balance_after: int


@dataclass(frozen=True)
class BeforeCredit:
    """What a credit reads under the account's lock: what an earlier command for the order
    left (its top-up entry, or the reason it was refused), and the account's open credits."""

    credited: Credited | None
    refusal: str | None
    lots: list[CreditLotRow]


BEFORE_CREDIT = (
    select(JournalEntryRow.id, JournalEntryRow.balance_after_minor, CreditRefusalRow.reason, CreditLotRow)
    .select_from(AccountRow)
    .outerjoin(JournalEntryRow, and_(JournalEntryRow.kind == EntryKind.TOPUP.value,
                                     JournalEntryRow.order_id == bindparam("order_id")))
    .outerjoin(CreditRefusalRow, CreditRefusalRow.order_id == bindparam("order_id"))
    .outerjoin(CreditLotRow, and_(CreditLotRow.customer_id == AccountRow.customer_id,
                                  CreditLotRow.remaining_minor > 0))
    .where(AccountRow.customer_id == bindparam("customer_id"))
    .order_by(CreditLotRow.expires_at, CreditLotRow.created_at, CreditLotRow.id)
)


def before_credit(session: Session, row: AccountRow, order_id: str) -> BeforeCredit:
    """All a credit reads once it holds the account's lock, in one round trip: the order's
    top-up entry or refusal, and the account's credits with money left, soonest to expire
    first. (After the lock, not with it: on PostgreSQL a statement that waited for a lock
    sees the other tables as they were before it waited.)"""
    rows = session.execute(BEFORE_CREDIT, {"order_id": order_id, "customer_id": row.customer_id}).all()
    # one row per open credit, or one with none
    entry_id, balance_after, refusal, _ = rows[0]
    return BeforeCredit(Credited(entry_id, balance_after) if entry_id is not None else None, refusal,
                        [lot for *_, lot in rows if lot is not None])


def credit_end(session: Session, entry_id: str) -> datetime | None:
    """Until when a top-up entry's credit was valid (entries from before credits expired have none)."""
    end: datetime | None = session.scalars(select(CreditLotRow.expires_at)
                                           .where(CreditLotRow.entry_id == entry_id)).first()
    return end


@dataclass(frozen=True)
class Booked:
    """An entry as recorded, with the customer's side of it (what the statement shows)."""

    row: JournalEntryRow
    change: int


def record_entry(session: Session, row: AccountRow, entry: JournalEntry, now: datetime | None = None) -> Booked:
    """Append an entry and move the cached balance by the customer's side of it, raising the
    account's version (as `bump` does). The caller announces the new version
    (`account_updated` or `wallet.credited`).

    Plain statements, on every credit's and debit's path (issue 10: the ORM's add and flush
    cost several times as much): the entry, its postings in one executemany, the account's
    balance and version; the account row the caller holds is told its new values as
    committed, so the ORM has nothing left to write for them."""
    change = entry.amount_for(customer_account(row.customer_id))
    balance, version = row.balance_minor + change, row.version + 1
    values = {"id": f"je_{uuid.uuid4().hex}", "kind": entry.kind.value, "order_id": entry.order_id,
              "customer_id": row.customer_id, "reference": entry.reference, "description": entry.description,
              "balance_after_minor": balance, "account_version": version, "created_at": now or utcnow()}
    session.execute(insert_into(ENTRIES), values)
    session.execute(insert_into(POSTINGS), [
        {"entry_id": values["id"], "account": p.account, "amount_minor": p.amount.amount_minor,
         "currency": p.amount.currency} for p in entry.postings])
    session.execute(update_where(ACCOUNTS, "customer_id"),
                    {"where_customer_id": row.customer_id, "balance_minor": balance, "version": version})
    set_committed_value(row, "balance_minor", balance)
    set_committed_value(row, "version", version)
    return Booked(JournalEntryRow(**values), change)  # as written (not in the session: nothing to flush)


ENTRIES: Table = JournalEntryRow.__table__  # type: ignore[assignment]
ACCOUNTS: Table = AccountRow.__table__  # type: ignore[assignment]


def bump(row: AccountRow) -> None:
    row.version += 1


def open_lots(session: Session, customer_id: str) -> list[CreditLotRow]:
    """The account's credits with money left, soonest to expire first."""
    return list(session.scalars(
        select(CreditLotRow)
        .where(CreditLotRow.customer_id == customer_id, CreditLotRow.remaining_minor > 0)
        .order_by(CreditLotRow.expires_at, CreditLotRow.created_at, CreditLotRow.id)
    ))


def state(session: Session, row: AccountRow, booked: Booked | None = None, order_id: str | None = None,
          lots: list[CreditLotRow] | None = None) -> dict[str, Any]:
    """The account at its current version, as announced (shared.contracts.wallet.AccountState).
    `order_id` names the top-up an entry concerns when the entry itself does not (an expiry);
    `lots`, the account's credits as the caller already holds them (else they are read)."""
    if lots is None:
        session.flush()
        lots = open_lots(session, row.customer_id)
    entry = None
    if booked is not None:
        entry_row = booked.row
        entry = {"entry_id": entry_row.id, "kind": entry_row.kind, "amount": booked.change,
                 "balance_after": entry_row.balance_after_minor, "occurred_at": entry_row.created_at,
                 "order_id": entry_row.order_id or order_id, "reference": entry_row.reference,
                 "description": entry_row.description}
    return {
        "customer_id": row.customer_id, "balance": row.balance_minor, "currency": row.currency,
        "status": row.status, "frozen_reason": row.frozen_reason, "version": row.version,
        "expiring": [{"amount": lot.remaining_minor, "expires_at": lot.expires_at}
                     for lot in sorted(lots, key=lambda lot: (lot.expires_at, lot.created_at, lot.id))
                     if lot.remaining_minor > 0],
        "entry": entry,
    }


def account_updated(session: Session, row: AccountRow, booked: Booked | None = None,
                    caused_by: Envelope | None = None, order_id: str | None = None,
                    lots: list[CreditLotRow] | None = None) -> Envelope:
    return Envelope.new("wallet.account_updated", state(session, row, booked, order_id, lots),
                        correlation_id=None, caused_by=caused_by)


def emit(session: Session, *envelopes: Envelope) -> None:
    put(session, OutboxMessage, *envelopes)
