"""How long an account waits after failed attempts: a few are free, then each one more
doubles the wait, up to a cap. A quiet spell forgets the count.

Plain arithmetic on the attempt count and the clock: the store keeps the count in the
database (services/order/throttles.py), so every web process and replica sees the same.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class ThrottlePolicy:
    #: attempts that cost nothing; the next one is the first to make the account wait
    allowed: int = 5
    first_wait: timedelta = timedelta(seconds=30)
    longest_wait: timedelta = timedelta(hours=1)
    #: a count whose last attempt is this old starts again from zero (services/order/throttles.py)
    forget_after: timedelta = timedelta(hours=1)

    def blocked_until(self, attempts: int, now: datetime) -> datetime | None:
        """After `attempts` attempts, until when the account waits (None: not at all).
        Past the free ones the wait doubles per attempt: 30 s, 1 min, 2 min, ... 1 h."""
        beyond = attempts - self.allowed
        if beyond <= 0:
            return None
        wait = min(self.first_wait * (2 ** min(beyond - 1, 30)), self.longest_wait)
        return now + wait

    @staticmethod
    def retry_after(blocked_until: datetime | None, now: datetime) -> int | None:
        """Whole seconds still to wait (what Retry-After says), or None if free to try."""
        if blocked_until is None or blocked_until <= now:
            return None
        return max(1, math.ceil((blocked_until - now).total_seconds()))
