"""Customer credentials: argon2 password hashes and short-lived JWT access tokens."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Verified against when the email is unknown, so both failures take the same time.
_DUMMY_HASH = _hasher.hash("not-a-real-password")
ISSUER = "topup-order"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    """One argon2 verification, also for an unknown email (against a dummy hash), so that
    both failures cost the same time."""
    try:
        _hasher.verify(password_hash or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return password_hash is not None


def issue_token(customer_id: str, secret: str, ttl_seconds: int, now: datetime, language: str | None = None,
                credentials_version: int = 0) -> str:
    """`language`: the customer's at login, so that every answer is in it without loading the
    profile (a request's Accept-Language still wins; a change applies from the next login).
    `credentials_version`: the password's version at login; a token from before a change
    or reset of the password is refused."""
    claims: dict[str, object] = {"sub": customer_id, "iss": ISSUER, "iat": now,
                                 "exp": now + timedelta(seconds=ttl_seconds), "cv": credentials_version}
    if language:
        claims["lang"] = language
    return jwt.encode(claims, secret, algorithm="HS256")


@dataclass(frozen=True)
class Holder:
    """Who a valid token speaks for, and in which language they read."""

    customer_id: str
    language: str | None
    expires: float
    #: the password's version when the token was issued (0 for tokens from before versions)
    credentials_version: int = 0


class VerifiedTokens:
    """Tokens already verified, so that a frontend polling its order does not pay for the
    signature check on every request (a tenth of the order service's CPU under load).

    A token is only ever taken from here until its own expiry; bad tokens are never kept;
    the oldest entries go first when full."""

    def __init__(self, secret: str, size: int = 10_000, clock: Callable[[], float] = time.time) -> None:
        self.secret = secret
        self.size = size
        self.clock = clock
        self._known: OrderedDict[str, Holder] = OrderedDict()
        self._lock = threading.Lock()

    def customer(self, token: str) -> str | None:
        holder = self.holder(token)
        return holder.customer_id if holder else None

    def holder(self, token: str) -> Holder | None:
        now = self.clock()
        with self._lock:
            known = self._known.get(token)
        if known is not None and known.expires > now:
            return known
        try:
            claims = jwt.decode(token, self.secret, algorithms=["HS256"], issuer=ISSUER,
                                options={"require": ["exp", "sub"], "verify_exp": False})
            if claims["exp"] <= now:
                return None
        except jwt.PyJWTError:
            return None
        language = claims.get("lang")
        version = claims.get("cv", 0)
        holder = Holder(str(claims["sub"]), language if isinstance(language, str) else None, float(claims["exp"]),
                        version if isinstance(version, int) else -1)
        with self._lock:
            self._known[token] = holder
            while len(self._known) > self.size:
                self._known.popitem(last=False)
        return holder
