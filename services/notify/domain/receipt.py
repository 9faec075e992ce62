"""The receipt of a completed top-up: what the brief asks every top-up to leave behind.

It shows what the order confirmation showed (amount credited, the promotion and its
discount, amount charged, payment method, until when the credit is valid) plus its number,
when it was issued (in the customer's time zone, saying which), the balance it left and who
issued it (name, address, tax id), so a business traveller can file it as an expense and
support can find the top-up by its receipt or order number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from services.notify.domain.layout import Email
from services.notify.texts import _
from shared.i18n import Moment, Text
from shared.money import Money


class EmailKind(StrEnum):
    """What an email is; with its reference, the key that makes sending idempotent."""

    RECEIPT = "receipt"
    RECEIPT_COPY = "receipt_copy"
    REVERSAL = "reversal"
    LOW_BALANCE = "low_balance"
    EXPIRY_REMINDER = "expiry_reminder"
    CREDIT_EXPIRED = "credit_expired"
    PASSWORD_RESET = "password_reset"


#: the kinds that are about one order (the order's timeline notes when they are sent)
ABOUT_AN_ORDER = frozenset({EmailKind.RECEIPT, EmailKind.RECEIPT_COPY, EmailKind.REVERSAL})

METHOD_NAMES: dict[str, Text] = {"card": _("Card"), "paypal": _("PayPal"), "alipay": _("Alipay"),
                                 "wechat_pay": _("WeChat Pay")}
CARD_BRANDS: dict[str, Text | str] = {
    "visa": "Visa", "mastercard": "Mastercard", "amex": "American Express", "unionpay": _("UnionPay"),
    "jcb": "JCB", "discover": "Discover", "diners": "Diners Club"}


def method_label(method: str, card_brand: str | None = None, card_last4: str | None = None) -> Text | str:
    """'Card (Visa) ending 4242', 'PayPal'. Only four digits are ever shown: anything else
    in `card_last4` is dropped rather than risk printing more of a card number."""
    name = METHOD_NAMES.get(method, method.replace("_", " ").title())
    if method != "card":
        return name
    brand: Text | str = (card_brand or "").strip()
    if brand:
        brand = CARD_BRANDS.get(str(brand).lower(), brand)
    last4 = card_last4 if card_last4 and len(card_last4) == 4 and card_last4.isdigit() else None
    if brand and last4:
        return _("{method} ({brand}) ending {last4}", method=name, brand=brand, last4=last4)
    if brand:
        return _("{method} ({brand})", method=name, brand=brand)
    if last4:
        return _("{method} ending {last4}", method=name, last4=last4)
    return name


@dataclass(frozen=True)
class Merchant:
    """Who issues the receipts (MERCHANT_NAME, MERCHANT_ADDRESS, MERCHANT_TAX_ID)."""

    name: str
    address: str = ""
    tax_id: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "address": self.address, "tax_id": self.tax_id}


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
    time_zone: str = "UTC"
    promotion: str | None = None
    promotion_name: str | None = None
    valid_until: datetime | None = None

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
            time_zone=p.get("time_zone") or "UTC",
            promotion=p.get("promotion"),
            promotion_name=p.get("promotion_name"),
            valid_until=p.get("valid_until"),
        )

    @property
    def discount(self) -> Money | None:
        """The promotion's share: the customer got more credit than they paid for."""
        difference = self.credited - self.charged
        return difference if difference.amount_minor > 0 else None

    @property
    def promotion_label(self) -> Text | str:
        return self.promotion_name or self.promotion or _("Promotion")


@dataclass(frozen=True)
class Receipt:
    number: str
    issued_at: datetime
    topup: CompletedTopUp
    merchant: Merchant

    def lines(self) -> list[tuple[Text | str, Money]]:
        """What was bought and what was taken off it; they add up to the amount charged."""
        lines: list[tuple[Text | str, Money]] = [(_("Balance top-up"), self.topup.credited)]
        if self.topup.discount is not None:
            lines.append((self.topup.promotion_label, -self.topup.discount))
        return lines

    def email(self) -> Email:
        topup, zone = self.topup, self.topup.time_zone
        rows: list[tuple[Any, Any]] = [
            (_("Receipt number"), self.number),
            (_("Issued"), Moment(self.issued_at, zone)),
            (_("Order"), topup.order_id),
            (_("Amount credited"), topup.credited),
        ]
        if topup.discount is not None:
            rows += [(_("Promotion"), topup.promotion_label), (_("Promotion discount"), -topup.discount)]
        rows += [(_("Amount charged"), topup.charged),
                 (_("Payment method"), method_label(topup.method, topup.card_brand, topup.card_last4))]
        if topup.valid_until is not None:
            rows.append((_("Credit valid until"), Moment(topup.valid_until, zone)))
        rows.append((_("New balance"), topup.balance_after))
        rows += merchant_rows(self.merchant)
        return Email(
            subject=_("Your top-up receipt {number}", number=self.number),
            intro=[_("Thank you for topping up."),
                   _("{amount} has been added to your balance.", amount=topup.credited)],
            rows=rows,
            outro=[_("Keep this email for your records. Support can find this top-up by its receipt number "
                     "or its order number.")],
        )

    def document(self, language: str, customer_id: str) -> dict[str, Any]:
        """The receipt as the customer can fetch it (shared.contracts.notify.ReceiptIssued)."""
        topup = self.topup
        return {
            "order_id": topup.order_id, "customer_id": customer_id, "receipt_number": self.number,
            "issued_at": self.issued_at, "language": language, "time_zone": topup.time_zone,
            "currency": topup.charged.currency,
            "lines": [{"description": _say(description, language), "amount": amount.amount_minor}
                      for description, amount in self.lines()],
            "total_charged": topup.charged.amount_minor, "credited": topup.credited.amount_minor,
            "valid_until": topup.valid_until,
            "payment_method": _say(method_label(topup.method, topup.card_brand, topup.card_last4), language),
            "promotion": topup.promotion, "merchant": self.merchant.as_dict(),
        }


def _say(words: Text | str, language: str) -> str:
    return words.render(language) if isinstance(words, Text) else words


def merchant_rows(merchant: Merchant) -> list[tuple[Any, Any]]:
    rows: list[tuple[Any, Any]] = [(_("Merchant"), merchant.name)]
    if merchant.address:
        rows.append((_("Address"), merchant.address))
    if merchant.tax_id:
        rows.append((_("Tax ID"), merchant.tax_id))
    return rows


def receipt_number(year: int, sequence: int) -> str:
    """'R-2026-000123': the year it was issued and its place in that year's run."""
    return f"R-{year}-{sequence:06d}"
