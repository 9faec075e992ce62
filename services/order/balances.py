"""The balance and its statement as the customer sees them, kept from what the wallet
announces (no service reads another's tables).

Every change of a wallet account comes with its version and the account's whole state at
that version (shared/contracts/wallet.py: AccountState). They arrive on two queues and may
be retried, so out of order: each is kept as it comes (`balance_changes`), and the balance
moves forward only through versions whose every predecessor is here. The statement lists
the entries up to the balance's version: it is never behind the balance it shows, nor
ahead of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from services.order.models import Balance, BalanceChange
from services.order.texts import _
from shared.contracts import jsonable
from shared.db import insert_new, upsert
from shared.i18n import Text


def keep(session: Session, state: dict[str, Any]) -> None:
    """One announced version of an account: keep it (once), then move the balance forward.

    Usually it is the version right after the balance's, and none after it has come yet:
    the balance then moves in one statement (it changes the row only if the balance is still
    at the version before, holding its lock from then on), and one look finds nothing next
    in line. Otherwise `advance` locks, reads and walks the waiting versions."""
    entry = state.get("entry") or {}
    kept = session.execute(insert_new(session, CHANGES, ("customer_id", "version")), {
        "customer_id": state["customer_id"], "version": state["version"], "balance_minor": state["balance"],
        "currency": state["currency"], "status": state["status"], "frozen_reason": state.get("frozen_reason"),
        "expiring": jsonable(state["expiring"]),
        "entry_id": entry.get("entry_id"), "kind": entry.get("kind"), "amount_minor": entry.get("amount"),
        "occurred_at": entry.get("occurred_at"), "order_id": entry.get("order_id"),
        "reference": entry.get("reference"), "description": entry.get("description")}).first()
    customer_id, version = state["customer_id"], state["version"]
    if kept is not None and session.execute(NEXT_VERSION, {
            "where_customer_id": customer_id, "where_version": version - 1, "version": version,
            "amount_minor": state["balance"], "currency": state["currency"], "status": state["status"],
            "frozen_reason": state.get("frozen_reason"), "expiring": jsonable(state["expiring"])}).first():
        if session.execute(WAITING_NEXT, {"customer_id": customer_id, "version": version + 1}).first() is None:
            return
    advance(session, customer_id, state["currency"])


CHANGES: Table = BalanceChange.__table__  # type: ignore[assignment]
BALANCES: Table = Balance.__table__  # type: ignore[assignment]
# populate_existing: a balance moved by NEXT_VERSION earlier in this transaction is read as it is now
LOCK_BALANCE = (select(Balance).where(Balance.customer_id == bindparam("customer_id")).with_for_update()
                .execution_options(populate_existing=True))
NEXT_VERSION = (update(BALANCES).where(BALANCES.c.customer_id == bindparam("where_customer_id"),
                                       BALANCES.c.version == bindparam("where_version"))
                .returning(BALANCES.c.version))
WAITING_NEXT = select(CHANGES.c.version).where(CHANGES.c.customer_id == bindparam("customer_id"),
                                               CHANGES.c.version == bindparam("version"))
WAITING = (select(BalanceChange)
           .where(BalanceChange.customer_id == bindparam("customer_id"), BalanceChange.version > bindparam("version"))
           .order_by(BalanceChange.version))


def advance(session: Session, customer_id: str, currency: str) -> None:
    """Move the balance to the newest version reachable without a gap. The balance row is
    created empty first (version 0) so that there is always a row to lock: two handlers of
    one account's versions take turns here, and the second sees what the first kept."""
    balance = session.scalars(LOCK_BALANCE, {"customer_id": customer_id}).one_or_none()
    if balance is None:
        session.execute(upsert(session)(Balance).values(
            customer_id=customer_id, amount_minor=0, currency=currency, status="active", version=0,
            expiring=[]).on_conflict_do_nothing(index_elements=["customer_id"]))
        balance = session.scalars(LOCK_BALANCE, {"customer_id": customer_id}).one()
    waiting = session.scalars(WAITING, {"customer_id": customer_id, "version": balance.version}).all()
    reached = None
    for change in waiting:
        if change.version != (reached.version if reached else balance.version) + 1:
            break
        reached = change
    if reached is not None:
        balance.amount_minor, balance.currency = reached.balance_minor, reached.currency
        balance.status, balance.frozen_reason = reached.status, reached.frozen_reason
        balance.expiring, balance.version = reached.expiring, reached.version


