"""Opening the checkouts of a batch of `payment.create` commands at once.

A gateway's answer takes its time (a real provider's: a few hundred milliseconds), and the
consumer handles a batch of messages one after another in one transaction: opening each
checkout in turn would make the batch wait for the sum of the answers, and a top-up's
payment page for every answer before its own. So before the batch's transaction begins, the
consumer hands the batch's commands to `prepare`, which opens their checkouts together, on
a few threads, with no transaction open; each handler then takes its answer (`open`).

Opening ahead is safe because opening is idempotent: the key is the payment id, derived from
the order id, so the handler's own call (when nothing was prepared) or a repeated command
finds the same checkout. A checkout opened for an order the handler then finds cancelled,
or already paid for, is never shown to anyone: nothing can be charged on it.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from services.payment import store
from services.payment.domain.errors import GatewayError
from services.payment.domain.gateway import Gateway
from services.payment.domain.payment import Payment
from services.payment.gateways import Gateways
from services.payment.settings import CheckoutTerms
from shared.clock import utcnow
from shared.messaging.envelope import Envelope

#: calls to the gateways at once, per consumer
THREADS = 8

Opened = tuple[str, str] | GatewayError


class CheckoutOpener:
    def __init__(self, gateways: Gateways, terms: CheckoutTerms, threads: int = THREADS) -> None:
        self.gateways = gateways
        self.terms = terms
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="checkouts")
        self._opened: dict[str, Opened] = {}
        self._lock = threading.Lock()

    def prepare(self, commands: list[Envelope]) -> None:
        """Open the checkouts these commands will ask for, together (a batch's, before its
        transaction). What each call came to is kept for `open`, its error too."""
        calls = []
        for command in commands:
            try:
                payment = store.to_payment(store.new_payment(
                    command.payload, store.new_payment_id(command.payload["order_id"]), self.terms.attempts_allowed,
                    utcnow()))
                gateway = self.gateways.for_method(payment.method)
                if gateway is not None and payment.amount.amount_minor > 0:
                    calls.append((gateway, payment))
            except (KeyError, TypeError, ValueError):
                continue  # the handler refuses it, with the reason
        if len(calls) < 2:
            return  # nothing to gain: the handler calls itself
        outcomes = list(self._pool.map(lambda call: self._call(*call), calls))
        with self._lock:
            self._opened = {payment.payment_id: outcome for (_, payment), outcome in zip(calls, outcomes, strict=True)}

    def _call(self, gateway: Gateway, payment: Payment) -> Opened:
        try:
            return gateway.create_session(payment, self.terms.return_url(payment.payment_id))
        except GatewayError as exc:
            return exc

    def open(self, gateway: Gateway, payment: Payment, return_url: str) -> tuple[str, str]:
        """The checkout of this payment: the one `prepare` opened, else opened now."""
        with self._lock:
            found = self._opened.pop(payment.payment_id, None)
        if found is None:
            return gateway.create_session(payment, return_url)
        if isinstance(found, GatewayError):
            raise found
        return found

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
