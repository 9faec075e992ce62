"""Support adjusts a balance: goodwill or a correction, with the operator's name and reason.

An adjustment is a balanced journal entry of kind `adjustment` against `adjustments:<CUR>`
(domain/ledger.py), announced like every other change, so the customer's statement shows it.
Money put on the balance is a credit of its own, valid for the default validity, reminded
and expired like a top-up's; money taken off comes from the credits that expire first, and
only from what is spendable. Allowed on a frozen account: the money is the customer's, and
support is who corrects it. One per Idempotency-Key, as the platform's debits.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy.orm import Session

from services.wallet import credits, store
from services.wallet.credits import CreditRules
from services.wallet.domain.errors import BalanceCapExceeded, CurrencyNotSupported, InsufficientFunds
from services.wallet.domain.ledger import adjustment_entry
from services.wallet.domain.lots import allocate, spendable
from services.wallet.models import AdjustmentRow
from services.wallet.spending import earlier, locked_account
from shared.currencies import max_balance
from shared.money import Money

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class AdjustmentRequest:
    customer_id: str
    key: str
    request_hash: str
    #: signed, the customer's side: positive puts money on the balance
    amount: Money
    reason: str
    operator: str


def adjust(session: Session, request: AdjustmentRequest, rules: CreditRules,
           now: datetime) -> tuple[AdjustmentRow, bool]:
    """Book the adjustment now, or refuse with nothing changed; (it, whether a replay)."""
    row = locked_account(session, request.customer_id)
    if (existing := earlier(session, AdjustmentRow, request.customer_id, request.key,
                            request.request_hash)) is not None:
        return existing, True
    if request.amount.currency != row.currency:
        raise CurrencyNotSupported(f"account holds {row.currency}, not {request.amount.currency}")
    lots = store.open_lots(session, row.customer_id)
    credits.expire_due(session, row, now, lots=lots)
    adjustment_id = f"adj_{uuid.uuid4().hex}"
    entry = adjustment_entry(store.to_account(row), adjustment_id, request.amount)
    if request.amount.amount_minor > 0:
        if Money(row.balance_minor, row.currency) + request.amount > max_balance(row.currency):
            raise BalanceCapExceeded(f"{request.amount} would take the balance over its limit")
        booked = store.record_entry(session, row, entry, now)
        lots.append(credits.add_lot(session, row, booked, None, now + rules.default_validity, rules, now))
    else:
        taken = -request.amount
        plan = [credits.to_lot(lot) for lot in lots]
        if taken > spendable(plan, row.currency, now):
            raise InsufficientFunds(f"{taken} asked, {spendable(plan, row.currency, now)} spendable")
        by_id = {lot.id: lot for lot in lots}
        for part in allocate(plan, taken, now):
            by_id[part.lot_id].remaining_minor -= part.amount.amount_minor
        booked = store.record_entry(session, row, entry, now)
    adjustment = AdjustmentRow(id=adjustment_id, customer_id=row.customer_id, idempotency_key=request.key,
                               request_hash=request.request_hash, amount_minor=request.amount.amount_minor,
                               currency=row.currency, reason=request.reason, operator=request.operator,
                               entry_id=booked.row.id, balance_after_minor=row.balance_minor, created_at=now)
    session.add(adjustment)
    store.emit(session, store.account_updated(session, row, booked, lots=lots))
    log.info("balance_adjusted", customer_id=row.customer_id, adjustment_id=adjustment_id,
             amount=request.amount.amount_minor, currency=row.currency, operator=request.operator,
             reason=request.reason)
    return adjustment, False
