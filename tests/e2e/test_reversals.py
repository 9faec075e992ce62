"""Endings after the money was taken: the wallet refuses the credit and the payment is
refunded, and a notification that never arrives is settled by asking the gateway."""

from __future__ import annotations

import pytest

from tests.e2e.frontend import LOST_NOTIFICATION, Frontend, decide
from tests.helpers import wait_for

SYSTEM_OVERRIDES = {"payment_query_after_seconds": 1.0, "payment_query_every_seconds": 0.5}


def test_a_paid_top_up_on_an_account_frozen_meanwhile_is_refunded_and_the_customer_told(frontend: Frontend) -> None:
    who = frontend.register()
    order = frontend.top_up(who, 5000)
    assert frontend.freeze(who, "overdue_payment").status_code == 200
    frontend.pay(order)
    refunded = frontend.wait_status(who, order["order_id"], "refunded")
    assert refunded["failure_reason"] == "account_frozen"
    events = [step["event"] for step in refunded["timeline"]]
    assert events[-3:] == ["payment_captured", "credit_failed", "payment_refunded"]
    payment = frontend.operator("payment", "GET", f"/v1/payments?order_id={order['order_id']}").json()
    assert payment["status"] == "refunded"
    assert frontend.get(who, "/v1/balance").json()["amount"] == 0
    mail = wait_for(lambda: frontend.mail_for(order["order_id"]), what="the reversal notice")
    text = mail[0].get_body(("plain",)).get_content()
    assert "reversed" in mail[0]["Subject"] and "€50.00" in text


def test_a_notification_that_never_arrives_is_settled_by_asking_the_gateway(frontend: Frontend) -> None:
    who = frontend.register()
    order = frontend.top_up(who, 2000)
    assert frontend.pay(order, LOST_NOTIFICATION, come_back=False).status_code == 303  # the browser closed
    done = frontend.wait_status(who, order["order_id"], "completed", timeout=20)
    assert done["payment"]["card_last4"] == "0077"
    assert frontend.get(who, "/v1/balance").json()["amount"] == 2000


@pytest.mark.parametrize("method", ["paypal", "alipay", "wechat_pay"])
def test_wallet_methods_pay_on_their_providers_page(frontend: Frontend, method: str) -> None:
    who = frontend.register()
    order = frontend.top_up(who, 2500, method=method)
    page = frontend.http.get(order["next_action"]["url"])
    assert page.status_code == 200 and "decision" in page.text
    assert decide(frontend, order, "approve").status_code == 200
    done = frontend.wait_status(who, order["order_id"], "completed", timeout=20)
    assert done["method"] == method
    assert frontend.get(who, "/v1/balance").json()["amount"] == 2500
    mail = wait_for(lambda: frontend.mail_for(order["order_id"]), what="the receipt")
    assert len(mail) == 1


@pytest.mark.parametrize(("method", "decision", "reason"), [
    ("paypal", "cancel", "cancelled_by_customer"),
    ("alipay", "decline", "payment_declined"),
    ("wechat_pay", "cancel", "cancelled_by_customer"),
])
def test_a_customer_who_declines_or_cancels_on_the_page_ends_failed(frontend: Frontend, method: str, decision: str,
                                                                     reason: str) -> None:
    who = frontend.register()
    order = frontend.top_up(who, 2500, method=method)
    for _try in range(frontend.system.settings.payment_attempts if decision == "decline" else 1):
        decide(frontend, order, decision)
    # Settled as the customer's browser came back, before any notification or question.
    payment = frontend.operator("payment", "GET", f"/v1/payments?order_id={order['order_id']}").json()
    assert (payment["status"], payment["failure_reason"]) == ("failed", reason)
    failed = frontend.wait_status(who, order["order_id"], "failed", timeout=10)
    assert failed["failure_reason"] == reason
    assert frontend.get(who, "/v1/balance").json()["amount"] == 0
