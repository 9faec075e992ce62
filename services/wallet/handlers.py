"""What each command or event does to the wallet: one function each.

Message handlers run inside the consumer's unit of work (with the inbox note); the operator
commands run inside the API's. Either way the messages they emit commit with the change.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from services.wallet import credits, store
from services.wallet.credits import CreditRules
from services.wallet.domain.errors import WalletError
from services.wallet.domain.ledger import topup_entry
from services.wallet.models import CreditRefusalRow
from shared.clock import utcnow
from shared.currencies import max_balance
from shared.messaging.envelope import Envelope
from shared.money import Money


def open_account(session: Session, msg: Envelope) -> None:
    """customer.registered: the account, with the customer's reminder preferences."""
    p = msg.payload
    row = store.open_account(session, p["customer_id"], p["currency"], msg)
    _keep_preferences(row, p, version=1)


def update_customer(session: Session, msg: Envelope) -> None:
    """customer.updated: the customer changed their low-balance threshold or reminders."""
    p = msg.payload
    row = store.open_account(session, p["customer_id"], p["currency"], msg)
    _keep_preferences(row, p, version=p["version"])


def _keep_preferences(row: Any, p: dict[str, Any], version: int) -> None:
    """Newer profile versions win; an update that arrives after a newer one is dropped."""
    if version <= row.profile_version:
        return
    row.low_balance_threshold_minor = p.get("low_balance_threshold")
    row.reminders = p.get("reminders", True)
    row.profile_version = version


def authorize_credit(session: Session, msg: Envelope) -> None:
    """Before anyone is charged: may this account receive the top-up?"""
    p = msg.payload
    row = store.open_account(session, p["customer_id"], p["currency"], msg)
    amount = Money(p["amount"], p["currency"])
    ids = {"order_id": p["order_id"], "customer_id": p["customer_id"]}
    try:
        store.to_account(row).check_can_receive(amount, max_balance(row.currency))
    except WalletError as refusal:
        store.emit(session, Envelope.new("wallet.credit_refused", {**ids, "reason": refusal.code}, caused_by=msg))
        return
    store.emit(session, Envelope.new("wallet.credit_authorized", ids, caused_by=msg))


def credit(session: Session, msg: Envelope, rules: CreditRules) -> None:
    """Put a paid top-up on the balance, once per order, whatever the message id, as a
    credit valid until the moment the customer confirmed on the quote. Both answers are
    kept: a repeated command gets the same credit, or the same refusal (its payment was
    refunded), whatever the balance has become since."""
    p = msg.payload
    row = store.open_account(session, p["customer_id"], p["currency"], msg)
    ids = {"order_id": p["order_id"], "customer_id": p["customer_id"]}
    before = store.before_credit(session, row, p["order_id"])
    if before.credited is not None:
        entry_id = before.credited.entry_id
        store.emit(session, _credited(entry_id, before.credited.balance_after, p, msg, account=None,
                                      valid_until=store.credit_end(session, entry_id)))
        return
    if before.refusal is not None:
        store.emit(session, Envelope.new("wallet.credit_failed", {**ids, "reason": before.refusal}, caused_by=msg))
        return
    now, lots = utcnow(), before.lots
    credits.expire_due(session, row, now, caused_by=msg, lots=lots)
    amount, charge = Money(p["amount"], p["currency"]), Money(p["charge_amount"], p["currency"])
    try:
        store.to_account(row).check_can_receive(amount, max_balance(row.currency))
    except WalletError as refusal:
        session.add(CreditRefusalRow(order_id=p["order_id"], customer_id=row.customer_id, reason=refusal.code,
                                     refused_at=now))
        store.emit(session, Envelope.new("wallet.credit_failed", {**ids, "reason": refusal.code}, caused_by=msg))
        return
    booked = store.record_entry(session, row, topup_entry(store.to_account(row), p["order_id"], amount, charge), now)
    lot = credits.add_lot(session, row, booked, p["order_id"], valid_until(p, rules, now), rules, now)
    account = store.state(session, row, booked, lots=[*lots, lot])
    store.emit(session, _credited(booked.row.id, row.balance_minor, p, msg, account=account,
                                  valid_until=lot.expires_at))


def valid_until(p: dict[str, Any], rules: CreditRules, now: datetime) -> datetime:
    """The credit's end, as confirmed on the quote (older commands only said how many days).
    A confirmed end already past when the money arrives (only a validity shorter than the
    payment took allows it) would credit nothing the customer could use: the credit is then
    valid for the whole validity from now, and the order learns the end from the answer."""
    if p.get("valid_until") is not None:
        end: datetime = p["valid_until"]
    elif p.get("validity_days") is not None:
        end = now + timedelta(days=p["validity_days"])
    else:
        end = now + rules.default_validity
    return end if end > now else now + rules.default_validity


def _credited(entry_id: str, balance_after: int, p: dict[str, Any], msg: Envelope,
              account: dict[str, Any] | None, valid_until: datetime | None) -> Envelope:
    """The saga's answer. The first one carries the account's new state (its version),
    which is how the order service learns of this balance change; a repeated answer for
    an order already credited carries none."""
    return Envelope.new(
        "wallet.credited",
        {"order_id": p["order_id"], "customer_id": p["customer_id"], "entry_id": entry_id,
         "amount": p["amount"], "currency": p["currency"], "balance_after": balance_after,
         "account_version": account["version"] if account else None, "account": account,
         "valid_until": valid_until},
        caused_by=msg,
    )


def set_frozen(session: Session, customer_id: str, frozen: bool, reason: str | None,
               operator: str | None = None) -> store.AccountRow | None:
    """Operator: freeze (with a reason code the customer is told in words) or unfreeze an
    account, under the operator's name. Idempotent: the same state twice is one change."""
    row = store.get_account(session, customer_id, lock=True)
    if row is None:
        return None
    status = "frozen" if frozen else "active"
    if row.status != status or (frozen and row.frozen_reason != reason):
        row.status = status
        row.frozen_reason = reason if frozen else None
        row.status_changed_by, row.status_changed_at = operator, utcnow()
        store.bump(row)
        store.emit(session, store.account_updated(session, row))
    return row
