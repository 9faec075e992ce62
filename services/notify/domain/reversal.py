"""The notice sent when a paid top-up could not be credited and its payment was refunded.

The saga guarantees the money goes back; this email tells the customer so, and why, in
words of their language rather than the machine reason code the services exchange.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.notify.domain.layout import Email
from services.notify.domain.receipt import method_label
from services.notify.texts import _
from shared.i18n import Moment, Text
from shared.money import Money

REASONS: dict[str, Text] = {
    "account_frozen": _("your account is frozen"),
    "balance_cap_exceeded": _("the balance would exceed its limit"),
    "currency_mismatch": _("your account holds a different currency"),
}
GENERIC_REASON = _("we could not add it to your balance")


def reason_in_words(code: str) -> Text:
    """A reason a customer can read; a code we do not know yet still yields a sentence."""
    return REASONS.get(code, GENERIC_REASON)


@dataclass(frozen=True)
class ReversedTopUp:
    order_id: str
    charged: Money
    method: str
    reason: str
    reversed_at: datetime
    time_zone: str = "UTC"

    @classmethod
    def from_payload(cls, p: dict[str, Any]) -> ReversedTopUp:
        """From a loaded `order.reversed` payload (shared.contracts.order.OrderReversed)."""
        return cls(
            order_id=p["order_id"],
            charged=Money(p["charge_amount"], p["currency"]),
            method=p["method"],
            reason=p["reason"],
            reversed_at=p["reversed_at"],
            time_zone=p.get("time_zone") or "UTC",
        )

    def email(self) -> Email:
        method = method_label(self.method)
        return Email(
            subject=_("Your top-up was reversed ({order_id})", order_id=self.order_id),
            intro=[
                _("We could not add your top-up to your balance because {reason}.",
                  reason=reason_in_words(self.reason)),
                _("The top-up was reversed and the {amount} you were charged has been returned to your original "
                  "payment method ({method}).", amount=self.charged, method=method),
            ],
            rows=[
                (_("Order"), self.order_id),
                (_("Amount returned"), self.charged),
                (_("Payment method"), method),
                (_("Date"), Moment(self.reversed_at, self.time_zone)),
            ],
            outro=[_("Depending on your payment provider, the refund can take a few days to appear. Contact support "
                     "with the order number if you have any question.")],
        )
