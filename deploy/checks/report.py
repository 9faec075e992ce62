"""What the money check found, in words a support agent can act on.

One line per problem, grouped by the check that found it, and a last line that is either
`OK: ...; money is conserved.` or `PROBLEMS: n found in m orders.` Amounts are always
written with `Money.format()`, so a line reads like the customer's receipt.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from shared.money import Money, UnknownCurrency


class Check(Enum):
    """The checks, in the order the report lists them; the value is the report's heading."""

    MONEY = "Money taken equals money credited (captured - refunded = received by the wallet)"
    COMPLETED = "Every completed top-up has one credit and one receipt"
    REFUNDS = "Refunds: refunded top-ups keep no credit; money taken on failed or expired ones went back"
    STUCK = "No top-up is stuck past its payment deadline or waiting for an operator"
    LEDGER = "The ledger balances: every entry sums to zero, every balance matches its postings and its credits"


@dataclass(frozen=True)
class Problem:
    check: Check
    message: str
    order_id: str | None = None
    customer_id: str | None = None


@dataclass(frozen=True)
class Counts:
    orders: int = 0
    payments: int = 0
    entries: int = 0
    accounts: int = 0
    receipts: int = 0
    unsettled: int = 0  # orders still within deadline + grace: follow-ups not judged yet


@dataclass(frozen=True)
class Report:
    problems: tuple[Problem, ...]
    counts: Counts
    now: datetime
    grace: timedelta
    checks: tuple[Check, ...] = field(default=tuple(Check))

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def by_check(self, check: Check) -> list[Problem]:
        return [p for p in self.problems if p.check is check]

    def about(self, order_id: str) -> list[Problem]:
        """The problems of one order: what support looks at when a customer calls."""
        return [p for p in self.problems if p.order_id == order_id]

    def verdict(self) -> str:
        c = self.counts
        if self.ok:
            return (f"OK: {plural(c.orders, 'order')}, {plural(c.payments, 'payment')}, "
                    f"{plural(c.entries, 'journal entry', 'journal entries')} checked; money is conserved.")
        return f"PROBLEMS: {len(self.problems):,} found in {plural(c.orders, 'order')}."

    def render(self) -> str:
        lines = [f"topup money check at {self.now:%Y-%m-%d %H:%M:%S} UTC (grace {duration(self.grace)})", ""]
        for check in self.checks:
            found = self.by_check(check)
            lines.append(f"{check.value}: {plural(len(found), 'problem') if found else 'ok'}")
            lines.extend(f"  - {p.message}" for p in found)
        lines.append("")
        if self.counts.unsettled:
            lines.append(f"({plural(self.counts.unsettled, 'order')} within the payment deadline plus grace: "
                         "a payment, a receipt email or a refund may still be on its way for them.)")
        lines.append(self.verdict())
        return "\n".join(lines)


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def money(amount_minor: int, currency: str) -> str:
    """`Money.format()`, and still readable when a corrupted row holds an unknown currency."""
    try:
        return Money(amount_minor, currency).format()
    except (UnknownCurrency, TypeError):
        return f"{amount_minor} {currency} (minor units)"


def amounts(totals: Mapping[str, int], currency: str) -> str:
    """Per-currency totals as one phrase; nothing at all reads as zero in `currency`."""
    shown = [money(v, c) for c, v in sorted(totals.items()) if v]
    return " + ".join(shown) if shown else money(0, currency)


def duration(span: timedelta) -> str:
    """'45 s', '12 min', '3 h 5 min', '2 d 4 h': the two largest units are enough to read."""
    seconds = max(0, int(span.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    shown = [f"{n} {unit}" for n, unit in ((days, "d"), (hours, "h"), (rest // 60, "min")) if n]
    return " ".join(shown[:2])


def sort_problems(problems: Iterable[Problem]) -> tuple[Problem, ...]:
    order = {check: i for i, check in enumerate(Check)}
    return tuple(sorted(problems, key=lambda p: (order[p.check], p.order_id or "", p.customer_id or "", p.message)))
