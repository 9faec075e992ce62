"""What each command or gateway notification does to a payment: one function each.

Message handlers run inside the consumer's unit of work (with the inbox note); the webhook
handler inside the webhook request's; the refund attempt's outcome inside the refund
loop's. Either way the events they emit commit with the change. Whether a change applies at
all is the domain's call (the payment's transition table, the refund's rules).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy.orm import Session

from services.payment import store
from services.payment.domain.errors import GatewayError, GatewayRefused, MethodUnavailable, PaymentError
from services.payment.domain.gateway import Gateway, GatewayEvent
from services.payment.domain.payment import (
    GENERIC_FAILURE,
    ORDER_CANCELLED,
    Payment,
    PaymentEvent,
    PaymentStatus,
    failure_reason,
    next_status,
    refund_waits_for_capture,
)
from services.payment.domain.refund import RefundCommand, RefundPolicy, RefundStatus, on_command
from services.payment.gateways import Gateways
from services.payment.settings import CheckoutTerms
from services.payment.store import PaymentRecord
from shared import tracing
from shared.clock import utcnow
from shared.messaging.envelope import Envelope
from shared.money import Money

log = structlog.get_logger(__name__)

REFUND_GENERIC_FAILURE = "gateway_error"
#: why a payment failed whose checkout the gateway did not open in time
GATEWAY_UNAVAILABLE = "gateway_unavailable"


@dataclass(frozen=True)
class Applied:
    """What a gateway's notice (or the answer to our question) did: `fresh` is False for a
    redelivery, which changes nothing; `payment` is the payment as the notice left it,
    when it was looked at (None for a redelivery or a payment that is not ours)."""

    fresh: bool
    payment: PaymentRecord | None = None


def create_payment(session: Session, msg: Envelope, gateways: Gateways, terms: CheckoutTerms,
                   opener: Opener | None = None) -> None:
    """Open the payment at its gateway, once per order: a repeated command is answered
    again from what was stored, and never opens a second checkout. An order cancelled
    before this command arrived gets no checkout at all. The checkout takes `terms`' tries
    and sends the customer back to our return endpoint after each decision.

    The payment is stored once, as it ends up: its id is chosen first, so the gateway's
    checkout can name it before our row exists. `opener` gives the checkout a batch's
    consumer opened ahead (checkouts.py); without one the gateway is called here."""
    p = msg.payload
    store.lock_order(session, p["order_id"])
    standing = store.order_standing(session, p["order_id"])
    if standing.payment is not None:
        store.emit(session, _creation_answer(standing.payment, msg))
        return
    row = store.new_payment(p, store.new_payment_id(p["order_id"]), terms.attempts_allowed, utcnow())
    row, answer = _opened(session, row, standing.cancelled, msg, gateways, terms, opener)
    store.insert_payment(session, row)
    store.emit(session, answer)


def _opened(session: Session, row: PaymentRecord, cancelled: bool, msg: Envelope, gateways: Gateways,
            terms: CheckoutTerms, opener: Opener | None) -> tuple[PaymentRecord, Envelope]:
    """The new payment as it is to be stored, and the saga's answer: a checkout opened, or
    why none was (the order was cancelled first, the amount or the method is refused)."""
    if cancelled:
        row = replace(row, status=PaymentStatus.CANCELLED.value, failure_reason=ORDER_CANCELLED)
        log.info("payment_for_cancelled_order", payment_id=row.id, order_id=row.order_id)
        return row, _failed(row, msg)
    payment = store.to_payment(row)
    gateway = gateways.for_method(row.method)
    try:
        payment.check_chargeable()
        if gateway is None:
            raise MethodUnavailable(f"no gateway for {row.method}")
    except PaymentError as refusal:
        row = replace(row, status=PaymentStatus.FAILED.value, failure_reason=refusal.code)
        log.info("payment_refused", payment_id=row.id, order_id=row.order_id, reason=refusal.code)
        return row, _failed(row, msg)
    try:
        open_checkout = opener.open if opener is not None else _create_session
        gateway_ref, redirect_url = open_checkout(gateway, payment, terms.return_url(row.id))
    except GatewayError as exc:
        # The gateway said no, or could not be reached within GATEWAY_ATTEMPTS calls (each
        # unknown outcome asked about first): no customer has its page, so nothing can be
        # charged. The order fails now, saying why, rather than wait for its deadline.
        reason = exc.code if isinstance(exc, GatewayRefused) else GATEWAY_UNAVAILABLE
        row = replace(row, gateway=gateway.name, status=PaymentStatus.FAILED.value, failure_reason=reason)
        log.warning("payment_not_opened", payment_id=row.id, order_id=row.order_id, reason=reason, error=str(exc))
        return row, _failed(row, msg)
    row = replace(row, gateway=gateway.name, gateway_ref=gateway_ref, redirect_url=redirect_url)
    log.info("payment_created", payment_id=row.id, order_id=row.order_id, gateway=row.gateway)
    return row, _event("payment.created", row, msg, method=row.method, redirect_url=row.redirect_url)


class Opener(Protocol):
    def open(self, gateway: Gateway, payment: Payment, return_url: str) -> tuple[str, str]:
        ...


def _create_session(gateway: Gateway, payment: Payment, return_url: str) -> tuple[str, str]:
    return gateway.create_session(payment, return_url)


def _creation_answer(row: PaymentRecord, msg: Envelope) -> Envelope:
    if row.redirect_url is None:
        return _failed(row, msg)
    return _event("payment.created", row, msg, method=row.method, redirect_url=row.redirect_url)


def refund_payment(session: Session, msg: Envelope) -> None:
    """Give a captured payment back (the saga reverses a top-up it could not credit, or
    returns late money). Only recorded here, due now: the refund loop calls the gateway,
    outside any long transaction, and retries it (see domain/refund.py)."""
    p = msg.payload
    row = store.get_payment(session, p["payment_id"], lock=True)
    if row is None or row.order_id != p["order_id"]:
        log.warning("refund_unknown_payment", payment_id=p["payment_id"], order_id=p["order_id"])
        return
    if row.status == PaymentStatus.REFUNDED:
        store.emit(session, _refunded(row, msg, row.updated_at))
        return
    if next_status(PaymentStatus(row.status), PaymentEvent.REFUND) is None:
        log.warning("refund_not_applicable", payment_id=row.id, status=row.status)
        return
    refund = store.get_refund(session, row.id, lock=True)
    command = on_command(RefundStatus(refund.status) if refund else None)
    if command is RefundCommand.IN_PROGRESS:
        log.info("refund_already_in_progress", payment_id=row.id, attempts=refund.attempts if refund else 0)
        return
    store.start_refund(session, row, p["reason"], utcnow())
    log.info("refund_requested", payment_id=row.id, order_id=row.order_id, reason=p["reason"], command=command.value)


def refund_attempted(session: Session, payment_id: str, error: GatewayError | None, policy: RefundPolicy,
                     now: datetime) -> None:
    """Record one attempt's outcome: refunded, retry later, or (attempts exhausted)
    `payment.refund_failed` so that the order is flagged for an operator."""
    row = store.get_payment(session, payment_id, lock=True)
    refund = store.get_refund(session, payment_id, lock=True)
    if row is None or refund is None or refund.status != RefundStatus.PENDING:
        return  # settled meanwhile (e.g. the gateway's refund notice came first)
    refund.attempts += 1
    bound = log.bind(payment_id=row.id, order_id=row.order_id, attempts=refund.attempts)
    if error is None:
        refund.status, refund.next_attempt_at = RefundStatus.SUCCEEDED.value, None
        if row.status == PaymentStatus.CAPTURED:
            row = store.update_payment(session, row, replace(row, status=PaymentStatus.REFUNDED.value))
            store.emit(session, _refunded(row, None, now))
        bound.info("refund_succeeded")
        return
    refund.failure_code = failure_reason(error.code, REFUND_GENERIC_FAILURE)
    refund.last_error = str(error)[:500]
    delay = policy.retry_in(refund.attempts)
    if delay is not None:
        refund.next_attempt_at = now + timedelta(seconds=delay)
        bound.warning("refund_retry", reason=refund.failure_code, retry_in=delay)
        return
    refund.status, refund.next_attempt_at = RefundStatus.FAILED.value, None
    bound.error("refund_failed", reason=refund.failure_code)
    store.emit(session, _event("payment.refund_failed", row, None, reason=refund.failure_code,
                               attempts=refund.attempts))


class NoRefundWaiting(Exception):
    """Only a refund whose attempts failed can be recorded as made outside the system."""


def refund_settled_outside(session: Session, payment_id: str, reference: str, operator: str, note: str,
                           now: datetime) -> PaymentRecord | None:
    """An operator records that a refund our attempts could not make was made outside the
    system (the gateway's dashboard, a bank transfer), with the gateway's reference: the
    refund is over, the payment refunded, and the saga told, as if the gateway had done it.
    The same reference again changes nothing; None: no such payment."""
    row = store.get_payment(session, payment_id, lock=True)
    if row is None:
        return None
    refund = store.get_refund(session, payment_id, lock=True)
    if refund is not None and refund.status == RefundStatus.SUCCEEDED and refund.settled_reference == reference:
        return row
    if refund is None or refund.status != RefundStatus.FAILED:
        raise NoRefundWaiting(f"payment {payment_id} has no failed refund")
    refund.status, refund.next_attempt_at = RefundStatus.SUCCEEDED.value, None
    refund.settled_reference, refund.settled_by, refund.settled_note = reference, operator, note
    if row.status == PaymentStatus.CAPTURED:
        row = store.update_payment(session, row, replace(row, status=PaymentStatus.REFUNDED.value))
        store.emit(session, _event("payment.refunded", row, None, amount=row.amount_minor, currency=row.currency,
                                   refunded_at=now, operator=operator, note=note, gateway_reference=reference))
    log.warning("refund_settled_outside", payment_id=row.id, order_id=row.order_id, reference=reference,
                operator=operator, note=note)
    return row


def cancel_payment(session: Session, msg: Envelope, gateways: Gateways) -> None:
    """Close an unpaid checkout (the order timed out or was abandoned). Too late when the
    customer already paid: then the gateway's webhook says so, and the saga refunds. A
    cancel that overtook its order's `payment.create` is remembered for it."""
    p = msg.payload
    store.lock_order(session, p["order_id"])
    row = store.find_by_order(session, p["order_id"], lock=True)
    if row is None:
        store.note_cancellation(session, p["order_id"], p["reason"])
        log.info("cancel_before_create", order_id=p["order_id"], reason=p["reason"])
        return
    target = next_status(PaymentStatus(row.status), PaymentEvent.CANCEL)
    if target is None:
        log.info("cancel_not_applicable", payment_id=row.id, status=row.status)
        return
    gateway = gateways.named(row.gateway)
    if gateway is not None and not gateway.cancel(store.to_payment(row)):
        log.info("cancel_too_late", payment_id=row.id)
        return
    store.update_payment(session, row, replace(row, status=target.value, failure_reason=p["reason"]))
    log.info("payment_cancelled", payment_id=row.id, order_id=row.order_id, reason=p["reason"])


def gateway_event(session: Session, provider: str, event: GatewayEvent, raw_body: bytes) -> Applied:
    """Apply a verified webhook, or the answer to our query: noted once (a redelivery
    changes nothing twice), then the payment, locked, moves as the domain's table says."""
    fresh, row = store.note_and_lock(session, provider, event, raw_body)
    if not fresh:
        log.info("webhook_duplicate", provider=provider, event_id=event.event_id)
        return Applied(fresh=False)
    bound = log.bind(provider=provider, event_id=event.event_id, type=event.kind.value, payment_id=event.payment_id)
    if row is None or row.gateway != provider or event.gateway_ref not in (None, row.gateway_ref):
        bound.warning("webhook_unknown_payment")
        return Applied(fresh=True)
    # The gateway's notice knows nothing of our trace: what it causes continues the top-up's.
    with tracing.resumed("payment", row.trace_parent, f"{provider} {event.kind.value}", row.order_id):
        return _apply_event(session, event, row, bound)


def _apply_event(session: Session, event: GatewayEvent, row: PaymentRecord, bound: Any) -> Applied:
    """gateway_event's part once the payment is found and locked."""
    if Money(row.amount_minor, row.currency) != event.amount:
        bound.error("webhook_amount_mismatch", expected=row.amount_minor, got=event.amount.amount_minor)
        return Applied(fresh=True, payment=row)
    effect = event.effect
    if effect is None:
        _attempt_failed(session, row, event, bound)
        return Applied(fresh=True, payment=row)
    status = PaymentStatus(row.status)
    if refund_waits_for_capture(status, effect):
        row = store.update_payment(session, row, replace(row, refund_noted_at=row.refund_noted_at or event.occurred_at))
        bound.warning("refund_before_capture", status=row.status, note="applied when the capture arrives")
        return Applied(fresh=True, payment=row)
    target = next_status(status, effect)
    if target is None:
        bound.info("webhook_not_applicable", status=row.status)
        return Applied(fresh=True, payment=row)
    if effect is PaymentEvent.CAPTURE and row.status != PaymentStatus.CREATED:
        bound.warning("late_capture", previous_status=row.status, note="the order saga refunds it")
    moved, messages = _outcome(row, event, target)
    noted = moved.refund_noted_at
    if effect is PaymentEvent.CAPTURE and noted is not None:
        moved = replace(moved, status=PaymentStatus.REFUNDED.value)
        messages.append(_refunded(moved, None, noted))
    row = store.update_payment(session, row, moved)
    store.emit(session, *messages)
    if row.status == PaymentStatus.REFUNDED:
        store.settle_refund(session, row.id)  # the money went back: our own attempts, if any, are over
    bound.info("payment_updated", status=row.status)
    return Applied(fresh=True, payment=row)


def _attempt_failed(session: Session, row: PaymentRecord, event: GatewayEvent, bound: Any) -> None:
    """A declined try while the page takes another: counted once (its notice and our
    question both name it), and told to the saga for the order's timeline. The payment's
    status does not move; the last try's failure is a PAYMENT_FAILED."""
    reason = failure_reason(event.failure_code)
    if not event.attempt or event.attempt < 1:
        bound.warning("attempt_without_number")
        return
    if not store.record_attempt(session, row.id, event.attempt, reason, event.occurred_at):
        bound.info("attempt_already_noted", attempt=event.attempt)
        return
    bound.info("payment_attempt_failed", attempt=event.attempt, reason=reason, allowed=row.attempts_allowed)
    if row.status == PaymentStatus.CREATED:
        store.emit(session, _event("payment.attempt_failed", row, None, reason=reason, attempt=event.attempt,
                                   attempts_allowed=row.attempts_allowed))


def _outcome(row: PaymentRecord, event: GatewayEvent, target: PaymentStatus) -> tuple[PaymentRecord, list[Envelope]]:
    """The payment moved to `target` by the event, and what the saga is told of it."""
    row = replace(row, status=target.value)
    if event.effect is PaymentEvent.CAPTURE:
        row = replace(row, card_brand=event.card.brand if event.card else None,
                      card_last4=event.card.last4 if event.card else None)
        return row, [_event("payment.captured", row, None, amount=row.amount_minor, currency=row.currency,
                            method=row.method, card_brand=row.card_brand, card_last4=row.card_last4,
                            captured_at=event.occurred_at)]
    if event.effect is PaymentEvent.FAIL:
        row = replace(row, failure_reason=failure_reason(event.failure_code))
        return row, [_failed(row, None)]
    return row, [_refunded(row, None, event.occurred_at)]


def _event(message_type: str, row: PaymentRecord, caused_by: Envelope | None, **fields: Any) -> Envelope:
    payload = {"order_id": row.order_id, "payment_id": row.id, **fields}
    return Envelope.new(message_type, payload, correlation_id=row.order_id, caused_by=caused_by)


def _failed(row: PaymentRecord, caused_by: Envelope | None) -> Envelope:
    return _event("payment.failed", row, caused_by, reason=row.failure_reason or GENERIC_FAILURE)


def _refunded(row: PaymentRecord, caused_by: Envelope | None, refunded_at: datetime) -> Envelope:
    return _event("payment.refunded", row, caused_by, amount=row.amount_minor, currency=row.currency,
                  refunded_at=refunded_at)
