"""Queue -> handler wiring of the payment service (the queues themselves are in shared topology)."""

from __future__ import annotations

from functools import partial

from sqlalchemy.orm import Session

from services.payment import handlers
from services.payment.checkouts import CheckoutOpener
from services.payment.gateways import Gateways
from services.payment.settings import CheckoutTerms
from shared.messaging.consumer import Handler
from shared.messaging.envelope import Envelope


class CreatePayment:
    """`payment.create`, whose checkouts a batch opens together before its transaction."""

    def __init__(self, gateways: Gateways, terms: CheckoutTerms) -> None:
        self.gateways, self.terms = gateways, terms
        self.opener = CheckoutOpener(gateways, terms)

    def prepare(self, commands: list[Envelope]) -> None:
        self.opener.prepare(commands)

    def __call__(self, session: Session, msg: Envelope) -> None:
        handlers.create_payment(session, msg, self.gateways, self.terms, self.opener)


def payment_handlers(gateways: Gateways, terms: CheckoutTerms) -> dict[str, Handler]:
    return {
        "create_payment": CreatePayment(gateways, terms),
        "refund_payment": handlers.refund_payment,
        "cancel_payment": partial(handlers.cancel_payment, gateways=gateways),
    }
