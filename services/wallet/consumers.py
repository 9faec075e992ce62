"""Queue -> handler wiring of the wallet (the queues themselves are in shared topology)."""

from __future__ import annotations

from functools import partial

from services.wallet import handlers
from services.wallet.credits import CreditRules
from shared.messaging.consumer import Handler


def wallet_handlers(rules: CreditRules) -> dict[str, Handler]:
    return {
        "open_account": handlers.open_account,
        "update_customer": handlers.update_customer,
        "authorize_credit": handlers.authorize_credit,
        "credit": partial(handlers.credit, rules=rules),
    }
