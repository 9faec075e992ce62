"""The eSIM platform spends the balance: a debit, answered at once, and its reversal.

Both run in the API request's unit of work under the account's lock, so concurrent debits
on one account take turns and can never overdraw it. A debit first books whatever credits
of the account have expired (expired money is not spendable, and the statement shows the
expiry before the debit), then takes the amount from the credits that expire soonest.
Idempotency is in the data: the key is a column with a unique constraint, looked up under
the same lock, so the same key is always the same debit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.wallet import credits, store
from services.wallet.domain.errors import WalletError
from services.wallet.domain.ledger import debit_entry, debit_reversal_entry
from services.wallet.domain.lots import allocate, spendable
from services.wallet.models import AccountRow, AdjustmentRow, CreditLotRow, DebitAllocationRow, DebitRow
from shared.money import Money


class AccountNotFound(WalletError):
    code = "account_not_found"


class DebitNotFound(WalletError):
    code = "debit_not_found"


class IdempotencyKeyReused(WalletError):
    """The same Idempotency-Key with a different request: refusing beats guessing."""

    code = "idempotency_key_reused"


@dataclass(frozen=True)
class DebitRequest:
    customer_id: str
    key: str
    request_hash: str
    amount: Money
    reference: str
    description: str


def locked_account(session: Session, customer_id: str) -> AccountRow:
    row = store.get_account(session, customer_id, lock=True)
    if row is None:
        raise AccountNotFound(f"no wallet account for customer {customer_id}")
    return row


Keyed = TypeVar("Keyed", DebitRow, AdjustmentRow)


def earlier(session: Session, model: type[Keyed], customer_id: str, key: str, request_hash: str) -> Keyed | None:
    """What an Idempotency-Key did before on this account (a debit, an adjustment), if
    anything; refused if it came with another request."""
    found: Keyed | None = session.scalars(select(model).where(model.customer_id == customer_id,
                                                             model.idempotency_key == key)).one_or_none()
    if found is not None and found.request_hash != request_hash:
        raise IdempotencyKeyReused("this Idempotency-Key was used with a different request")
    return found


def debit(session: Session, request: DebitRequest, now: datetime) -> tuple[DebitRow, bool]:
    """Take `amount` from the balance; (the debit, whether it is a replay of the same key)."""
    row = locked_account(session, request.customer_id)
    if (existing := earlier(session, DebitRow, request.customer_id, request.key, request.request_hash)) is not None:
        return existing, True
    lots = store.open_lots(session, row.customer_id)
    credits.expire_due(session, row, now, lots=lots)
    plan = [credits.to_lot(lot) for lot in lots]
    store.to_account(row).check_can_spend(request.amount, spendable(plan, row.currency, now))
    allocations = allocate(plan, request.amount, now)
    before = Money(row.balance_minor, row.currency)
    debit_id = f"dbt_{uuid.uuid4().hex}"
    booked = store.record_entry(session, row, debit_entry(store.to_account(row), debit_id, request.amount,
                                                          request.description), now)
    by_id = {lot.id: lot for lot in lots}
    for part in allocations:
        by_id[part.lot_id].remaining_minor -= part.amount.amount_minor
    debit_row = DebitRow(id=debit_id, customer_id=row.customer_id, idempotency_key=request.key,
                         request_hash=request.request_hash, amount_minor=request.amount.amount_minor,
                         currency=request.amount.currency, reference=request.reference,
                         description=request.description, entry_id=booked.row.id,
                         balance_after_minor=row.balance_minor, created_at=now)
    session.add(debit_row)
    session.flush()
    session.add_all(DebitAllocationRow(debit_id=debit_id, lot_id=part.lot_id, amount_minor=part.amount.amount_minor)
                    for part in allocations)
    store.emit(session, store.account_updated(session, row, booked, lots=lots))
    credits.remind_if_low(session, row, before, None)
    return debit_row, False


def reverse(session: Session, customer_id: str, debit_id: str, now: datetime) -> tuple[DebitRow, bool]:
    """Give a debit back (a cancelled plan), once: each part to the credit it was taken from,
    which keeps its original expiry; a part whose credit has expired meanwhile therefore
    expires again at once. Allowed on a frozen account: the money is the customer's."""
    row = locked_account(session, customer_id)
    debit_row = session.scalars(select(DebitRow).where(DebitRow.id == debit_id,
                                                       DebitRow.customer_id == customer_id)).one_or_none()
    if debit_row is None:
        raise DebitNotFound(f"no debit {debit_id} on this account")
    if debit_row.reversal_entry_id is not None:
        return debit_row, True
    parts = session.scalars(select(DebitAllocationRow).where(DebitAllocationRow.debit_id == debit_id)).all()
    lots = {lot.id: lot for lot in session.scalars(
        select(CreditLotRow).where(CreditLotRow.id.in_([part.lot_id for part in parts])))}
    for part in parts:
        lots[part.lot_id].remaining_minor += part.amount_minor
    amount = Money(debit_row.amount_minor, debit_row.currency)
    booked = store.record_entry(session, row, debit_reversal_entry(store.to_account(row), debit_id, amount,
                                                                   debit_row.description), now)
    debit_row.reversal_entry_id = booked.row.id
    debit_row.reversed_at = now
    store.emit(session, store.account_updated(session, row, booked))
    credits.expire_due(session, row, now)
    debit_row.reversal_balance_after_minor = row.balance_minor
    return debit_row, False
