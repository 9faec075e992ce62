"""The customer's password: changing it, and resetting it by a single-use emailed token.

A reset token is 32 random bytes, valid 15 minutes, good once; only its SHA-256 is stored.
Asking for a reset answers the same, in the same time, whether or not the email has an
account: the request does the same two statements either way (find the customer, record the
request); the order worker then issues an account's token and puts its email in the outbox
(`issue_tokens`), away from the answer's timing. Measured (`python -m deploy.reset_timing`) on
PostgreSQL, 360 interleaved requests each: the median answer for an account's email took
0.98-1.04x that for an unknown one, against 1.23x when the request itself wrote the outbox.
Changing or resetting
the password raises the customer's credentials version, which ends every access token
issued before (services/order/web.py), and voids the other open reset tokens.

Each function runs in the caller's unit of work. Hashing a new password (argon2, tens of
milliseconds) is the caller's job before the transaction opens, so no row stays locked
while it runs.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, insert, or_, select, update
from sqlalchemy.orm import Session

from services.order.domain.errors import OrderError, WeakPassword
from services.order.models import Customer, OutboxMessage, PasswordReset
from services.order.texts import _
from shared.messaging.envelope import Envelope
from shared.messaging.outbox import put

RESET_VALIDITY = timedelta(minutes=15)
MIN_LENGTH = 8


class ResetTokenInvalid(OrderError):
    code = "reset_token_invalid"
    status = 400
    title = _("This password-reset link cannot be used.")


class WrongPassword(OrderError):
    code = "wrong_password"
    status = 403
    title = _("The current password is wrong.")


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(_("A password has at least 8 characters."))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class ResetRequest:
    reset_id: str
    #: None when the email has no account: nothing is sent
    customer_id: str | None


def request_reset(session: Session, email: str, now: datetime) -> ResetRequest:
    """Record a reset request (for the worker to issue, if the email has an account)."""
    customer_id = session.execute(select(Customer.id).where(Customer.email == email.strip().lower())).scalar()
    reset_id = f"pwr_{uuid.uuid4().hex}"
    session.execute(insert(PasswordReset).values(id=reset_id, customer_id=customer_id, requested_at=now))
    return ResetRequest(reset_id, customer_id)


def issue_tokens(session: Session, now: datetime, batch_size: int = 50) -> int:
    """The worker's round: for each recorded request of an account, a token, its hash kept,
    the email with the token put in the outbox, in one transaction. Returns how many."""
    due = session.execute(
        select(PasswordReset.id, Customer.id.label("customer_id"), Customer.email, Customer.language)
        .join(Customer, Customer.id == PasswordReset.customer_id)
        .where(PasswordReset.token_hash.is_(None), PasswordReset.customer_id.is_not(None))
        .order_by(PasswordReset.requested_at).limit(batch_size)
        .with_for_update(of=PasswordReset, skip_locked=True)).all()
    for reset in due:
        token = secrets.token_urlsafe(32)
        expires_at = now + RESET_VALIDITY
        session.execute(update(PasswordReset).where(PasswordReset.id == reset.id)
                        .values(token_hash=token_hash(token), expires_at=expires_at))
        put(session, OutboxMessage, Envelope.new("customer.password_reset_requested", {
            "reset_id": reset.id, "customer_id": reset.customer_id, "email": reset.email,
            "language": reset.language, "token": token, "expires_at": expires_at}))
    return len(due)


#: how long a finished reset request (used, expired, or for an email without an account)
#: stays on record, for support to explain; then it is purged
KEPT_FOR = timedelta(days=7)


def purge(session: Session, now: datetime) -> int:
    """Drop finished reset requests older than KEPT_FOR: unknown emails leave a row each."""
    before = now - KEPT_FOR
    finished = or_(PasswordReset.customer_id.is_(None), PasswordReset.used_at.is_not(None),
                   PasswordReset.expires_at <= now)
    result = session.execute(delete(PasswordReset).where(finished, PasswordReset.requested_at <= before))
    return cast("CursorResult[Any]", result).rowcount


def reset_owner(session: Session, token: str, now: datetime) -> str:
    """The customer a still-usable token belongs to; refused if unknown, used or expired."""
    row = session.execute(select(PasswordReset.customer_id, PasswordReset.expires_at, PasswordReset.used_at)
                          .where(PasswordReset.token_hash == token_hash(token))).first()
    if row is None or row.customer_id is None or row.used_at is not None or not row.expires_at \
            or row.expires_at <= now:
        raise ResetTokenInvalid(_("The link has expired or has been used. Ask for a new one."))
    return str(row.customer_id)


def complete_reset(session: Session, token: str, new_hash: str, now: datetime) -> str:
    """Use the token (once: two at once, only one wins) and set the new password."""
    used = session.execute(update(PasswordReset)
                           .where(PasswordReset.token_hash == token_hash(token), PasswordReset.used_at.is_(None),
                                  PasswordReset.customer_id.is_not(None), PasswordReset.expires_at > now)
                           .values(used_at=now).returning(PasswordReset.customer_id)).scalar_one_or_none()
    if used is None:
        raise ResetTokenInvalid(_("The link has expired or has been used. Ask for a new one."))
    set_password(session, used, new_hash, now)
    return str(used)


def set_password(session: Session, customer_id: str, new_hash: str, now: datetime) -> None:
    """The new password, a new credentials version (earlier tokens end), and the customer's
    other open reset tokens voided."""
    session.execute(update(Customer).where(Customer.id == customer_id)
                    .values(password_hash=new_hash, credentials_version=Customer.credentials_version + 1))
    session.execute(update(PasswordReset)
                    .where(PasswordReset.customer_id == customer_id, PasswordReset.used_at.is_(None))
                    .values(used_at=now))
