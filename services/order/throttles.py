"""The account throttle's store: attempts per (action, email) in the order database.

Keyed by a hash of the normalized email, whether or not it has an account, so that being
throttled says nothing about who is registered, and no address an attacker typed is kept.
Each function runs in the caller's session; plain statements (logins are not rare).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, delete, select, update
from sqlalchemy.orm import Session

from services.order.domain.errors import OrderError
from services.order.domain.throttle import ThrottlePolicy
from services.order.models import AuthThrottle
from services.order.texts import _
from shared.db import upsert

LOGIN = "login"
REGISTER = "register"
PASSWORD_RESET = "reset"


class TooManyAttempts(OrderError):
    code = "too_many_attempts"
    status = 429
    title = _("Too many attempts.")

    def __init__(self, retry_after: int) -> None:
        super().__init__(_("Too many attempts for this account. Try again in {seconds} seconds.",
                           seconds=retry_after))
        self.headers["Retry-After"] = str(retry_after)


def key_for(action: str, email: str) -> str:
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    return f"{action}:{digest}"


@dataclass(frozen=True)
class Throttle:
    policy: ThrottlePolicy

    def check(self, session: Session, key: str, now: datetime) -> bool:
        """Refuse (TooManyAttempts) while the key waits; True if it has attempts on record
        (so that a success knows there is something to forget)."""
        row = session.execute(select(AuthThrottle.blocked_until).where(AuthThrottle.key == key)).first()
        if row is None:
            return False
        wait = self.policy.retry_after(row.blocked_until, now)
        if wait is not None:
            raise TooManyAttempts(wait)
        return True

    def count(self, session: Session, key: str, now: datetime) -> int | None:
        """Add an attempt (atomically: two at once both count). Returns the seconds the key
        must now wait, if it must."""
        forgotten = AuthThrottle.last_attempt_at <= now - self.policy.forget_after
        statement = upsert(session)(AuthThrottle).values(key=key, attempts=1, last_attempt_at=now, blocked_until=None)
        statement = statement.on_conflict_do_update(
            index_elements=["key"],
            set_={"attempts": case((forgotten, 1), else_=AuthThrottle.attempts + 1), "last_attempt_at": now},
        ).returning(AuthThrottle.attempts)
        attempts: int = session.execute(statement).scalar_one()
        blocked_until = self.policy.blocked_until(attempts, now)
        if blocked_until is None:
            return None
        session.execute(update(AuthThrottle).where(AuthThrottle.key == key).values(blocked_until=blocked_until))
        return self.policy.retry_after(blocked_until, now)

    @staticmethod
    def forget(session: Session, key: str) -> None:
        session.execute(delete(AuthThrottle).where(AuthThrottle.key == key))
