"""Customer credentials: argon2 password hashes and short-lived JWT access tokens."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.order.domain.errors import InvalidCredentials

_hasher = PasswordHasher()
# Verified against when the email is unknown, so both failures take the same time.
_DUMMY_HASH = _hasher.hash("not-a-real-password")
ISSUER = "topup-order"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> None:
    try:
        _hasher.verify(password_hash or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        raise InvalidCredentials("email or password is wrong") from None
    if password_hash is None:
        raise InvalidCredentials("email or password is wrong")


def issue_token(customer_id: str, secret: str, ttl_seconds: int, now: datetime) -> str:
    claims = {"sub": customer_id, "iss": ISSUER, "iat": now, "exp": now + timedelta(seconds=ttl_seconds)}
    return jwt.encode(claims, secret, algorithm="HS256")


class VerifiedTokens:
    """Tokens already verified, so that a frontend polling its order does not pay for the
    signature check on every request (a tenth of the order service's CPU under load).

    A token is only ever taken from here until its own expiry; bad tokens are never kept;
    the oldest entries go first when full."""

    def __init__(self, secret: str, size: int = 10_000, clock: Callable[[], float] = time.time) -> None:
        self.secret = secret
        self.size = size
        self.clock = clock
        self._known: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def customer(self, token: str) -> str | None:
        now = self.clock()
        with self._lock:
            known = self._known.get(token)
        if known is not None and known[1] > now:
            return known[0]
        try:
            claims = jwt.decode(token, self.secret, algorithms=["HS256"], issuer=ISSUER,
                                options={"require": ["exp", "sub"], "verify_exp": False})
            if claims["exp"] <= now:
                return None
        except jwt.PyJWTError:
            return None
        customer_id = str(claims["sub"])
        with self._lock:
            self._known[token] = (customer_id, float(claims["exp"]))
            while len(self._known) > self.size:
                self._known.popitem(last=False)
        return customer_id
