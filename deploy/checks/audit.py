"""The audit: a snapshot of the four databases in, a report out. Pure, so that tests can
hand it any data. Every table is indexed once in a dict, so the work grows linearly with
the number of rows (no query per order)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import TypeVar

from deploy.checks.ledger import balances_match_postings, credits_match_balances, entries_balance
from deploy.checks.orders import CUSTOMER, OrderView, check_order
from deploy.checks.report import Check, Counts, Problem, Report, money, sort_problems
from deploy.checks.snapshot import Posting, Snapshot
from services.payment.domain.payment import PaymentStatus
from services.wallet.domain.ledger import EntryKind

T = TypeVar("T")


def group(rows: Iterable[T], key: str) -> dict[str, list[T]]:
    grouped: dict[str, list[T]] = defaultdict(list)
    for row in rows:
        grouped[getattr(row, key)].append(row)
    return grouped


def audit(snapshot: Snapshot, now: datetime, grace: timedelta) -> Report:
    def who(customer_id: str) -> str:
        return snapshot.emails.get(customer_id, customer_id)

    payments = group(snapshot.payments, "order_id")
    entries = group(snapshot.entries, "order_id")
    postings = group(snapshot.postings, "entry_id")
    receipts = group(snapshot.receipts, "order_id")
    problems: list[Problem] = []
    unsettled = 0
    for order in snapshot.orders:
        own_entries = entries.get(order.id, [])
        view = OrderView(order, who(order.customer_id), payments.get(order.id, []), own_entries,
                         [p for e in own_entries for p in postings.get(e.id, [])], receipts.get(order.id, []),
                         now, grace, snapshot.receipt_numbers.get(order.id))
        unsettled += not view.settled
        problems.extend(check_order(view))
    problems.extend(strangers(snapshot, postings, who))
    problems.extend(entries_balance(snapshot.entries, postings, who))
    problems.extend(balances_match_postings(snapshot.accounts, snapshot.postings, who))
    problems.extend(credits_match_balances(snapshot.accounts, snapshot.lots, now, grace, who))
    counts = Counts(orders=len(snapshot.orders), payments=len(snapshot.payments), entries=len(snapshot.entries),
                    accounts=len(snapshot.accounts), receipts=len(snapshot.receipts), unsettled=unsettled)
    return Report(sort_problems(problems), counts, now, grace)


def strangers(snapshot: Snapshot, postings: dict[str, list[Posting]], who: Callable[[str], str]) -> Iterator[Problem]:
    """Money booked for an order the order service does not know. What was created after
    the orders were read may belong to an order placed since: not judged."""
    known = {order.id for order in snapshot.orders}
    newer = {p.order_id for p in snapshot.payments if p.created_at > snapshot.read_at}
    for payment in snapshot.payments:
        if payment.order_id not in known and payment.order_id not in newer \
                and payment.status == PaymentStatus.CAPTURED:
            yield Problem(Check.MONEY, f"Payment {payment.id} (customer {who(payment.customer_id)}): "
                                       f"{money(payment.amount_minor, payment.currency)} was captured for order "
                                       f"{payment.order_id}, which the order service does not know.",
                          payment.order_id, payment.customer_id)
    for entry in snapshot.entries:
        if entry.kind != EntryKind.TOPUP or entry.order_id in known or entry.order_id in newer:
            continue  # debits and expiries are about the balance, not about an order
        credit = [p for p in postings.get(entry.id, []) if p.account.startswith(CUSTOMER)]
        booked = ", ".join(money(p.amount_minor, p.currency) for p in credit) or "nothing"
        yield Problem(Check.MONEY, f"Journal entry {entry.id} (customer {who(entry.customer_id)}) credits {booked} "
                                   f"for order {entry.order_id}, which the order service does not know.",
                      entry.order_id, entry.customer_id)
