"""A refund and its attempts at the gateway. No I/O here.

The saga asks once (`payment.refund`) and expects an answer; the gateway may refuse or not
answer at all. So the payment service owns the retrying: a refund is *pending* from the
command until the gateway says yes (*succeeded*) or has said no `max_attempts` times in a
row (*failed*: `payment.refund_failed`, and an operator takes over). An operator's retry
(another `payment.refund`) starts a fresh series of attempts. At most one refund exists per
payment, so a repeated command can never give the money back twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from shared.loops import backoff

# The longest wait between two attempts: gateways' outages last minutes, not hours, and
# an operator hears of a refund that keeps failing after max_attempts anyway.
CAP_SECONDS = 300.0


def refund_reference(payment_id: str) -> str:
    """Our id of a payment's refund, sent to the gateway as its idempotency key (Alipay's
    out_request_no, WeChat Pay's out_refund_no): one refund per payment, so it is derived
    from the payment's id, and every attempt, by any worker, after any crash, sends the same."""
    return "rf_" + payment_id.removeprefix("pay_")


class RefundStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class RefundCommand(StrEnum):
    """What a `payment.refund` command does, given the refund already recorded (if any)."""

    START = "start"  # the first request: record it, attempt now
    IN_PROGRESS = "in_progress"  # a duplicate while attempts go on: nothing more to do
    RESTART = "restart"  # an operator's retry after the attempts ran out: a fresh series


def on_command(current: RefundStatus | None) -> RefundCommand:
    if current is None:
        return RefundCommand.START
    if current is RefundStatus.PENDING:
        return RefundCommand.IN_PROGRESS
    return RefundCommand.RESTART


@dataclass(frozen=True)
class RefundPolicy:
    max_attempts: int
    base_seconds: float
    cap_seconds: float = CAP_SECONDS

    def retry_in(self, attempts: int) -> float | None:
        """Seconds until the next attempt after `attempts` failed ones, or None: give up."""
        if attempts >= self.max_attempts:
            return None
        return backoff(attempts, base=self.base_seconds, cap=self.cap_seconds)
