"""Reconciliation: what a provider says it settled on a day, against what we recorded.

A provider's daily settlement report (its trade bill, its settlement report) lists every
capture and refund it settled, with its own reference, ours, the gross amount and its fee.
Read into `SettlementLine`s by the provider's connector (connectors/settlement.py), it is
compared here with our payments: every line must match a payment of ours in the state and
amount it says, and every capture and refund we recorded that day must be in it. What does
not match is a `Difference`, told in words an operator acts on; a clean day has none.

Plain Python: the report and our records come in as values, the differences go out.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from shared.i18n import format_money
from shared.money import Money


class LineKind(StrEnum):
    CAPTURE = "capture"
    REFUND = "refund"


@dataclass(frozen=True)
class SettlementLine:
    """One capture or refund the provider settled. `gross` is positive for both; `fee` is
    what the provider kept (negative when it gave a fee back)."""

    provider: str
    kind: LineKind
    provider_ref: str  # the provider's own transaction id
    payment_id: str  # ours, as we gave it to the provider (out_trade_no, invoice, reference)
    refund_id: str | None  # ours, for a refund (out_request_no, out_refund_no)
    gross: Money
    fee: Money
    settled_at: datetime

    @property
    def net(self) -> Money:
        return self.gross - self.fee if self.kind is LineKind.CAPTURE else -self.gross - self.fee


@dataclass(frozen=True)
class OurPayment:
    """A payment as we recorded it, with what the day's report must show of it: `captured_on`
    and `refunded_on` are the days we recorded the capture and the refund (None: not)."""

    payment_id: str
    provider: str
    amount: Money
    status: str
    captured_on: date | None
    refunded_on: date | None


class DifferenceKind(StrEnum):
    #: the provider took money for a payment we never credited (or do not know)
    TAKEN_NOT_CREDITED = "taken_not_credited"
    #: a capture we recorded that the provider did not settle
    CAPTURE_NOT_SETTLED = "capture_not_settled"
    #: a refund we think we paid that the provider never settled
    REFUND_NOT_SETTLED = "refund_not_settled"
    #: a refund the provider paid that we did not record
    REFUND_NOT_RECORDED = "refund_not_recorded"
    #: the provider settled another amount than we recorded
    AMOUNT_DISAGREES = "amount_disagrees"
    #: the provider settled the same capture or refund twice
    SETTLED_TWICE = "settled_twice"


@dataclass(frozen=True)
class Difference:
    kind: DifferenceKind
    provider: str
    payment_id: str
    words: str


def reconcile(provider: str, day: date, lines: list[SettlementLine], ours: list[OurPayment]) -> list[Difference]:
    """Every difference between `provider`'s report of `day` and our payments: `ours` holds
    every payment the lines name, and every one we recorded a capture or a refund of on
    `day` at this provider."""
    by_id = {p.payment_id: p for p in ours}
    found: list[Difference] = []

    def differ(kind: DifferenceKind, payment_id: str, words: str) -> None:
        found.append(Difference(kind, provider, payment_id, words))

    settled: dict[tuple[LineKind, str], list[SettlementLine]] = defaultdict(list)
    for line in lines:
        settled[(line.kind, line.payment_id)].append(line)
    for (kind, payment_id), same in sorted(settled.items()):
        line, payment = same[0], by_id.get(payment_id)
        if len(same) > 1:
            differ(DifferenceKind.SETTLED_TWICE, payment_id,
                   f"{provider} settled the {kind.value} of {payment_id} {len(same)} times "
                   f"({', '.join(s.provider_ref for s in same)})")
        if kind is LineKind.CAPTURE:
            if payment is None or payment.status not in ("captured", "refunded"):
                state = "a payment we do not know" if payment is None else f"our payment is {payment.status}"
                differ(DifferenceKind.TAKEN_NOT_CREDITED, payment_id,
                       f"{provider} took {_amount(line.gross)} for {payment_id} ({line.provider_ref}) that we never "
                       f"credited: {state}")
                continue
        elif payment is None or payment.refunded_on is None:
            differ(DifferenceKind.REFUND_NOT_RECORDED, payment_id,
                   f"{provider} paid back {_amount(line.gross)} of {payment_id} (refund {line.refund_id or '?'}, "
                   f"{line.provider_ref}) that we have not recorded as refunded")
            continue
        if line.gross != payment.amount:
            differ(DifferenceKind.AMOUNT_DISAGREES, payment_id,
                   f"{provider} settled a {kind.value} of {_amount(line.gross)} for {payment_id} "
                   f"({line.provider_ref}); we recorded {_amount(payment.amount)}")
    for payment in sorted(ours, key=lambda p: p.payment_id):
        if payment.provider != provider:
            continue
        if payment.captured_on == day and (LineKind.CAPTURE, payment.payment_id) not in settled:
            differ(DifferenceKind.CAPTURE_NOT_SETTLED, payment.payment_id,
                   f"we recorded {_amount(payment.amount)} captured for {payment.payment_id} on {day.isoformat()}; "
                   f"{provider}'s report of that day settles no such capture")
        if payment.refunded_on == day and (LineKind.REFUND, payment.payment_id) not in settled:
            differ(DifferenceKind.REFUND_NOT_SETTLED, payment.payment_id,
                   f"we think we refunded {_amount(payment.amount)} of {payment.payment_id} on {day.isoformat()}; "
                   f"{provider} never settled that refund")
    return found


def summary(provider: str, day: date, lines: list[SettlementLine], differences: list[Difference]) -> str:
    """One line an operator reads first."""
    if not differences:
        return (f"{provider} {day.isoformat()}: clean: {len(lines)} settled lines, each matching our records, "
                f"and every capture and refund we recorded that day settled")
    return f"{provider} {day.isoformat()}: {len(differences)} difference(s) in {len(lines)} settled lines"


def _amount(money: Money) -> str:
    return format_money(money, "en")  # the words are English: an operator's
