"""The sandbox gateways' side: checkout sessions, their outcomes, and the notices they owe us.

They behave like real gateways seen from outside: the card processor decides by card
number and keeps only the brand and last four digits; PayPal, Alipay and WeChat Pay decide
by what the customer does on their page (approve, decline, cancel). Every outcome a
provider notifies is queued here in the same transaction as the outcome (so neither exists
without the other) and sent later by the delivery loop, in that provider's format.

Card test numbers (any future expiry, any CVC; they may appear only in sandbox code and
tests), after Stripe's numbers for the same behaviours:

| card number | outcome |
|---|---|
| 4242 4242 4242 4242 | approved |
| 4000 0000 0000 0002 | declined, `card_declined` |
| 4000 0000 0000 9995 | declined, `insufficient_funds` |
| 4000 0000 0000 5126 | approved, but every refund is refused (`refund_declined`) |
| 4000 0000 0000 0077 | approved, but no webhook is ever sent (only a query finds out) |
| any other valid number | declined, `card_not_supported` |

Wallet pages: `decision=approve` pays, `decline` fails with `payment_declined`, `cancel`
with `cancelled_by_customer`.

A checkout takes the tries the merchant allowed when it opened it: a decline before the last
leaves it open, with that decline's reason, for another card or another go in the app (the
card processor notifies each such try, as Stripe's payment_intent.payment_failed; the
wallets do not). The customer's cancel ends it at once. After every decision the customer's
browser goes to the merchant's return address.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from services.payment.domain.cards import CardDetails
from services.payment.domain.errors import GatewayRefused
from services.payment.domain.gateway import GatewayEventKind
from services.sandbox import alipay, paypal, wechat
from services.sandbox.models import SandboxDeliveryRow, SandboxSessionRow
from services.sandbox.notifiers import Notifier
from services.sandbox.settlement import SettledEntry
from shared.money import Money

# Card number -> failure code (None: approved). Every other valid number is not supported.
TEST_CARDS: dict[str, str | None] = {
    "4242424242424242": None,
    "4000000000000002": "card_declined",
    "4000000000009995": "insufficient_funds",
    "4000000000005126": None,
    "4000000000000077": None,
}
UNSUPPORTED_CARD = "card_not_supported"
REFUND_REFUSED: dict[str, str] = {"4000000000005126": "refund_declined"}
NEVER_NOTIFIED = frozenset({"4000000000000077"})


class SessionStatus(StrEnum):
    OPEN = "open"
    APPROVED = "approved"
    DECLINED = "declined"
    CANCELLED = "cancelled"  # by the merchant (us); a customer's cancel is a decline with its reason


class Decision(StrEnum):
    """What a customer does on a wallet's page."""

    APPROVE = "approve"
    DECLINE = "decline"
    CANCEL = "cancel"


DECISION_FAILURES: dict[Decision, str | None] = {
    Decision.APPROVE: None,
    Decision.DECLINE: "payment_declined",
    Decision.CANCEL: "cancelled_by_customer",
}
CUSTOMER_CANCEL = DECISION_FAILURES[Decision.CANCEL]

# Each provider's own kind of id for the checkout (PayPal order, Alipay trade, WeChat Pay transaction).
SESSION_IDS: dict[str, Callable[[datetime], str]] = {
    "card": lambda now: f"cs_{uuid.uuid4().hex}",
    "paypal": lambda now: paypal.new_id(),
    "alipay": alipay.new_trade_no,
    "wechat_pay": lambda now: wechat.new_transaction_id(),
}


def decide(card: CardDetails) -> str | None:
    """The failure code for this card, or None when the payment is approved."""
    return TEST_CARDS.get(card.number, UNSUPPORTED_CARD)


def open_session(session: Session, payment_reference: str, amount: Money, method: str,
                 now: datetime, locale: str = "en", *, attempts_allowed: int = 1,
                 return_url: str | None = None) -> SandboxSessionRow:
    row = SandboxSessionRow(
        id=SESSION_IDS[method](now), payment_reference=payment_reference, amount=amount.amount_minor,
        currency=amount.currency, method=method, locale=locale, status=SessionStatus.OPEN.value, refunded=False,
        silent=False, attempts_allowed=max(1, attempts_allowed), failed_attempts=0, return_url=return_url,
        provider_ref=paypal.new_id() if method == "paypal" else None, created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def get_session(session: Session, session_id: str, *, lock: bool = False) -> SandboxSessionRow | None:
    """`lock` makes a customer's payment and our cancel of the same checkout take turns."""
    query = select(SandboxSessionRow).where(SandboxSessionRow.id == session_id)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).one_or_none()


def complete(session: Session, row: SandboxSessionRow, card: CardDetails, notifier: Notifier,
             now: datetime) -> None:
    """Approve or decline an open card checkout with this card, and owe the webhook that says so."""
    failure = decide(card)
    summary = card.summary
    row.card_brand, row.card_last4 = summary.brand, summary.last4
    row.refund_failure = REFUND_REFUSED.get(card.number)
    row.silent = card.number in NEVER_NOTIFIED
    finish(session, row, failure, notifier, now)


