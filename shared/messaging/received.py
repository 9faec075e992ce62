"""A received message, read without trusting anything it holds.

kombu hands the consumer whatever the broker delivered: headers and properties of any AMQP
type or none at all, a body of any bytes. What the consumer needs from them is read here
without assuming a shape, and so is what a copy of the message (its retry or its parking)
may keep. Plain functions of a kombu message; no I/O.
"""

from __future__ import annotations

import hashlib
from typing import Any

from amqp.serialization import dumps as amqp_dumps
from kombu.message import Message

from shared.messaging.envelope import InvalidMessage

ATTEMPT_HEADER = "x-topup-attempt"
PARKED_REASON_HEADER = "x-topup-parked-reason"
HEADERS_DROPPED_HEADER = "x-topup-headers-dropped"
#: A copy keeps the message's headers up to this size (as an AMQP table). The broker takes
#: a message's properties in one frame (128 KiB by default) and closes the connection on a
#: larger one: headers that nearly filled it, plus our reason, would break the connection
#: on every attempt to park them.
HEADER_BUDGET = 64 * 1024


def attempt_of(headers: dict[Any, Any]) -> int:
    """Which attempt this delivery is: 1, unless our retry header says otherwise. Only we
    write that header, always a whole number from 1; any other value (text, a float, a
    list, zero or less) did not come from us, and the message is refused, not guessed at."""
    value = headers.get(ATTEMPT_HEADER, 1)
    if type(value) is not int or value < 1:  # type(), not isinstance: True is not an attempt
        raise InvalidMessage(f"{ATTEMPT_HEADER} header is not a whole number from 1: {value!r:.60}")
    return value


def as_text(value: Any) -> str | None:
    """A property as text, if it is (non-empty) text at all."""
    return value if isinstance(value, str) and value else None


def headers_of(message: Message) -> dict[Any, Any]:
    headers = message.headers
    return headers if isinstance(headers, dict) else {}


def properties_of(message: Message) -> dict[Any, Any]:
    properties = message.properties
    return properties if isinstance(properties, dict) else {}


def body_of(message: Message) -> bytes:
    body = message.body
    if isinstance(body, str):
        return body.encode("utf-8", "surrogatepass")
    return bytes(body or b"")


def fingerprint(message: Message) -> bytes:
    return hashlib.blake2b(body_of(message), digest_size=16).digest()


def copied_headers(message: Message) -> dict[Any, Any]:
    """The headers a copy keeps: the message's own, but not kombu's `compression` once
    kombu has decompressed the body we copy, and none at all (only a note) if AMQP could
    not carry them again or they would leave no room in the frame for ours."""
    headers = headers_of(message)
    if "compression" in headers and not message.errors:
        headers = {key: value for key, value in headers.items() if key != "compression"}
    if not headers:
        return {}
    try:
        size = len(amqp_dumps("F", [headers]))
    except Exception:  # noqa: BLE001 - not a table AMQP can carry
        return {HEADERS_DROPPED_HEADER: "not encodable as an AMQP table"}
    if size > HEADER_BUDGET:
        return {HEADERS_DROPPED_HEADER: f"{size} bytes, more than {HEADER_BUDGET}"}
    return headers


class Breakers:
    """Messages that were being copied (retried or parked) when the connection died.

    Nearly always the connection's own trouble. But a copy can break the connection too
    (the broker closes a connection that sends it a frame it refuses), and then the message
    would come back, break it again, and so on for ever. The second time it happens to the
    same message, the message is rejected on its next delivery instead of copied again.
    Cheap: a message is fingerprinted only while some message is under suspicion."""

    TRIP_AT = 2
    REMEMBERED = 1000

    def __init__(self) -> None:
        self._breaks: dict[bytes, int] = {}

    def broke(self, message: Message) -> None:
        if len(self._breaks) >= self.REMEMBERED:
            self._breaks.clear()
        key = fingerprint(message)
        self._breaks[key] = self._breaks.get(key, 0) + 1

    def tripped(self, message: Message) -> bool:
        if not self._breaks:
            return False
        key = fingerprint(message)
        if self._breaks.get(key, 0) < self.TRIP_AT:
            return False
        del self._breaks[key]
        return True

    def forget(self, message: Message) -> None:
        if self._breaks:
            self._breaks.pop(fingerprint(message), None)
