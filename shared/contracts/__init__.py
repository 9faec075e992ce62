"""The services' common language: one marshmallow schema per message type.

A message type is owned by the service that publishes it (it is routed through that
service's exchange). Commands are imperative (`wallet.credit`), events past tense
(`payment.captured`). Both ends validate: the publisher before the message enters its
outbox, the consumer before its handler runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from marshmallow import Schema, ValidationError

from shared.contracts import notify, order, payment, wallet


class ContractViolation(ValueError):
    """A payload that does not match its message type's schema."""


@dataclass(frozen=True)
class Contract:
    message_type: str
    publisher: str
    schema: type[Schema]


CONTRACTS: dict[str, Contract] = {
    c.message_type: c
    for module, publisher in ((order, "order"), (payment, "payment"), (wallet, "wallet"), (notify, "notify"))
    for c in (Contract(t, publisher, s) for t, s in module.MESSAGES.items())
}


#: Message types whose payload carries a credential (a password-reset token). The outbox
#: keeps such a body only until the relay has published it (shared/messaging/relay.py).
CARRIES_A_CREDENTIAL = frozenset({"customer.password_reset_requested"})


def contract(message_type: str) -> Contract:
    try:
        return CONTRACTS[message_type]
    except KeyError:
        raise ContractViolation(f"unknown message type {message_type!r}") from None


@cache
def _schema(message_type: str) -> Schema:
    """One schema instance per type: building one per message costs more than the load."""
    return contract(message_type).schema()


def jsonable(value: Any) -> Any:
    """A payload as JSON can hold it: moments as ISO 8601 text."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def dump_payload(message_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as it goes on the wire, refused here if the other end would refuse it.

    Validation runs on exactly what is sent (no silent casts: 10.5 is not 10 cents)."""
    data: dict[str, Any] = jsonable(payload)
    load_payload(message_type, data)
    return data


def load_payload(message_type: str, data: Any) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = _schema(message_type).load(data)
    except ValidationError as exc:
        raise ContractViolation(f"{message_type}: {exc.messages}") from exc
    return loaded
