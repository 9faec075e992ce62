"""Queue -> handler wiring of the order service (queues are declared in shared topology)."""

from __future__ import annotations

from services.order.handlers import SAGA_HANDLERS
from shared.messaging.consumer import Handler


def order_handlers() -> dict[str, Handler]:
    return dict(SAGA_HANDLERS)
