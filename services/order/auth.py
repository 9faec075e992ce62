"""Customer credentials: argon2 password hashes and short-lived JWT access tokens."""

from __future__ import annotations

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


def customer_from_token(token: str, secret: str) -> str | None:
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], issuer=ISSUER, options={"require": ["exp", "sub"]})
    except jwt.PyJWTError:
        return None
    return str(claims["sub"])
