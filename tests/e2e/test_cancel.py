"""The customer backs out of an order not yet paid, on both backends: the order is
cancelled at once, its checkout closes at the gateway, and a paid order cannot be cancelled;
the money check balances after."""

from __future__ import annotations

from tests.e2e.frontend import Frontend
from tests.helpers import wait_for


def test_a_customer_cancels_an_order_awaiting_payment_and_its_checkout_closes(frontend: Frontend) -> None:
    who = frontend.register()
    order = frontend.top_up(who)
    assert order["status"] == "awaiting_payment" and order["next_action"]
    cancelled = frontend.http.post(f"{frontend.order_url}/v1/orders/{order['order_id']}/cancel", headers=who["headers"])
    assert cancelled.status_code == 202, cancelled.text
    assert cancelled.json()["status"] == "cancelled" and cancelled.json()["failure_reason"] == "cancelled_by_customer"
    wait_for(lambda: frontend.operator("payment", "GET", f"/v1/payments?order_id={order['order_id']}")
             .json()["status"] == "cancelled", what="the checkout cancelled at the gateway")
    assert frontend.pay(order).status_code == 409, "the closed checkout takes no card"
    assert frontend.order(who, order["order_id"])["status"] == "cancelled"
    assert frontend.get(who, "/v1/balance").json()["amount"] == 0


def test_a_paid_order_cannot_be_cancelled(frontend: Frontend) -> None:
    who = frontend.register()
    order = frontend.top_up(who, 2000)
    assert frontend.pay(order).status_code == 200
    frontend.wait_status(who, order["order_id"], "completed")
    refused = frontend.http.post(f"{frontend.order_url}/v1/orders/{order['order_id']}/cancel", headers=who["headers"])
    assert refused.status_code == 409 and refused.json()["code"] == "order_not_cancellable"
    assert frontend.get(who, "/v1/balance").json()["amount"] == 2000
