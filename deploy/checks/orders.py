"""Checks 1-4: each order as the four services see it, side by side. Pure functions, no I/O.

The money rule: what the gateway kept for an order (captured minus refunded) is what the
wallet booked as received from the gateway for it (minus the `clearing:<CUR>` postings of
the order's entries). A terminal order is judged at once; an order still under way is only
judged for being late. What follows the end of an order (its receipt, recorded then
emailed; the refund of money that arrived after it failed or expired) has until the payment
deadline plus the grace period: a check run under traffic must not cry wolf.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

from deploy.checks.report import Check, Problem, amounts, duration, money
from deploy.checks.snapshot import Entry, Order, Payment, Posting, Receipt
from services.notify.domain.receipt import EmailKind
from services.notify.store import PENDING, SENDING
from services.order.domain.saga import TERMINAL, Status
from services.payment.domain.payment import PaymentStatus
from services.wallet.domain.ledger import EntryKind, customer_account

Totals = dict[str, int]  # minor units per currency; a missing currency is zero

CUSTOMER, CLEARING = "customer:", "clearing:"
KNOWN_STATUSES = frozenset(s.value for s in Status)
PAYMENT_STATUSES = frozenset(s.value for s in PaymentStatus)
ENDED_WITHOUT_MONEY = (Status.FAILED, Status.EXPIRED, Status.CANCELLED)
UNDER_WAY = {Status.PENDING: "pending", Status.AWAITING_PAYMENT: "awaiting payment",
             Status.PAID: "paid but not credited"}


def total(pairs: Iterator[tuple[str, int]]) -> Totals:
    sums: Totals = defaultdict(int)
    for currency, amount in pairs:
        sums[currency] += amount
    return {c: v for c, v in sums.items() if v}


def single(currency: str, amount_minor: int) -> Totals:
    return {currency: amount_minor} if amount_minor else {}


@dataclass(frozen=True)
class OrderView:
    """One order with its payments, wallet entries (and their postings) and receipts."""

    order: Order
    who: str
    payments: list[Payment]
    entries: list[Entry]
    postings: list[Posting]
    receipts: list[Receipt]
    now: datetime
    grace: timedelta
    receipt_number: str | None = None

    @cached_property
    def status(self) -> Status:
        return Status(self.order.status)

    @property
    def settled(self) -> bool:
        """Past the payment deadline plus grace: whatever the saga does by itself is done."""
        return self.now > self.order.payment_deadline + self.grace

    @cached_property
    def net(self) -> Totals:
        """Captured and not refunded (a refunded payment was captured, then refunded)."""
        return total((p.currency, p.amount_minor) for p in self.payments if p.status == PaymentStatus.CAPTURED)

    @cached_property
    def refunded(self) -> Totals:
        return total((p.currency, p.amount_minor) for p in self.payments if p.status == PaymentStatus.REFUNDED)

    @cached_property
    def received(self) -> Totals:
        return total((p.currency, -p.amount_minor) for p in self.postings if p.account.startswith(CLEARING))

    @cached_property
    def credited(self) -> Totals:
        return total((p.currency, p.amount_minor) for p in self.postings if p.account.startswith(CUSTOMER))

    def fmt(self, totals: Totals) -> str:
        return amounts(totals, self.order.currency)

    def problem(self, check: Check, text: str, sep: str = " ") -> Problem:
        """'Order ord_1 (customer ana@example.com) <text>'; `sep=": "` for a sentence of its own."""
        return Problem(check, f"Order {self.order.id} (customer {self.who}){sep}{text}", self.order.id,
                       self.order.customer_id)

    def ended(self) -> str:
        reason = self.order.failure_reason
        return f"failed ({reason})" if self.status is Status.FAILED and reason else self.status.value

    def payment_state(self) -> str:
        if not self.payments:
            return "there is no payment for it"
        return "; ".join(f"payment {p.id} of {money(p.amount_minor, p.currency)} is {p.status}" for p in self.payments)


def check_order(view: OrderView) -> Iterator[Problem]:
    if view.order.status not in KNOWN_STATUSES:
        yield view.problem(Check.STUCK, f"has a status the saga does not know ({view.order.status!r}).")
        return
    yield from money_taken_equals_money_credited(view)
    yield from completed_has_one_credit_and_one_receipt(view)
    yield from refunds(view)
    yield from stuck_or_waiting_for_an_operator(view)


def money_taken_equals_money_credited(view: OrderView) -> Iterator[Problem]:
    owner = customer_account(view.order.customer_id)
    others = sorted({p.account for p in view.postings if p.account.startswith(CUSTOMER)} - {owner})
    if others:
        yield view.problem(Check.MONEY, f"was credited on another customer's account ({', '.join(others)}).")
    for payment in view.payments:
        if payment.status not in PAYMENT_STATUSES:
            amount = money(payment.amount_minor, payment.currency)
            yield view.problem(Check.MONEY, f"has payment {payment.id} of {amount} in a status this check does not "
                                            f"know ({payment.status!r}): it cannot tell whether that money was kept "
                                            "or given back.")
    if view.status not in TERMINAL:
        return  # under way: judged only for being late
    if view.status in ENDED_WITHOUT_MONEY and not view.entries:
        return  # money taken and not yet given back is the refunds check's business
    net, received = view.net, view.received
    if net != received:
        yield view.problem(Check.MONEY, _mismatch(view, net, received), sep=": ")
    if view.status is Status.COMPLETED and view.entries:
        promised = single(view.order.currency, view.order.credit_minor)
        if view.credited != promised:
            yield view.problem(Check.MONEY, f"was promised a credit of {view.fmt(promised)}, but the wallet "
                                            f"credited {view.fmt(view.credited)}.")


def _mismatch(view: OrderView, net: Totals, received: Totals) -> str:
    if net and not received:
        booked = "no credit was booked in the wallet" if not view.entries else \
            "the wallet's entry for it records nothing received from the gateway"
        return f"{view.fmt(net)} was captured and not refunded, but {booked}."
    credit = f" (a credit of {view.fmt(view.credited)})"
    if received and not net:
        if view.refunded:
            return (f"the payment of {view.fmt(view.refunded)} was refunded, but the wallet still records "
                    f"{view.fmt(received)} received from the gateway for it{credit}.")
        return (f"the wallet records {view.fmt(received)} received from the gateway{credit}, but no money "
                f"was captured ({view.payment_state()}).")
    return (f"{view.fmt(net)} was captured and not refunded, but the wallet records {view.fmt(received)} "
            f"received from the gateway{credit}.")


def completed_has_one_credit_and_one_receipt(view: OrderView) -> Iterator[Problem]:
    receipts = [r for r in view.receipts if r.kind == EmailKind.RECEIPT]
    if view.status is not Status.COMPLETED:
        # Read as under way, it may have completed (and had its receipt recorded) since.
        for receipt in receipts if view.status in TERMINAL else ():
            yield view.problem(Check.COMPLETED, f"has a receipt ({_receipt_state(receipt)}), but the order is "
                                                f"{view.ended()}, not completed.")
        return
    topups = [e for e in view.entries if e.kind == EntryKind.TOPUP]
    if not topups:
        yield view.problem(Check.COMPLETED, "is completed, but no credit was booked in the wallet.")
    elif len(topups) > 1:
        yield view.problem(Check.COMPLETED, f"has {len(topups)} wallet credits instead of one "
                                            f"({', '.join(e.id for e in topups)}).")
    if not view.settled:
        return  # its receipt may still be on its way
    if not receipts:
        yield view.problem(Check.COMPLETED, "is completed, but no receipt was recorded: the customer was not "
                                            "emailed one.")
    elif len(receipts) > 1:
        states = ", ".join(_receipt_state(r) for r in receipts)
        yield view.problem(Check.COMPLETED, f"has {len(receipts)} receipts instead of one ({states}).")
    elif receipts[0].status in (PENDING, SENDING):
        yield view.problem(Check.COMPLETED, f"is completed and its receipt is recorded, but it is still "
                                            f"{receipts[0].status}: the email has not gone out (as far as we know).")
    if receipts and view.receipt_number is None:
        yield view.problem(Check.COMPLETED, "is completed and its receipt was emailed, but no numbered receipt "
                                            "was issued: the customer cannot fetch it.")


def _receipt_state(receipt: Receipt) -> str:
    return f"still {receipt.status}" if receipt.status in (PENDING, SENDING) else receipt.status


def refunds(view: OrderView) -> Iterator[Problem]:
    if view.status is Status.REFUNDED:
        if not view.refunded:
            still = f": {view.fmt(view.net)} is still captured" if view.net else ""
            yield view.problem(Check.REFUNDS, f"is refunded, but no payment was refunded{still} "
                                              f"({view.payment_state()}).")
        if view.credited:
            yield view.problem(Check.REFUNDS, f"is refunded, but the customer keeps a credit of "
                                              f"{view.fmt(view.credited)} in the wallet (no reversing entry).")
    elif view.status in ENDED_WITHOUT_MONEY:
        if view.net and not view.entries and view.settled and not view.order.needs_operator:
            yield view.problem(Check.REFUNDS, f"{view.ended()}, but {view.fmt(view.net)} was captured and "
                                              "never refunded.")
        if view.credited:
            yield view.problem(Check.REFUNDS, f"{view.ended()}, yet the wallet credited "
                                              f"{view.fmt(view.credited)} to the customer.")


def stuck_or_waiting_for_an_operator(view: OrderView) -> Iterator[Problem]:
    order = view.order
    if order.needs_operator:
        refund = view.net or view.refunded or single(order.currency, order.charge_minor)
        # failure_reason keeps the order's first reason (declined, refused, timed out): it is
        # shown as the order's, not as the gateway's reason for refusing the refund.
        reason = f" (reason on record: {order.failure_reason})" if order.failure_reason else ""
        yield view.problem(Check.STUCK, f"needs an operator: the refund of {view.fmt(refund)} failed; the order "
                                        f"is {order.status}{reason}.")
        return
    if view.status in TERMINAL or not view.settled:
        return
    late = duration(view.now - order.payment_deadline)
    taken = f"{view.fmt(view.net)} was captured" if view.net else "nothing was captured"
    credit = f" and {view.fmt(view.credited)} credited" if view.credited else \
        (", no credit booked" if view.net else "")
    yield view.problem(Check.STUCK, f"is still {UNDER_WAY[view.status]} {late} after its payment deadline "
                                    f"({order.payment_deadline:%Y-%m-%d %H:%M} UTC); {taken}{credit}.")
