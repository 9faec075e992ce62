"""The card top-up, end to end through the public API, on both backends."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from tests.e2e.frontend import APPROVED, DECLINED, Frontend
from tests.helpers import wait_for


def test_approved_card_credits_the_balance_and_emails_a_receipt(frontend: Frontend) -> None:
    who = frontend.register()
    options = frontend.get(who, "/v1/topup-options").json()
    assert options["currency"] == "EUR" and "card" in options["methods"]
    quote = frontend.quote(who, 10000).json()
    assert (quote["credit_amount"], quote["charge_amount"]) == (10000, 9000), "spend 100, get 10 off"

    order = frontend.top_up(who, 10000)
    page = frontend.http.get(order["next_action"]["url"])
    assert page.status_code == 200 and "card_number" in page.text
    assert frontend.pay(order).status_code == 200

    done = frontend.wait_status(who, order["order_id"], "completed")
    assert done["next_action"] is None
    assert done["payment"]["card_last4"] == "4242"
    assert [step["status"] for step in done["timeline"]][-1] == "completed"
    balance = frontend.get(who, "/v1/balance").json()
    assert (balance["amount"], balance["currency"], balance["status"]) == (10000, "EUR", "active")
    assert [e["amount"] for e in balance["expiring"]] == [10000] and balance["frozen_reason"] is None

    mail = wait_for(lambda: frontend.mail_for(order["order_id"]), what="the receipt email")
    assert len(mail) == 1 and mail[0]["To"] == who["email"]
    text = mail[0].get_body(("plain",)).get_content()
    for fact in (order["order_id"], "€100.00", "€90.00", "4242", "R-"):
        assert fact in text

    account = frontend.operator("wallet", "GET", f"/v1/accounts/{who['customer_id']}").json()
    assert account["balance"] == {"amount": 10000, "currency": "EUR"}
    wait_for(lambda: "receipt_sent" in [s["event"] for s in frontend.order(who, order["order_id"])["timeline"]],
             what="the receipt noted on the timeline")


def test_a_declined_card_may_be_tried_again_until_the_last_try_fails_the_order(frontend: Frontend) -> None:
    who = frontend.register()
    order = frontend.top_up(who)
    allowed = frontend.system.settings.payment_attempts
    for attempt in range(1, allowed + 1):
        frontend.pay(order, DECLINED)
        if attempt < allowed:
            def tries() -> list[tuple[str, str]]:
                return [(s["reason"], s["status"]) for s in frontend.order(who, order["order_id"])["timeline"]
                        if s["event"] == "payment_attempt_failed"]
            wait_for(lambda n=attempt: len(tries()) == n, what=f"try {attempt} on the timeline")
            assert tries() == [("card_declined", "awaiting_payment")] * attempt
    failed = frontend.wait_status(who, order["order_id"], "failed")
    assert failed["failure_reason"] == "card_declined"
    assert frontend.get(who, "/v1/balance").json()["amount"] == 0


def test_a_declined_card_then_a_good_one_tops_up(frontend: Frontend) -> None:
    who = frontend.register()
    order = frontend.top_up(who, 2000)
    back = frontend.pay(order, DECLINED)
    assert back.url == order["next_action"]["url"] and "declined" in back.text, "the page says why, takes another"
    # The declined try reaches the order on its own queue: paid at once, the capture may
    # overtake it, and a try noted after the payment is news no longer (the saga's table).
    def events() -> list[str]:
        return [step["event"] for step in frontend.order(who, order["order_id"])["timeline"]]

    wait_for(lambda: "payment_attempt_failed" in events(), what="the declined try on the timeline")
    frontend.pay(order, APPROVED)
    done = frontend.wait_status(who, order["order_id"], "completed")
    assert [s["event"] for s in done["timeline"]][:3] == ["placed", "payment_created", "payment_attempt_failed"]
    assert frontend.get(who, "/v1/balance").json()["amount"] == 2000


def test_frozen_account_is_refused_and_never_charged(frontend: Frontend) -> None:
    who = frontend.register()
    quote = frontend.quote(who, 2000).json()
    assert frontend.freeze(who, "overdue_payment").status_code == 200
    # Once the order service has heard of the freeze, the quote it gave can no longer be
    # placed (frozen after the order: tests/e2e/test_reversals.py, refunded).
    wait_for(lambda: frontend.get(who, "/v1/balance").json()["status"] == "frozen", what="balance shows frozen")
    placed = frontend.place(who, quote["quote_id"])
    assert placed.status_code == 403 and placed.json()["code"] == "account_frozen"
    assert frontend.get(who, "/v1/orders").json()["orders"] == [], "no order, nothing to pay"
    refused = frontend.quote(who, 2000)
    assert refused.status_code == 403
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert refused.json()["code"] == "account_frozen"


def test_forged_stale_and_duplicate_webhooks_change_nothing_twice(frontend: Frontend) -> None:
    who = frontend.register()
    order = frontend.top_up(who, 3000)
    event = {
        "id": f"evt_{uuid.uuid4().hex}", "type": "payment.succeeded", "created": int(time.time()),
        "data": {"session_id": order["next_action"]["url"].rsplit("/", 1)[-1],
                 "payment_reference": order["payment"]["payment_id"], "amount": order["charge_amount"],
                 "currency": "EUR", "card": {"brand": "visa", "last4": "4242"}, "failure_code": None},
    }
    forged = frontend.signed_webhook(event, secret="not-the-secret")
    assert forged.status_code == 400 and forged.json()["code"] == "invalid_signature"
    assert frontend.signed_webhook(event, age=301).status_code == 400
    time.sleep(0.3)
    assert frontend.order(who, order["order_id"])["status"] == "awaiting_payment"

    assert frontend.signed_webhook(event).status_code == 200
    assert frontend.signed_webhook(event).status_code == 200
    frontend.wait_status(who, order["order_id"], "completed")
    time.sleep(0.3)
    entries = frontend.operator("wallet", "GET", f"/v1/accounts/{who['customer_id']}/entries").json()["entries"]
    assert len(entries) == 1
    assert frontend.get(who, "/v1/balance").json()["amount"] == 3000


def test_order_creation_is_idempotent(frontend: Frontend) -> None:
    who = frontend.register()
    quote = frontend.quote(who, 2000).json()
    first = frontend.place(who, quote["quote_id"], key="key-1")
    again = frontend.place(who, quote["quote_id"], key="key-1")
    assert first.status_code == again.status_code == 201
    assert first.json()["order_id"] == again.json()["order_id"]
    other = frontend.quote(who, 5000).json()
    misuse = frontend.place(who, other["quote_id"], key="key-1")
    assert misuse.status_code == 422 and misuse.json()["code"] == "idempotency_key_reused"
    assert frontend.place(who, quote["quote_id"], key="key-2").json()["code"] == "quote_already_used"
    assert len(frontend.get(who, "/v1/orders").json()["orders"]) == 1


def test_another_customers_order_is_not_found(frontend: Frontend) -> None:
    alice, bob = frontend.register(), frontend.register()
    order = frontend.top_up(alice)
    response = frontend.get(bob, f"/v1/orders/{order['order_id']}")
    assert response.status_code == 404 and response.json()["code"] == "order_not_found"
    assert frontend.get(bob, "/v1/orders").json()["orders"] == []


def test_twenty_concurrent_top_ups_on_one_account_add_up_exactly(frontend: Frontend) -> None:
    who = frontend.register()
    amounts = [500 + 100 * i for i in range(20)]

    def one(amount: int) -> str:
        order = frontend.top_up(who, amount)
        assert frontend.pay(order).status_code == 200
        return str(order["order_id"])

    with ThreadPoolExecutor(max_workers=20) as pool:
        order_ids = list(pool.map(one, amounts))
    for order_id in order_ids:
        frontend.wait_status(who, order_id, "completed", timeout=30)
    expected = sum(amounts)
    assert frontend.get(who, "/v1/balance").json()["amount"] == expected
    account = frontend.operator("wallet", "GET", f"/v1/accounts/{who['customer_id']}").json()
    assert account["balance"]["amount"] == expected
    entries = frontend.operator("wallet", "GET", f"/v1/accounts/{who['customer_id']}/entries").json()["entries"]
    assert len(entries) == 20 and sum(e["amount"] for e in entries) == expected
    listed = frontend.get(who, "/v1/orders?limit=15").json()
    rest = frontend.get(who, f"/v1/orders?limit=15&cursor={listed['next_cursor']}").json()
    assert {o["order_id"] for o in listed["orders"] + rest["orders"]} == set(order_ids)


def test_every_service_serves_its_openapi_document(frontend: Frontend) -> None:
    expected = {"order": "/v1/orders/{order_id}", "payment": "/v1/webhooks/{gateway_name}",
                "wallet": "/v1/accounts/{customer_id}/freeze", "notify": "/v1/receipts/{order_id}"}
    for service, path in expected.items():
        spec = frontend.http.get(f"{frontend.system.url(service)}/openapi.json").json()
        assert spec["openapi"].startswith("3.") and path in spec["paths"], service
