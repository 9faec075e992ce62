"""The customer's password: changing it, and resetting it by a single-use emailed token.

A reset token is 32 random bytes, valid 15 minutes, good once; only its SHA-256 is stored.
Asking for a reset answers the same whether or not the email has an account (the request is
recorded either way, and the email sent only to an account's owner). Changing or resetting
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

from sqlalchemy import select, update
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
    """Record a reset request; for an account, put the email with its token in the outbox."""
    customer = session.execute(select(Customer.id, Customer.email, Customer.language)
                               .where(Customer.email == email.strip().lower())).first()
    token = secrets.token_urlsafe(32)
    reset = PasswordReset(id=f"pwr_{uuid.uuid4().hex}", customer_id=customer.id if customer else None,
                          token_hash=token_hash(token), requested_at=now, expires_at=now + RESET_VALIDITY)
    session.add(reset)
    if customer is not None:
        put(session, OutboxMessage, Envelope.new("customer.password_reset_requested", {
            "reset_id": reset.id, "customer_id": customer.id, "email": customer.email,
            "language": customer.language, "token": token, "expires_at": reset.expires_at}))
    session.flush()
    return ResetRequest(reset.id, reset.customer_id)


def reset_owner(session: Session, token: str, now: datetime) -> str:
    """The customer a still-usable token belongs to; refused if unknown, used or expired."""
    row = session.execute(select(PasswordReset.customer_id, PasswordReset.expires_at, PasswordReset.used_at)
                          .where(PasswordReset.token_hash == token_hash(token))).first()
    if row is None or row.customer_id is None or row.used_at is not None or row.expires_at <= now:
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
