"""Queue -> handler wiring of the notify service (the queues themselves are in shared topology)."""

from __future__ import annotations

from services.notify import handlers
from shared.messaging.consumer import Handler


def notify_handlers() -> dict[str, Handler]:
    return {
        "send_receipt": handlers.send_receipt,
        "send_reversal_notice": handlers.send_reversal_notice,
    }