def finish(session: Session, row: SandboxSessionRow, failure: str | None, notifier: Notifier,
           now: datetime) -> None:
    """Decide an open checkout: approved (no failure), or declined with `failure`: for good
    on its last try or the customer's cancel, else open for another try."""
    row.failure_code = failure
    if failure and failure != CUSTOMER_CANCEL:
        row.failed_attempts = (row.failed_attempts or 0) + 1
        if row.failed_attempts < row.attempts_allowed:
            queue_webhook(session, row, notifier, GatewayEventKind.PAYMENT_ATTEMPT_FAILED, now)
            return
    row.status = (SessionStatus.DECLINED if failure else SessionStatus.APPROVED).value
    if not failure:
        row.approved_at = now
    kind = GatewayEventKind.PAYMENT_FAILED if failure else GatewayEventKind.PAYMENT_SUCCEEDED
    queue_webhook(session, row, notifier, kind, now)


def cancel(row: SandboxSessionRow) -> bool:
    """Close a checkout; False when it was paid (then its webhook decides). A declined one
    is closed already: nothing can be charged on it any more."""
    if row.status == SessionStatus.APPROVED:
        return False
    if row.status == SessionStatus.OPEN:
        row.status = SessionStatus.CANCELLED.value
    return True


def refund(session: Session, row: SandboxSessionRow, refund_reference: str, notifier: Notifier,
           now: datetime) -> None:
    """Sandbox refunds succeed at once (unless the test card says otherwise); the notice
    follows like any other event. A checkout is refunded in full, once: asking again, with
    any refund id, is that one refund (the merchant's first id is the one it keeps)."""
    if row.status != SessionStatus.APPROVED:
        raise GatewayRefused(f"sandbox session {row.id} is {row.status}, nothing to refund", "charge_not_captured")
    if row.refunded:
        return
    if row.refund_failure:
        raise GatewayRefused(f"the issuer refused the refund of sandbox session {row.id}", row.refund_failure)
    row.refunded = True
    row.refunded_at = now
    row.refund_reference = refund_reference
    queue_webhook(session, row, notifier, GatewayEventKind.REFUND_SUCCEEDED, now)


def find_by_reference(session: Session, payment_reference: str) -> SandboxSessionRow | None:
    """The checkout opened for the merchant's payment (Alipay's query by out_trade_no)."""
    return session.scalars(select(SandboxSessionRow).where(
        SandboxSessionRow.payment_reference == payment_reference)).one_or_none()


def describe(row: SandboxSessionRow, url: str) -> dict[str, object]:
    """A session as the sandbox's API shows it (what a real gateway's 'retrieve' returns),
    with `url`, where the customer pays it."""
    card = {"brand": row.card_brand, "last4": row.card_last4} if row.card_last4 else None
    return {
        "id": row.id, "object": "checkout_session", "status": row.status, "payment_reference": row.payment_reference,
        "url": url, "amount": row.amount, "currency": row.currency, "method": row.method, "card": card,
        "failure_code": row.failure_code, "refunded": row.refunded, "refund_reference": row.refund_reference,
        "attempts_failed": row.failed_attempts or 0, "attempts_allowed": row.attempts_allowed,
        "updated": int(row.updated_at.timestamp()) if row.updated_at else None,
    }


def queue_webhook(session: Session, row: SandboxSessionRow, notifier: Notifier, kind: GatewayEventKind,
                  now: datetime) -> SandboxDeliveryRow | None:
    notice = None if row.silent else notifier.notice(kind, row, now)
    if notice is None:
        return None
    delivery = SandboxDeliveryRow(event_id=notice.event_id, provider=notifier.provider, url=notifier.url,
                                  body=notice.body, attempts=0, next_attempt_at=now)
    session.add(delivery)
    return delivery


def settled_between(session: Session, methods: list[str], start: datetime, end: datetime) -> list[SettledEntry]:
    """What the sandbox settled for these payment methods in [start, end): each capture and
    each refund, oldest first (its settlement report's lines)."""
    rows = session.scalars(select(SandboxSessionRow).where(
        SandboxSessionRow.method.in_(methods),
        or_(SandboxSessionRow.approved_at.between(start, end), SandboxSessionRow.refunded_at.between(start, end)))
    ).all()
    entries = []
    for row in rows:
        amount, ref = Money(row.amount, row.currency), row.provider_ref or row.id
        if row.approved_at is not None and start <= row.approved_at < end:
            entries.append(SettledEntry("capture", ref, row.payment_reference, None, amount, row.approved_at))
        if row.refunded_at is not None and start <= row.refunded_at < end:
            entries.append(SettledEntry("refund", f"{ref}R", row.payment_reference, row.refund_reference, amount,
                                       row.refunded_at))
    return sorted(entries, key=lambda entry: (entry.at, entry.kind))
