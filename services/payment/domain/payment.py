"""A payment and its lifecycle, written as a table. No I/O here.

Gateways notify us at least once, in any order, sometimes late: a webhook is redelivered, a
refund notice arrives after we refunded ourselves, a capture races a cancel. So an event
that does not apply to the payment's current state is a no-op, never an error: the table
says what may happen, and everything else has already happened or never will. The one
thing never dropped is a capture: money the gateway took is always recorded.

One event is neither applied nor dropped: a refund notice for a payment whose capture we
have not heard of yet (the gateway's notices overtook each other, or the capture's was
lost). The gateway did take the money and did give it back, so both facts are true; the
refund is noted and applied right after the capture arrives (by webhook or by asking the
gateway), and the saga hears both, in their real order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from services.payment.domain.errors import InvalidAmount
from shared.money import Money


class PaymentStatus(StrEnum):
    CREATED = "created"
    CAPTURED = "captured"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


class PaymentEvent(StrEnum):
    CAPTURE = "capture"
    FAIL = "fail"
    CANCEL = "cancel"
    REFUND = "refund"


TRANSITIONS: dict[tuple[PaymentStatus, PaymentEvent], PaymentStatus] = {
    (PaymentStatus.CREATED, PaymentEvent.CAPTURE): PaymentStatus.CAPTURED,
    (PaymentStatus.CREATED, PaymentEvent.FAIL): PaymentStatus.FAILED,
    (PaymentStatus.CREATED, PaymentEvent.CANCEL): PaymentStatus.CANCELLED,
    (PaymentStatus.CAPTURED, PaymentEvent.REFUND): PaymentStatus.REFUNDED,
    # The gateway took the money after all (the capture raced our cancel, or a decline was
    # followed by a successful retry). Money taken is never ignored: it is recorded, and the
    # order saga, whose order has already ended, refunds it.
    (PaymentStatus.CANCELLED, PaymentEvent.CAPTURE): PaymentStatus.CAPTURED,
    (PaymentStatus.FAILED, PaymentEvent.CAPTURE): PaymentStatus.CAPTURED,
}


def next_status(current: PaymentStatus, event: PaymentEvent) -> PaymentStatus | None:
    """The status after `event`, or None when the event does not apply (the caller does nothing)."""
    return TRANSITIONS.get((current, event))


# Statuses in which a refund notice is noted for later: no capture seen yet (see above).
REFUND_WAITS_FOR_CAPTURE = frozenset({PaymentStatus.CREATED, PaymentStatus.CANCELLED, PaymentStatus.FAILED})


def refund_waits_for_capture(current: PaymentStatus, event: PaymentEvent) -> bool:
    return event is PaymentEvent.REFUND and current in REFUND_WAITS_FOR_CAPTURE


@dataclass(frozen=True)
class Payment:
    payment_id: str
    order_id: str
    customer_id: str
    amount: Money
    method: str
    status: PaymentStatus
    gateway_ref: str | None = None
    #: the customer's language, for the gateway's page (as Stripe's `locale`, PayPal's)
    language: str = "en"
    #: tries the payment page takes: a decline before the last leaves it open for another
    attempts_allowed: int = 1

    def check_chargeable(self) -> None:
        if self.amount.amount_minor <= 0:
            raise InvalidAmount(f"cannot charge {self.amount}")


_REASON = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
GENERIC_FAILURE = "payment_failed"
# The order was cancelled (it expired) before its payment.create arrived: no checkout opens.
ORDER_CANCELLED = "order_cancelled"


def failure_reason(code: str | None, generic: str = GENERIC_FAILURE) -> str:
    """A gateway's failure code as our machine reason; anything unexpected becomes generic,
    so one gateway's odd code cannot break the message contract downstream."""
    return code if code and _REASON.match(code) else generic
