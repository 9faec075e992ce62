"""Signed webhooks: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.

Why each part: the HMAC proves the gateway sent these exact bytes (so it is computed over
the raw body, never a re-serialized one); the timestamp inside the signed text bounds how
long a captured request can be replayed; several `v1` values may be sent while a secret is
being rotated. Pure functions; the clock is passed in.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from services.payment.domain.errors import InvalidSignature


def compute(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The header value a sender puts on a request."""
    return f"t={timestamp},v1={compute(secret, timestamp, body)}"


def parse_header(header: str | None) -> tuple[int, list[str]]:
    if not header:
        raise InvalidSignature("no signature header")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise InvalidSignature("malformed signature header")
        if key == "t":
            if not (value.isascii() and value.isdigit()):
                raise InvalidSignature("malformed timestamp")
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        raise InvalidSignature("signature header needs t and v1")
    return timestamp, signatures


def verify(header: str | None, body: bytes, secret: str, now: datetime, tolerance_seconds: int) -> int:
    """Return the signed timestamp, or raise InvalidSignature.

    The window is symmetric: a timestamp from the future is as suspicious as an old one
    (a sender's clock more than `tolerance_seconds` off is a misconfiguration to fix).
    """
    timestamp, signatures = parse_header(header)
    expected = compute(secret, timestamp, body)
    if not any(hmac.compare_digest(expected.encode(), s.encode()) for s in signatures):
        raise InvalidSignature("signature does not match")
    age = now.timestamp() - timestamp
    if age > tolerance_seconds:
        raise InvalidSignature("signature too old")
    if -age > tolerance_seconds:
        raise InvalidSignature("signature timestamp in the future")
    return timestamp
