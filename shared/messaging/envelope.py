"""The envelope every message travels in.

`correlation_id` is the order id for saga traffic (so a support agent can follow one top-up
across all four services); `causation_id` is the id of the message that caused this one.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.clock import utcnow
from shared.contracts import ContractViolation, dump_payload, load_payload


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
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, body: bytes | str) -> Envelope:
        """Parse and validate a received message; the payload comes back typed (datetimes)."""
        try:
            data = json.loads(body)
            message_type = data["type"]
            return cls(
                type=message_type,
                payload=load_payload(message_type, data["payload"]),
                correlation_id=data.get("correlation_id"),
                causation_id=data.get("causation_id"),
                message_id=str(uuid.UUID(data["message_id"])),
                occurred_at=datetime.fromisoformat(data["occurred_at"]),
            )
        except (ValueError, KeyError, TypeError, ContractViolation) as exc:
            raise InvalidMessage(str(exc)) from exc
