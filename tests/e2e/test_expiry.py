"""Endings in time: an order not paid within ORDER_PAYMENT_TIMEOUT expires and its checkout
closes; money that arrives after that is given back, and the order stays expired."""

from __future__ import annotations

from tests.e2e.frontend import LOST_NOTIFICATION, Frontend
from tests.helpers import wait_for

SYSTEM_OVERRIDES = {"order_payment_timeout_seconds": 2, "payment_query_after_seconds": 5.0,
                    "payment_query_every_seconds": 0.5}


def test_an_unpaid_order_expires_and_its_checkout_can_no_longer_be_paid(frontend: Frontend) -> None:
    who = frontend.register()
    order = frontend.top_up(who)
    expired = frontend.wait_status(who, order["order_id"], "expired", timeout=10)
    assert expired["failure_reason"] == "payment_timeout" and expired["next_action"] is None
    assert expired["timeline"][-1]["event"] == "payment_deadline_passed"
    wait_for(lambda: frontend.operator("payment", "GET", f"/v1/payments?order_id={order['order_id']}")
             .json()["status"] == "cancelled", what="the checkout cancelled at the gateway")
    late = frontend.pay(order)
    assert late.status_code == 409
    assert frontend.get(who, "/v1/balance").json()["amount"] == 0


def test_money_captured_after_the_order_expired_is_refunded_automatically(frontend: Frontend) -> None:
    who = frontend.register()
    order = frontend.top_up(who, 3000)
    # Paid in time, but the gateway's notification is lost and the customer closed the
    # browser before coming back: the order expires first, and only the payment service's
    # query finds the money, late.
    assert frontend.pay(order, LOST_NOTIFICATION, come_back=False).status_code == 303
    frontend.wait_status(who, order["order_id"], "expired", timeout=10)

    def refunded() -> bool:
        timeline = frontend.order(who, order["order_id"])["timeline"]
        return [s["event"] for s in timeline][-2:] == ["payment_captured", "payment_refunded"]

    wait_for(refunded, timeout=20, what="the late payment refunded")
    final = frontend.order(who, order["order_id"])
    assert final["status"] == "expired", "a terminal status never changes"
    payment = frontend.operator("payment", "GET", f"/v1/payments?order_id={order['order_id']}").json()
    assert payment["status"] == "refunded"
    assert frontend.get(who, "/v1/balance").json()["amount"] == 0
