"""Queue -> handler wiring of the payment service (the queues themselves are in shared topology)."""

from __future__ import annotations

from functools import partial

from services.payment import handlers
from services.payment.gateways import Gateways
from services.payment.settings import CheckoutTerms
from shared.messaging.consumer import Handler


def payment_handlers(gateways: Gateways, terms: CheckoutTerms) -> dict[str, Handler]:
    return {
        "create_payment": partial(handlers.create_payment, gateways=gateways, terms=terms),
        "refund_payment": handlers.refund_payment,
        "cancel_payment": partial(handlers.cancel_payment, gateways=gateways),
    }