#: the balance's columns the request's customer row carries (web.CUSTOMER_ROW), prefixed
BALANCE_PREFIX = "balance_"
BALANCE_COLUMNS = ("customer_id", "amount_minor", "currency", "status", "frozen_reason", "version")


def balance_of(session: Session, customer: Any) -> Balance:
    """The balance as the wallet last announced it; a new account has not spoken yet. Taken
    from the signed-in customer's row when it was read with it (no statement of its own)."""
    if hasattr(customer, f"{BALANCE_PREFIX}status"):
        if getattr(customer, f"{BALANCE_PREFIX}customer_id") is None:
            row = None
        else:
            row = Balance(**{name: getattr(customer, f"{BALANCE_PREFIX}{name}") for name in BALANCE_COLUMNS})
    else:
        row = session.get(Balance, customer.id)
    return row or Balance(customer_id=customer.id, amount_minor=0, currency=customer.currency,
                          status="active", version=0, expiring=[])


@dataclass(frozen=True)
class StatementPage:
    entries: list[BalanceChange]
    next_cursor: str | None


def statement(session: Session, customer_id: str, limit: int, cursor: str | None) -> StatementPage:
    """The entries, newest first, up to the balance's version; keyset-paginated on the
    version (the cursor is the last version shown), so pages never skip or repeat."""
    shown = session.scalar(select(Balance.version).where(Balance.customer_id == customer_id)) or 0
    query = (select(BalanceChange)
             .where(BalanceChange.customer_id == customer_id, BalanceChange.entry_id.is_not(None),
                    BalanceChange.version <= shown)
             .order_by(BalanceChange.version.desc()).limit(limit + 1))
    if cursor is not None:
        query = query.where(BalanceChange.version < parse_cursor(cursor))
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return StatementPage(rows, f"v{rows[-1].version}" if more else None)


def parse_cursor(cursor: str) -> int:
    """`v<version>`; the API's schema lets only that shape (ASCII digits) through."""
    return int(cursor[1:])


#: What a customer is told when their account is frozen, for each of the operators' reason
#: codes (services/wallet/domain/ledger.py: FreezeReason); an unknown code gets the last.
FROZEN_BECAUSE: dict[str, Text] = {
    "overdue_payment": _("A payment to your provider is overdue."),
    "suspected_fraud": _("We noticed unusual activity and are checking it to protect you."),
    "customer_request": _("You asked us to freeze it."),
    "compliance_review": _("A routine compliance review is under way."),
}
FROZEN_OTHERWISE = _("Please contact support to learn why.")


def frozen_because(code: str | None) -> Text:
    return FROZEN_BECAUSE.get(code or "", FROZEN_OTHERWISE)


def expiring(balance: Balance, now: datetime) -> list[dict[str, Any]]:
    """The credits on the balance, soonest to end first; one that has just ended is left
    out even before the wallet has booked its expiry (it cannot be spent any more)."""
    credits = [{"amount": e["amount"], "expires_at": datetime.fromisoformat(e["expires_at"])}
               for e in balance.expiring or []]
    return [credit for credit in credits if credit["expires_at"] > now]


#: What the statement says of an entry, when the entry carries no words of its own (a debit
#: carries the platform's description of what was bought).
KIND_WORDS: dict[str, Text] = {
    "topup": _("Balance top-up"),
    "debit": _("Purchase"),
    "expiry": _("Expired credit"),
    "reversal": _("Top-up reversed"),
    "adjustment": _("Adjustment by support"),
}


def describe(change: BalanceChange) -> Text | str | None:
    if change.kind == "debit_reversal":
        return _("Refund: {what}", what=change.description or KIND_WORDS["debit"])
    if change.description:
        return change.description
    return KIND_WORDS.get(change.kind or "")
