"""The receipt of a completed top-up: what the brief asks every top-up to leave behind.

It shows what the order confirmation showed (amount credited, amount charged after any
promotion, payment method) plus when it happened and the balance it left, so a business
traveller can file it as an expense and support can find the top-up by its order number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from services.notify.domain.layout import RenderedEmail, format_date, render
from shared.money import Money


class ReceiptKind(StrEnum):
    """One email of each kind per order, at most: the key that makes sending idempotent."""

    RECEIPT = "receipt"
    REVERSAL = "reversal"


METHOD_NAMES = {"card": "Card", "paypal": "PayPal", "alipay": "Alipay", "wechat_pay": "WeChat Pay"}
CARD_BRANDS = {"visa": "Visa", "mastercard": "Mastercard", "amex": "American Express", "unionpay": "UnionPay",
               "jcb": "JCB", "discover": "Discover", "diners": "Diners Club"}


def method_label(method: str, card_brand: str | None = None, card_last4: str | None = None) -> str:
    """'Card (Visa) ending 4242', 'PayPal'. Only four digits are ever shown: anything else
    in `card_last4` is dropped rather than risk printing more of a card number."""
    label = METHOD_NAMES.get(method, method.replace("_", " ").title())
    if method != "card":
        return label
    brand = (card_brand or "").strip()
    if brand:
        label += f" ({CARD_BRANDS.get(brand.lower(), brand)})"
    if card_last4 and len(card_last4) == 4 and card_last4.isdigit():
        label += f" ending {card_last4}"
    return label


@dataclass(frozen=True)
class CompletedTopUp:
    order_id: str
    credited: Money
    charged: Money
    method: str
    card_brand: str | None
    card_last4: str | None
    completed_at: datetime
    balance_after: Money

    @classmethod
    def from_payload(cls, p: dict[str, Any]) -> CompletedTopUp:
        """From a loaded `order.completed` payload (shared.contracts.order.OrderCompleted)."""
        currency = p["currency"]
        return cls(
            order_id=p["order_id"],
            credited=Money(p["credit_amount"], currency),
            charged=Money(p["charge_amount"], currency),
            method=p["method"],
            card_brand=p.get("card_brand"),
            card_last4=p.get("card_last4"),
            completed_at=p["completed_at"],
            balance_after=Money(p["balance_after"], currency),
        )

    @property
    def discount(self) -> Money | None:
        """The promotion's share: the customer got more credit than they paid for."""
        difference = self.credited - self.charged
        return difference if difference.amount_minor > 0 else None


def receipt_subject(order_id: str) -> str:
    return f"Your top-up receipt ({order_id})"


def render_receipt(topup: CompletedTopUp) -> RenderedEmail:
    rows = [
        ("Order", topup.order_id),
        ("Amount credited", topup.credited.format()),
        ("Amount charged", topup.charged.format()),
    ]
    if topup.discount is not None:
        rows.append(("Promotion discount", topup.discount.format()))
    rows += [
        ("Payment method", method_label(topup.method, topup.card_brand, topup.card_last4)),
        ("Date", format_date(topup.completed_at)),
        ("New balance", topup.balance_after.format()),
    ]
    return render(
        receipt_subject(topup.order_id),
        ["Thank you for topping up.", f"{topup.credited.format()} has been added to your balance."],
        rows,
        ["Keep this email for your records. Support can find this top-up by its order number."],
    )
