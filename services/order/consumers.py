"""Queue -> handler wiring of the order service (queues are declared in shared topology)."""

from __future__ import annotations

from shared.messaging.consumer import Handler
from services.order.handlers import SAGA_HANDLERS


def order_handlers() -> dict[str, Handler]:
    return dict(SAGA_HANDLERS)
