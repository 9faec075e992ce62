"""The notice sent when a paid top-up could not be credited and its payment was refunded.

The saga guarantees the money goes back; this email tells the customer so, and why, in
words rather than the machine reason code the services exchange.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.notify.domain.layout import RenderedEmail, format_date, render
from services.notify.domain.receipt import method_label
from shared.money import Money

REASONS = {
    "account_frozen": "your account is frozen",
    "balance_cap_exceeded": "the balance would exceed its limit",
    "currency_mismatch": "your account holds a different currency",
}
GENERIC_REASON = "we could not add it to your balance"


def reason_in_words(code: str) -> str:
    """A reason a customer can read; a code we do not know yet still yields a sentence."""
    return REASONS.get(code, GENERIC_REASON)


@dataclass(frozen=True)
class ReversedTopUp:
    order_id: str
    charged: Money
    method: str
    reason: str
    reversed_at: datetime

    @classmethod
    def from_payload(cls, p: dict[str, Any]) -> ReversedTopUp:
        """From a loaded `order.reversed` payload (shared.contracts.order.OrderReversed)."""
        return cls(
            order_id=p["order_id"],
            charged=Money(p["charge_amount"], p["currency"]),
            method=p["method"],
            reason=p["reason"],
            reversed_at=p["reversed_at"],
        )


def reversal_subject(order_id: str) -> str:
    return f"Your top-up was reversed ({order_id})"


def render_reversal_notice(topup: ReversedTopUp) -> RenderedEmail:
    amount = topup.charged.format()
    method = method_label(topup.method)
    return render(
        reversal_subject(topup.order_id),
        [
            f"We could not add your top-up to your balance because {reason_in_words(topup.reason)}.",
            f"The top-up was reversed and the {amount} you were charged has been returned "
            f"to your original payment method ({method}).",
        ],
        [
            ("Order", topup.order_id),
            ("Amount returned", amount),
            ("Payment method", method),
            ("Date", format_date(topup.reversed_at)),
        ],
        ["Depending on your payment provider, the refund can take a few days to appear. "
         "Contact support with the order number if you have any question."],
    )
