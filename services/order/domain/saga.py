"""The top-up saga: every status an order can have and every way it moves, in one table.

The order service orchestrates; the wallet, payment and notify services answer with events.
Messages may arrive twice, late or out of order, so the table is total in one direction:
an event with no row for the current status changes nothing (a duplicate, or news that an
earlier step overtook). A terminal status never changes; the rows that start from one only
send a compensating command (a payment captured after expiry is refunded) or note something
for the timeline.

    (placed) ------------------> pending (create payment)
    pending --payment_created----> awaiting_payment
    awaiting_payment --payment_captured--> paid (credit the wallet)
    paid --credited--> completed (announce: receipt)
    paid --credit_failed--> paid (refund) --payment_refunded--> refunded (announce reversal)
    paid --refund_failed--> paid, flagged for an operator (money is never silently stuck)
    awaiting_payment --payment_attempt_failed--> awaiting_payment (noted; the page takes another try)
    pending/awaiting_payment --credit_refused / payment_failed--> failed (a payment's last attempt)
    pending/awaiting_payment --payment_deadline_passed--> expired (cancel payment)
    pending/awaiting_payment --cancel_requested-----> cancelled (cancel payment)

The order service refuses a frozen account, and a top-up that would pass the balance cap,
when the customer asks for the quote and again when they place the order, from its
projection of the wallet's account events: so the saga starts by creating the payment, with
no round trip to the wallet. The wallet stays the authority when it credits: an account
frozen (or filled) while a payment is in flight refuses the credit, and the top-up is
reversed by refund (paid --credit_failed-->). Orders placed before this, still waiting for
the wallet's authorization, finish the old way (the credit_authorized / credit_refused rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    PENDING = "pending"
    AWAITING_PAYMENT = "awaiting_payment"
    PAID = "paid"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"


TERMINAL = frozenset({Status.COMPLETED, Status.FAILED, Status.EXPIRED, Status.REFUNDED, Status.CANCELLED})
#: where the customer may still back out: nothing has been paid yet
CANCELLABLE = frozenset({Status.PENDING, Status.AWAITING_PAYMENT})


class Event(StrEnum):
    PLACED = "placed"
    CREDIT_AUTHORIZED = "credit_authorized"
    CREDIT_REFUSED = "credit_refused"
    PAYMENT_CREATED = "payment_created"
    PAYMENT_CAPTURED = "payment_captured"
    PAYMENT_ATTEMPT_FAILED = "payment_attempt_failed"  # a declined try; more are allowed
    PAYMENT_FAILED = "payment_failed"
    CREDITED = "credited"
    CREDIT_FAILED = "credit_failed"
    PAYMENT_REFUNDED = "payment_refunded"
    REFUND_FAILED = "refund_failed"
    REFUND_RETRIED = "refund_retried"  # an operator asked again; noted on the timeline only
    RECEIPT_RESENT = "receipt_resent"  # an operator had a copy of the receipt sent; timeline only
    PAYMENT_SYNCED = "payment_synced"  # an operator had the gateway asked now; timeline only
    PAYMENT_DEADLINE_PASSED = "payment_deadline_passed"
    CANCEL_REQUESTED = "cancel_requested"  # the customer backed out before paying
    RECEIPT_SENT = "receipt_sent"


class Action(StrEnum):
    """Commands and announcements a transition sends (through the outbox)."""

    AUTHORIZE_CREDIT = "authorize_credit"
    CREATE_PAYMENT = "create_payment"
    CREDIT_WALLET = "credit_wallet"
    REFUND_PAYMENT = "refund_payment"
    CANCEL_PAYMENT = "cancel_payment"
    ANNOUNCE_COMPLETED = "announce_completed"
    ANNOUNCE_REVERSED = "announce_reversed"


@dataclass(frozen=True)
class Transition:
    to: Status
    actions: tuple[Action, ...] = ()
    needs_operator: bool = False
    #: the event's reason is for the timeline only, not why the order ended
    reason_is_a_note: bool = False


S, E, A = Status, Event, Action

START = Transition(S.PENDING, (A.CREATE_PAYMENT,))

TRANSITIONS: dict[tuple[Status, Event], Transition] = {
    # Orders placed when the saga still asked the wallet first (see above).
    (S.PENDING, E.CREDIT_AUTHORIZED): Transition(S.PENDING, (A.CREATE_PAYMENT,)),
    (S.PENDING, E.CREDIT_REFUSED): Transition(S.FAILED),
    (S.PENDING, E.PAYMENT_CREATED): Transition(S.AWAITING_PAYMENT),
    (S.PENDING, E.PAYMENT_FAILED): Transition(S.FAILED),
    # The capture overtook payment.created: money is taken, go on.
    (S.PENDING, E.PAYMENT_CAPTURED): Transition(S.PAID, (A.CREDIT_WALLET,)),
    (S.PENDING, E.PAYMENT_DEADLINE_PASSED): Transition(S.EXPIRED, (A.CANCEL_PAYMENT,)),
    (S.AWAITING_PAYMENT, E.PAYMENT_CAPTURED): Transition(S.PAID, (A.CREDIT_WALLET,)),
    (S.AWAITING_PAYMENT, E.PAYMENT_FAILED): Transition(S.FAILED),
    # A declined try, while the payment page takes another: on the timeline, with its reason.
    (S.PENDING, E.PAYMENT_ATTEMPT_FAILED): Transition(S.PENDING, reason_is_a_note=True),
    (S.AWAITING_PAYMENT, E.PAYMENT_ATTEMPT_FAILED): Transition(S.AWAITING_PAYMENT, reason_is_a_note=True),
    (S.AWAITING_PAYMENT, E.PAYMENT_DEADLINE_PASSED): Transition(S.EXPIRED, (A.CANCEL_PAYMENT,)),
    (S.PENDING, E.CANCEL_REQUESTED): Transition(S.CANCELLED, (A.CANCEL_PAYMENT,)),
    (S.AWAITING_PAYMENT, E.CANCEL_REQUESTED): Transition(S.CANCELLED, (A.CANCEL_PAYMENT,)),
    (S.PAID, E.CREDITED): Transition(S.COMPLETED, (A.ANNOUNCE_COMPLETED,)),
    # Money was taken but the wallet will not take it: give it back.
    (S.PAID, E.CREDIT_FAILED): Transition(S.PAID, (A.REFUND_PAYMENT,)),
    (S.PAID, E.PAYMENT_REFUNDED): Transition(S.REFUNDED, (A.ANNOUNCE_REVERSED,)),
    # The gateway would not refund, after all its retries: the order waits for an operator
    # (it is flagged and listed); a later successful refund ends it.
    (S.PAID, E.REFUND_FAILED): Transition(S.PAID),
    (S.EXPIRED, E.REFUND_FAILED): Transition(S.EXPIRED),
    (S.FAILED, E.REFUND_FAILED): Transition(S.FAILED),
    (S.CANCELLED, E.REFUND_FAILED): Transition(S.CANCELLED),
    # Late money on an order that already ended without it: refund, status stays.
    (S.EXPIRED, E.PAYMENT_CAPTURED): Transition(S.EXPIRED, (A.REFUND_PAYMENT,)),
    (S.FAILED, E.PAYMENT_CAPTURED): Transition(S.FAILED, (A.REFUND_PAYMENT,)),
    # A capture that raced the customer's cancel: refunded like any late payment.
    (S.CANCELLED, E.PAYMENT_CAPTURED): Transition(S.CANCELLED, (A.REFUND_PAYMENT,)),
    # Notes for the timeline only.
    (S.EXPIRED, E.PAYMENT_REFUNDED): Transition(S.EXPIRED),
    (S.FAILED, E.PAYMENT_REFUNDED): Transition(S.FAILED),
    (S.CANCELLED, E.PAYMENT_REFUNDED): Transition(S.CANCELLED),
    (S.COMPLETED, E.RECEIPT_SENT): Transition(S.COMPLETED),
    # A credit that lands after the payment was refunded (the gateway refunded on its own
    # while the credit was on its way): the customer holds money they no longer paid for.
    # No automatic debit; an operator decides, and the money check names the order.
    (S.REFUNDED, E.CREDITED): Transition(S.REFUNDED, needs_operator=True),
    (S.REFUNDED, E.RECEIPT_SENT): Transition(S.REFUNDED),
}


#: Where each event finds the order when a top-up goes as it should. The saga step tries
#: this first, as one statement (move the order only if it is there), and reads the order
#: to decide only when it was elsewhere; the table above stays the only rule.
USUALLY_FROM: dict[Event, Status] = {
    E.PAYMENT_CREATED: S.PENDING,
    E.PAYMENT_CAPTURED: S.AWAITING_PAYMENT,
    E.PAYMENT_ATTEMPT_FAILED: S.AWAITING_PAYMENT,
    E.CREDITED: S.PAID,
    E.RECEIPT_SENT: S.COMPLETED,
}


def decide(status: Status, event: Event) -> Transition | None:
    """The transition for `event` in `status`, or None when the event changes nothing."""
    transition = TRANSITIONS.get((status, event))
    assert transition is None or status not in TERMINAL or transition.to == status
    return transition

