"""A batch's checkouts are opened together, ahead of its transaction (services/payment/checkouts.py)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from services.payment.checkouts import CheckoutOpener
from services.payment.domain.errors import GatewayRefused
from services.payment.domain.payment import Payment
from services.payment.gateways import Gateways
from services.payment.settings import CheckoutTerms
from services.payment.store import new_payment_id
from shared.messaging.envelope import Envelope


class MeetingGateway:
    """Answers only once `together` callers are in it at the same time: calls made one after
    another would never get there (the barrier breaks after a few seconds)."""

    name = "sandbox"

    def __init__(self, together: int) -> None:
        self.barrier = threading.Barrier(together, timeout=5)
        self.calls: list[str] = []

    def create_session(self, payment: Payment, return_url: str) -> tuple[str, str]:
        self.calls.append(payment.payment_id)
        if payment.amount.amount_minor == 666:
            raise GatewayRefused("no", "amount_refused")
        self.barrier.wait()
        return f"cs_{payment.order_id}", f"https://pay.example/{payment.order_id}?back={return_url}"


def command(order_id: str, amount: int = 1250, method: str = "card") -> Envelope:
    return Envelope.new("payment.create", {"order_id": order_id, "customer_id": "cus_1", "amount": amount,
                                           "currency": "EUR", "method": method, "language": "en",
                                           "description": "Top-up"})


def opener(gateway: Any) -> CheckoutOpener:
    return CheckoutOpener(Gateways({"sandbox": lambda: gateway}, {"card": "sandbox"}),
                          CheckoutTerms(3, "https://payments.example"))


def payment_of(order_id: str, amount: int = 1250) -> Payment:
    from services.payment.domain.payment import PaymentStatus
    from shared.money import Money
    return Payment(new_payment_id(order_id), order_id, "cus_1", Money(amount, "EUR"), "card",
                   PaymentStatus.CREATED, None, "en", 3)


def test_a_batch_opens_its_checkouts_together_and_each_handler_takes_its_own() -> None:
    gateway = MeetingGateway(together=3)
    checkouts = opener(gateway)
    checkouts.prepare([command("ord_a"), command("ord_b"), command("ord_c")])
    assert sorted(gateway.calls) == sorted(new_payment_id(o) for o in ("ord_a", "ord_b", "ord_c"))
    ref, url = checkouts.open(gateway, payment_of("ord_b"), "ignored: opened already")  # type: ignore[arg-type]
    assert ref == "cs_ord_b" and url.endswith(f"back=https://payments.example/v1/payments/{new_payment_id('ord_b')}"
                                              "/return")
    assert len(gateway.calls) == 3, "the handler did not call the gateway again"


def test_a_refusal_prepared_is_raised_to_its_handler_and_unprepared_payments_are_opened_then() -> None:
    gateway = MeetingGateway(together=2)
    checkouts = opener(gateway)
    checkouts.prepare([command("ord_a"), command("ord_b"), command("ord_x", amount=666)])
    with pytest.raises(GatewayRefused):
        checkouts.open(gateway, payment_of("ord_x", 666), "r")  # type: ignore[arg-type]
    lone = MeetingGateway(together=1)
    assert checkouts.open(lone, payment_of("ord_z"), "r")[0] == "cs_ord_z"  # type: ignore[arg-type]
    assert lone.calls == [new_payment_id("ord_z")]


def test_a_single_command_or_a_method_without_a_gateway_is_left_to_its_handler() -> None:
    gateway = MeetingGateway(together=1)
    checkouts = opener(gateway)
    checkouts.prepare([command("ord_a")])
    checkouts.prepare([command("ord_b", method="paypal"), command("ord_c", method="paypal")])
    assert gateway.calls == []
