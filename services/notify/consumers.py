"""Queue -> handler wiring of the notify service (the queues themselves are in shared topology)."""

from __future__ import annotations

from functools import partial

from services.notify import handlers
from services.notify.handlers import NotifyRules
from shared.messaging.consumer import Handler


def notify_handlers(rules: NotifyRules) -> dict[str, Handler]:
    return {
        "remember_customer": handlers.remember_customer,
        "update_customer": handlers.update_customer,
        "send_receipt": partial(handlers.send_receipt, rules=rules),
        "resend_receipt": handlers.resend_receipt,
        "send_password_reset": partial(handlers.send_password_reset, rules=rules),
        "send_reversal_notice": handlers.send_reversal_notice,
        "send_low_balance_reminder": partial(handlers.send_low_balance_reminder, rules=rules),
        "send_expiry_reminder": handlers.send_expiry_reminder,
        "send_expiry_notice": handlers.send_expiry_notice,
    }
