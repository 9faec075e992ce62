"""Queue -> handler wiring of the wallet (the queues themselves are in shared topology)."""

from __future__ import annotations

from functools import partial

from services.wallet import handlers
from shared.messaging.consumer import Handler


def wallet_handlers(rules: handlers.WalletRules) -> dict[str, Handler]:
    return {
        "open_account": handlers.open_account,
        "authorize_credit": partial(handlers.authorize_credit, rules=rules),
        "credit": partial(handlers.credit, rules=rules),
    }
