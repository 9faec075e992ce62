"""The envelope every message travels in.

`correlation_id` is the order id for saga traffic (so a support agent can follow one top-up
across all four services); `causation_id` is the id of the message that caused this one;
`headers` carry the W3C `traceparent` of the span that made it (shared/tracing.py), so its
consumer continues the same trace. Headers are a courtesy: whatever a received message
holds there, what is not a short text is dropped, never a reason to refuse the message.

On the wire an envelope is a JSON object in UTF-8, whatever a message's content type or
encoding claim. A received body is input from outside: `from_json` refuses anything else
with `InvalidMessage` and nothing but `InvalidMessage`, so that the consumer can park it
(any other exception would look to the consumer like a lost connection).
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared import tracing
from shared.clock import utcnow
from shared.contracts import dump_payload, load_payload

#: No envelope of ours nests more than a few levels; a deeper body is not one of ours.
#: (A body nested 200,000 deep made the JSON decoder raise RecursionError.)
MAX_DEPTH = 32
#: What every store and every JSON reader here can hold; beyond it a number is refused,
#: not rounded or overflowed somewhere downstream.
_INT64 = 2**63


class InvalidMessage(ValueError):
    """A message body that is not an envelope we understand; it is parked, never retried."""


@dataclass(frozen=True)
class Envelope:
    type: str
    payload: dict[str, Any]
    correlation_id: str | None = None
    causation_id: str | None = None
    message_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    occurred_at: datetime = field(default_factory=utcnow)
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def new(
        cls,
        type: str,
        payload: dict[str, Any],
        *,
        correlation_id: str | None = None,
        caused_by: Envelope | None = None,
    ) -> Envelope:
        """A message ready for the outbox; its payload is checked against the contract now,
        so that a bad message fails the transaction that would have sent it."""
        return cls(
            type=type,
            payload=dump_payload(type, payload),
            correlation_id=correlation_id or (caused_by.correlation_id if caused_by else None),
            causation_id=caused_by.message_id if caused_by else None,
            headers=tracing.headers(),
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "message_id": self.message_id,
                "type": self.type,
                "occurred_at": self.occurred_at.isoformat(),
                "correlation_id": self.correlation_id,
                "causation_id": self.causation_id,
                "payload": self.payload,
                **({"headers": self.headers} if self.headers else {}),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, body: bytes | str) -> Envelope:
        """Parse and validate a received message; the payload comes back typed (datetimes)."""
        data = _json_object(body)
        try:
            message_type = _text(data, "type")
            if "payload" not in data:
                raise InvalidMessage("no payload")
            raw_id = _text(data, "message_id")
            try:
                message_id = str(uuid.UUID(raw_id))
            except ValueError:
                raise InvalidMessage(f"message_id is not a UUID: {raw_id!r:.60}") from None
            return cls(
                type=message_type,
                payload=load_payload(message_type, data["payload"]),
                correlation_id=_text(data, "correlation_id", optional=True),
                causation_id=_text(data, "causation_id", optional=True),
                message_id=message_id,
                occurred_at=datetime.fromisoformat(_text(data, "occurred_at")),
                headers=_headers(data.get("headers")),
            )
        except InvalidMessage:
            raise
        except Exception as exc:  # whatever the body holds, it is unreadable, nothing else
            raise InvalidMessage(str(exc) or type(exc).__name__) from exc


#: what is kept of a received envelope's headers: a few short texts
MAX_HEADERS, MAX_HEADER_CHARS = 8, 256


def _headers(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    kept = {k: v for k, v in value.items()
            if isinstance(k, str) and isinstance(v, str) and len(k) <= 64 and len(v) <= MAX_HEADER_CHARS}
    return dict(list(kept.items())[:MAX_HEADERS])


def _json_object(body: bytes | str) -> dict[str, Any]:
    """The body as a JSON object, cheaply refused if it is anything else. Deep nesting is
    looked for only in a body with more brackets than MAX_DEPTH (ours have a handful), and
    then by one walk: the cost stays linear in the body's size."""
    if isinstance(body, bytes | bytearray | memoryview):
        try:
            text = bytes(body).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidMessage(f"not UTF-8: {exc}") from None
    elif isinstance(body, str):
        text = body
    else:
        raise InvalidMessage(f"a body of type {type(body).__name__}, not JSON text")
    try:
        data = json.loads(text, parse_int=_int64, parse_float=_finite, parse_constant=_not_a_number)
    except InvalidMessage:
        raise
    except RecursionError:
        raise InvalidMessage(f"nests deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError, and int()'s refusal of thousands of digits
        raise InvalidMessage(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidMessage(f"a JSON {_json_kind(data)}, not an object")
    if text.count("[") + text.count("{") > MAX_DEPTH or "\\u0000" in text:
        problem = _shape_problem(data)
        if problem:
            raise InvalidMessage(problem)
    return data


def _shape_problem(value: Any) -> str | None:
    """Walk the parsed body without recursion: too deep, or a NUL in a string (PostgreSQL
    cannot store one in text, so its handler would fail on every attempt)?"""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                return f"nests deeper than {MAX_DEPTH} levels"
            if isinstance(item, dict):
                stack.extend((key, depth) for key in item)
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
        elif isinstance(item, str) and "\x00" in item:
            return "a NUL character in a string"
    return None


def _int64(text: str) -> int:
    if len(text) <= 20:
        number = int(text)
        if -_INT64 <= number < _INT64:
            return number
    raise InvalidMessage(f"an integer beyond 64 bits: {text:.30}")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise InvalidMessage(f"a number too large for a float: {text:.30}")
    return number


def _not_a_number(name: str) -> Any:
    raise InvalidMessage(f"{name} is not a JSON number")


def _json_kind(value: Any) -> str:
    return {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")


def _text(data: dict[str, Any], key: str, optional: bool = False) -> Any:
    """A field that must be text (or absent/null, if optional)."""
    value = data.get(key)
    if isinstance(value, str) or (optional and value is None):
        return value
    raise InvalidMessage(f"{key} is {'missing' if value is None else 'not text'}")
