"""What each command or event does to the wallet: one function each.

Message handlers run inside the consumer's unit of work (with the inbox note); the operator
commands run inside the API's. Either way the messages they emit commit with the change.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from services.wallet import store
from services.wallet.domain.errors import WalletError
from services.wallet.domain.ledger import EntryKind, topup_entry
from shared.messaging.envelope import Envelope
from shared.money import Money


@dataclass(frozen=True)
class WalletRules:
    balance_cap_major: int

    def cap(self, currency: str) -> Money:
        return Money.of_major(self.balance_cap_major, currency)


def open_account(session: Session, msg: Envelope) -> None:
    p = msg.payload
    row, opened = store.open_account(session, p["customer_id"], p["currency"])
    if opened:
        store.emit(session, store.account_updated(row, msg))


def authorize_credit(session: Session, msg: Envelope, rules: WalletRules) -> None:
    """Before anyone is charged: may this account receive the top-up?"""
    p = msg.payload
    row, opened = store.open_account(session, p["customer_id"], p["currency"])
    if opened:
        store.emit(session, store.account_updated(row, msg))
    credit = Money(p["amount"], p["currency"])
    ids = {"order_id": p["order_id"], "customer_id": p["customer_id"]}
    try:
        store.to_account(row).check_can_receive(credit, rules.cap(row.currency))
    except WalletError as refusal:
        store.emit(session, Envelope.new("wallet.credit_refused", {**ids, "reason": refusal.code}, caused_by=msg))
        return
    store.emit(session, Envelope.new("wallet.credit_authorized", ids, caused_by=msg))


def credit(session: Session, msg: Envelope, rules: WalletRules) -> None:
    """Put a paid top-up on the balance, once per order, whatever the message id."""
    p = msg.payload
    row, _ = store.open_account(session, p["customer_id"], p["currency"])
    ids = {"order_id": p["order_id"], "customer_id": p["customer_id"]}
    existing = store.find_entry(session, EntryKind.TOPUP.value, p["order_id"])
    if existing is not None:
        store.emit(session, _credited(existing, p, msg, account_version=None))
        return
    amount, charge = Money(p["amount"], p["currency"]), Money(p["charge_amount"], p["currency"])
    try:
        store.to_account(row).check_can_receive(amount, rules.cap(row.currency))
    except WalletError as refusal:
        store.emit(session, Envelope.new("wallet.credit_failed", {**ids, "reason": refusal.code}, caused_by=msg))
        return
    entry = store.record_entry(session, row, topup_entry(store.to_account(row), p["order_id"], amount, charge))
    store.emit(session, _credited(entry, p, msg, account_version=row.version), store.account_updated(row, msg))


def _credited(entry: store.JournalEntryRow, p: dict, msg: Envelope,  # type: ignore[type-arg]
              account_version: int | None) -> Envelope:
    return Envelope.new(
        "wallet.credited",
        {"order_id": p["order_id"], "customer_id": p["customer_id"], "entry_id": entry.id,
         "amount": p["amount"], "currency": p["currency"], "balance_after": entry.balance_after_minor,
         "account_version": account_version},
        caused_by=msg,
    )


def set_frozen(session: Session, customer_id: str, frozen: bool, reason: str | None) -> store.AccountRow | None:
    """Operator: freeze or unfreeze an account. Idempotent: the same state twice is one change."""
    row = store.get_account(session, customer_id, lock=True)
    if row is None:
        return None
    status = "frozen" if frozen else "active"
    if row.status != status:
        row.status = status
        row.frozen_reason = reason if frozen else None
        row.version += 1
        store.emit(session, store.account_updated(row))
    return row
