"""The account throttle's store: attempts per (action, email) in the order database.

Keyed by a hash of the normalized email, whether or not it has an account, so that being
throttled says nothing about who is registered, and no address an attacker typed is kept.
Each function runs in the caller's session; plain statements (logins are not rare).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, case, delete, or_, select, update
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


@dataclass(frozen=True)
class Attempt:
    """What the throttle says of one attempt, counted before it is tried."""

    #: seconds still to wait: the attempt may not be tried
    refused: int | None = None
    #: the attempt may be tried, but if it fails the key waits this long (already started)
    waits_if_it_fails: int | None = None

    @property
    def wait(self) -> int | None:
        """The seconds to wait if the attempt is not to go ahead whether it fails or not."""
        return self.refused if self.refused is not None else self.waits_if_it_fails

    def refuse_if_waiting(self) -> None:
        if self.refused is not None:
            raise TooManyAttempts(self.refused)

    def refusal_if_it_failed(self, refusal: Exception) -> Exception:
        """What to answer a failed attempt: the wait it started, else the refusal itself."""
        return TooManyAttempts(self.waits_if_it_fails) if self.waits_if_it_fails is not None else refusal


def key_for(action: str, email: str) -> str:
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    return f"{action}:{digest}"


@dataclass(frozen=True)
class Throttle:
    policy: ThrottlePolicy

    def check(self, session: Session, key: str, now: datetime) -> None:
        """Refuse (TooManyAttempts) while the key waits."""
        blocked_until = session.execute(select(AuthThrottle.blocked_until).where(AuthThrottle.key == key)).scalar()
        wait = self.policy.retry_after(blocked_until, now)
        if wait is not None:
            raise TooManyAttempts(wait)

    def take(self, session: Session, key: str, now: datetime) -> Attempt:
        """Count this attempt before it is tried, in one atomic statement, so that guesses
        sent in parallel cannot all pass a check none of them has counted yet.

        While the key waits, the attempt is refused and not counted. Otherwise it may be
        tried; if it is one past the allowance, the key's next wait starts now, before the
        password is checked: any attempt racing it is refused, and if this one fails the wait
        stands (it ends with a success, `forget`). The caller commits, then acts."""
        waiting = AuthThrottle.blocked_until > now
        forgotten = AuthThrottle.last_attempt_at <= now - self.policy.forget_after
        statement = upsert(session)(AuthThrottle).values(key=key, attempts=1, last_attempt_at=now, blocked_until=None)
        statement = statement.on_conflict_do_update(
            index_elements=["key"],
            set_={"attempts": case((waiting, AuthThrottle.attempts), (forgotten, 1), else_=AuthThrottle.attempts + 1),
                  "last_attempt_at": case((waiting, AuthThrottle.last_attempt_at), else_=now)},
        ).returning(AuthThrottle.attempts, AuthThrottle.blocked_until)
        attempts, blocked_until = session.execute(statement).one()
        wait = self.policy.retry_after(blocked_until, now)
        if wait is not None:
            return Attempt(refused=wait)
        blocked_until = self.policy.blocked_until(attempts, now)
        if blocked_until is None:
            return Attempt()
        session.execute(update(AuthThrottle).where(AuthThrottle.key == key).values(blocked_until=blocked_until))
        return Attempt(waits_if_it_fails=self.policy.retry_after(blocked_until, now))

    def purge(self, session: Session, now: datetime) -> int:
        """Drop the counts nothing holds any more (quiet for `forget_after`, no wait running):
        every email ever tried leaves a row, and the table must not grow with them."""
        quiet = AuthThrottle.last_attempt_at <= now - self.policy.forget_after
        done = or_(AuthThrottle.blocked_until.is_(None), AuthThrottle.blocked_until <= now)
        result = session.execute(delete(AuthThrottle).where(quiet, done))
        return cast("CursorResult[Any]", result).rowcount

    @staticmethod
    def forget(session: Session, key: str) -> None:
        session.execute(delete(AuthThrottle).where(AuthThrottle.key == key))
