"""Reading the four services' databases for the audit: read-only, one bulk query per table.

This is the one place allowed to read several services' tables. It reads only the columns
the check relies on (a service may add columns and tables at any time), inside one
read-only transaction per database: a REPEATABLE READ, READ ONLY snapshot on PostgreSQL;
on SQLite the write lock that `make_engine` takes for every transaction, plus
`PRAGMA query_only`, so nothing moves while a database is read and nothing can be written.

The databases are read in the order the saga writes them, order first: an order that was
already terminal when it was read has everything that happened before (its capture, its
credit, its refund) committed in the databases read after it. Only what follows the end of
an order (its receipt, the refund of late money) can still be on its way; the rules give
that the grace period.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Connection, Select, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from services.notify import models as notify_db
from services.order import models as order_db
from services.payment import models as payment_db
from services.wallet import models as wallet_db
from shared.clock import utcnow
from shared.config import Settings
from shared.db import is_sqlite, make_engine

T = TypeVar("T")


class CheckError(RuntimeError):
    """The check could not read a database (missing, unreachable, not migrated)."""


@dataclass(frozen=True, slots=True)
class Order:
    id: str
    customer_id: str
    status: str
    credit_minor: int
    charge_minor: int
    currency: str
    failure_reason: str | None
    payment_id: str | None
    payment_deadline: datetime
    needs_operator: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Payment:
    id: str
    order_id: str
    customer_id: str
    amount_minor: int
    currency: str
    method: str
    status: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    kind: str
    order_id: str
    customer_id: str


@dataclass(frozen=True, slots=True)
class Posting:
    entry_id: str
    account: str
    amount_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class Account:
    customer_id: str
    balance_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class Receipt:
    """An email about an order: the receipt, or a reversal notice (copies are not counted)."""

    order_id: str
    kind: str
    status: str


@dataclass(frozen=True, slots=True)
class Lot:
    """A credit on a balance: what is left of it and when it ends."""

    id: str
    customer_id: str
    currency: str
    remaining_minor: int
    expires_at: datetime


@dataclass(frozen=True)
class Snapshot:
    """Everything the check looks at. `read_at` is when the orders were read: anything the
    other services created later may belong to an order this snapshot cannot know yet."""

    read_at: datetime
    emails: dict[str, str]
    orders: list[Order]
    payments: list[Payment]
    entries: list[Entry]
    postings: list[Posting]
    accounts: list[Account]
    receipts: list[Receipt]
    lots: list[Lot]
    #: order id -> the number of the receipt issued for it
    receipt_numbers: dict[str, str]


o, p, w, n = order_db, payment_db, wallet_db, notify_db
ORDERS = select(o.Order.id, o.Order.customer_id, o.Order.status, o.Order.credit_minor, o.Order.charge_minor,
                o.Order.currency, o.Order.failure_reason, o.Order.payment_id, o.Order.payment_deadline,
                o.Order.needs_operator, o.Order.created_at)
PAYMENTS = select(p.PaymentRow.id, p.PaymentRow.order_id, p.PaymentRow.customer_id, p.PaymentRow.amount_minor,
                  p.PaymentRow.currency, p.PaymentRow.method, p.PaymentRow.status, p.PaymentRow.created_at)
ENTRIES = select(w.JournalEntryRow.id, w.JournalEntryRow.kind, w.JournalEntryRow.order_id,
                 w.JournalEntryRow.customer_id)
POSTINGS = select(w.PostingRow.entry_id, w.PostingRow.account, w.PostingRow.amount_minor, w.PostingRow.currency)
ACCOUNTS = select(w.AccountRow.customer_id, w.AccountRow.balance_minor, w.AccountRow.currency)
LOTS = select(w.CreditLotRow.id, w.CreditLotRow.customer_id, w.CreditLotRow.currency, w.CreditLotRow.remaining_minor,
              w.CreditLotRow.expires_at)
RECEIPTS = select(n.EmailRow.order_id, n.EmailRow.kind, n.EmailRow.status).where(
    n.EmailRow.kind.in_(["receipt", "reversal"]), n.EmailRow.order_id.is_not(None))
RECEIPT_NUMBERS = select(n.ReceiptRow.order_id, n.ReceiptRow.number)


def load(settings: Settings) -> Snapshot:
    read_at = utcnow()
    with reading(settings, "order") as conn:
        emails = {customer_id: email for customer_id, email in conn.execute(select(o.Customer.id, o.Customer.email))}
        orders = rows(conn, ORDERS, Order)
    with reading(settings, "payment") as conn:
        payments = rows(conn, PAYMENTS, Payment)
    with reading(settings, "wallet") as conn:
        entries = rows(conn, ENTRIES, Entry)
        postings = rows(conn, POSTINGS, Posting)
        accounts = rows(conn, ACCOUNTS, Account)
        lots = rows(conn, LOTS, Lot)
    with reading(settings, "notify") as conn:
        receipts = rows(conn, RECEIPTS, Receipt)
        numbers = {order_id: number for order_id, number in conn.execute(RECEIPT_NUMBERS)}
    return Snapshot(read_at, emails, orders, payments, entries, postings, accounts, receipts, lots, numbers)


def rows(conn: Connection, query: Select, kind: type[T]) -> list[T]:  # type: ignore[type-arg]
    return [kind(*row) for row in conn.execute(query)]


@contextmanager
def reading(settings: Settings, service: str) -> Iterator[Connection]:
    """A read-only transaction on one service's database, closed (and rolled back) after."""
    url = settings.database_url(service)
    shown = make_url(url).render_as_string(hide_password=True)
    _require_sqlite_file(url, service)
    engine = make_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            if is_sqlite(url):
                conn.exec_driver_sql("PRAGMA query_only = ON")
            else:
                conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            yield conn
            conn.rollback()
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        if "no such table" in reason or "relation" in reason:
            reason += " (is this the service's database, and has the service started once to migrate it?)"
        raise CheckError(f"cannot read the {service} database ({shown}): {reason}") from exc
    finally:
        engine.dispose()


def _require_sqlite_file(url: str, service: str) -> None:
    """Opening a missing SQLite file would create an empty database; say so instead."""
    if not is_sqlite(url):
        return
    path = url.split("///", 1)[-1]
    if path and path != ":memory:" and not Path(path).is_file():
        raise CheckError(f"the {service} database {path} does not exist (set {service.upper()}_DATABASE_URL "
                         "to the database the service uses)")
