"""The support desk: a customer calls, support finds them by email and reads their account
and top-ups; the order lists are filtered exactly as asked (a filter the API does not know
is refused, never ignored) and paged with a cursor that neither skips nor repeats."""

from __future__ import annotations

from typing import Any

from tests.e2e.frontend import APPROVED, DECLINED, LOST_NOTIFICATION, Frontend
from tests.helpers import wait_for


def orders_of(frontend: Frontend, query: str) -> Any:
    return frontend.operator("order", "GET", f"/v1/operator/orders?{query}")


def test_support_finds_a_customer_by_email_with_their_account_and_top_ups(frontend: Frontend) -> None:
    caller, other = frontend.register(), frontend.register()
    paid = frontend.top_up(caller, 3000)
    assert frontend.pay(paid).status_code == 200
    frontend.wait_status(caller, paid["order_id"], "completed")
    waiting = frontend.top_up(caller, 1500)
    frontend.top_up(other, 1000)

    found = frontend.operator("order", "GET", "/v1/operator/customers", params={"email": caller["email"].upper()})
    assert found.status_code == 200, found.text
    [customer] = found.json()["customers"]
    assert customer["customer_id"] == caller["customer_id"] and customer["email"] == caller["email"]
    assert customer["account"] == {"status": "active", "frozen_reason": None, "balance": 3000, "currency": "EUR",
                                   "version": customer["account"]["version"]}
    assert customer["account"]["version"] >= 2, "opened, then credited"
    assert [o["order_id"] for o in customer["recent_orders"]] == [waiting["order_id"], paid["order_id"]]
    assert customer["recent_orders"][1]["status"] == "completed"

    nobody = frontend.operator("order", "GET", "/v1/operator/customers", params={"email": "nobody@example.com"})
    assert nobody.status_code == 200 and nobody.json()["customers"] == []
    assert frontend.operator("order", "GET", "/v1/operator/customers").status_code == 422, "the email is required"
    assert frontend.http.get(f"{frontend.order_url}/v1/operator/customers",
                             params={"email": caller["email"]}).status_code == 401


def test_order_lists_are_filtered_as_asked_and_refuse_what_they_do_not_know(frontend: Frontend) -> None:
    caller, other = frontend.register(), frontend.register()
    placed = [frontend.top_up(caller, 1000 + i)["order_id"] for i in range(3)]
    frontend.top_up(other, 1000)

    mine = orders_of(frontend, f"email={caller['email']}")
    assert mine.status_code == 200
    assert [o["order_id"] for o in mine.json()["orders"]] == placed[::-1], "theirs only, newest first"
    assert {o["customer_id"] for o in mine.json()["orders"]} == {caller["customer_id"]}

    pages, cursor = [], ""
    while True:
        page = orders_of(frontend, f"customer_id={caller['customer_id']}&limit=2{cursor}").json()
        pages.append([o["order_id"] for o in page["orders"]])
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert pages == [placed[:0:-1], placed[:1]], "two pages, nothing skipped or repeated"

    for query, field in (("emial=x%40example.com", "emial"), ("status=comleted", "status"),
                         ("email=not-an-email", "email"), ("needs_operator=perhaps", "needs_operator")):
        refused = orders_of(frontend, query)
        assert refused.status_code == 422, (query, refused.text)
        body = refused.json()
        assert body["code"] == "validation_failed" and field in str(body["errors"]), (query, body)
    assert orders_of(frontend, "cursor=ord_nope").json()["code"] == "order_not_found"
    unknown = frontend.http.get(f"{frontend.order_url}/v1/orders?status=completed", headers=caller["headers"])
    assert unknown.status_code == 422, "the customer's list refuses an unknown filter too"


def test_one_top_up_is_seen_across_the_services_from_what_they_announced(frontend: Frontend) -> None:
    who = frontend.register()
    order = frontend.top_up(who, 2500)
    frontend.pay(order, DECLINED)
    frontend.pay(order, APPROVED)
    frontend.wait_status(who, order["order_id"], "completed")
    wait_for(lambda: "receipt_sent" in [s["event"] for s in frontend.order(who, order["order_id"])["timeline"]],
             what="the receipt emailed")

    seen = frontend.operator("order", "GET", f"/v1/operator/orders/{order['order_id']}").json()
    payment = seen["payment_detail"]
    assert payment["method"] == "card" and payment["card_last4"] == "4242" and payment["refund"] is None
    assert [a["reason"] for a in payment["declined_attempts"]] == ["card_declined"]
    assert seen["receipt"]["emailed"] is True and seen["receipt"]["receipt_number"]
    receipt = frontend.get(who, f"/v1/orders/{order['order_id']}/receipt").json()
    assert seen["receipt"]["receipt_number"] == receipt["receipt_number"]
    [entry] = seen["wallet_entries"]
    assert (entry["kind"], entry["amount"], entry["balance_after"]) == ("topup", 2500, 2500)
    assert [s["operator"] for s in seen["timeline"]] == [None] * len(seen["timeline"]), "nobody acted by hand"


def test_support_cancels_an_unpaid_order_for_the_customer_with_a_reason(frontend: Frontend) -> None:
    who = frontend.register()
    order = frontend.top_up(who, 1800)
    path = f"/v1/operator/orders/{order['order_id']}/cancel"
    assert frontend.operator("order", "POST", path, json={}).status_code == 422, "a reason is required"
    cancelled = frontend.operator("order", "POST", path, json={"reason": "asked by phone: wrong amount"})
    assert cancelled.status_code == 202, cancelled.text
    body = cancelled.json()
    assert body["status"] == "cancelled" and body["failure_reason"] == "cancelled_by_operator"
    step = body["timeline"][-1]
    assert (step["event"], step["operator"], step["note"]) == ("cancel_requested", "operator",
                                                               "asked by phone: wrong amount")
    again = frontend.operator("order", "POST", path, json={"reason": "asked twice"})
    assert again.status_code == 202 and [s["event"] for s in again.json()["timeline"]].count("cancel_requested") == 1
    customer_view = frontend.order(who, order["order_id"])
    assert customer_view["status"] == "cancelled" and "note" not in customer_view["timeline"][-1]

    paid = frontend.top_up(who, 1900)
    frontend.pay(paid)
    frontend.wait_status(who, paid["order_id"], "completed")
    refused = frontend.operator("order", "POST", f"/v1/operator/orders/{paid['order_id']}/cancel",
                                json={"reason": "too late"})
    assert refused.status_code == 409 and refused.json()["code"] == "order_not_cancellable"
    assert frontend.operator("order", "POST", "/v1/operator/orders/ord_nope/cancel",
                             json={"reason": "no such"}).json()["code"] == "order_not_found"


def test_support_asks_the_gateway_now_about_a_payment_whose_notification_never_came(frontend: Frontend) -> None:
    who = frontend.register()
    order = frontend.top_up(who, 2100)
    assert frontend.pay(order, LOST_NOTIFICATION, come_back=False).status_code == 303  # the browser closed
    payment_id = wait_for(lambda: frontend.order(who, order["order_id"])["payment"]["payment_id"],
                          what="the payment known")
    assert frontend.order(who, order["order_id"])["status"] == "awaiting_payment", "nothing told us yet"
    asked = {"reason": "the customer says they paid"}
    assert frontend.operator("payment", "POST", f"/v1/payments/{payment_id}/sync").status_code == 422, "why?"
    synced = frontend.operator("payment", "POST", f"/v1/payments/{payment_id}/sync", json=asked)
    assert synced.status_code == 200, synced.text
    assert synced.json()["news"] is True and synced.json()["status"] == "captured"
    frontend.wait_status(who, order["order_id"], "completed")
    again = frontend.operator("payment", "POST", f"/v1/payments/{payment_id}/sync", json=asked).json()
    assert again["news"] is False and again["status"] == "captured", "asking again changes nothing twice"
    assert frontend.operator("payment", "POST", "/v1/payments/pay_nope/sync", json=asked).status_code == 404

    def synced_steps() -> list[Any] | None:
        timeline = frontend.operator("order", "GET", f"/v1/operator/orders/{order['order_id']}").json()["timeline"]
        steps = [(s["reason"], s["operator"], s["note"]) for s in timeline if s["event"] == "payment_synced"]
        return steps if len(steps) == 2 else None

    assert wait_for(synced_steps, what="both asks on the timeline") == [
        ("news", "operator", asked["reason"]), ("no_news", "operator", asked["reason"])]


def test_support_has_a_copy_of_the_receipt_sent_once_per_key_with_a_reason(frontend: Frontend) -> None:
    who = frontend.register()
    order = frontend.top_up(who, 2200)
    frontend.pay(order)
    wait_for(lambda: frontend.get(who, f"/v1/orders/{order['order_id']}/receipt").ok, what="the receipt issued")
    path = f"/v1/operator/orders/{order['order_id']}/receipt/resend"
    reason = {"reason": "the customer's spam filter ate it"}
    assert frontend.operator("order", "POST", path, json=reason).json()["code"] == "idempotency_key_required"
    sent = frontend.operator("order", "POST", path, json=reason, headers_extra={"Idempotency-Key": "call-1"})
    assert sent.status_code == 202, sent.text
    again = frontend.operator("order", "POST", path, json=reason, headers_extra={"Idempotency-Key": "call-1"})
    steps = [s for s in again.json()["timeline"] if s["event"] == "receipt_resent"]
    assert [(s["operator"], s["note"]) for s in steps] == [("operator", reason["reason"])], "once per key"
    copies = wait_for(lambda: frontend.mail_for(order["order_id"]) if len(frontend.mail_for(order["order_id"])) >= 2
                      else None, what="the copy emailed")
    assert len(copies) == 2 and copies[0]["Subject"] == copies[1]["Subject"], "the same receipt, twice"
    unissued = frontend.top_up(who, 1000)
    assert frontend.operator("order", "POST", f"/v1/operator/orders/{unissued['order_id']}/receipt/resend",
                             json=reason, headers_extra={"Idempotency-Key": "x"}).status_code == 404


def test_support_adjusts_a_balance_with_a_reason_and_the_books_still_balance(frontend: Frontend) -> None:
    who = frontend.register()
    order = frontend.top_up(who, 3000)
    frontend.pay(order)
    frontend.wait_status(who, order["order_id"], "completed")
    path = f"/v1/accounts/{who['customer_id']}/adjustments"

    def adjust(amount: int, key: str, currency: str = "EUR", reason: str = "goodwill: plan failed") -> Any:
        return frontend.operator("wallet", "POST", path, headers_extra={"Idempotency-Key": key},
                                 json={"amount": amount, "currency": currency, "reason": reason})

    given = adjust(500, "adj-1")
    assert given.status_code == 201, given.text
    assert (given.json()["balance_after"], given.json()["operator"]) == (3500, "operator")
    again = adjust(500, "adj-1")
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == given.json(), "once per key"
    assert adjust(600, "adj-1").json()["code"] == "idempotency_key_reused"
    assert adjust(-4000, "adj-2").json()["code"] == "insufficient_funds", "never more than is spendable"
    assert adjust(100, "adj-3", currency="CNY").json()["code"] == "currency_mismatch"
    for bad in ({"amount": 0, "currency": "EUR", "reason": "nothing"}, {"amount": 100, "currency": "EUR"}):
        assert frontend.operator("wallet", "POST", path, json=bad,
                                 headers_extra={"Idempotency-Key": "adj-bad"}).status_code == 422
    taken = adjust(-1000, "adj-4", reason="correction: charged twice by the platform")
    assert taken.status_code == 201 and taken.json()["balance_after"] == 2500

    def statement() -> Any:
        entries = frontend.get(who, "/v1/balance/entries").json()["entries"]
        return entries if len(entries) == 3 else None

    entries = wait_for(statement, what="the adjustments on the customer's statement")
    assert [(e["kind"], e["amount"]) for e in entries] == [("adjustment", -1000), ("adjustment", 500),
                                                           ("topup", 3000)]
    assert entries[0]["description"] == "Adjustment by support" and entries[0]["balance_after"] == 2500
    assert frontend.get(who, "/v1/balance").json()["amount"] == 2500
    ledger = frontend.operator("wallet", "GET", f"/v1/accounts/{who['customer_id']}/entries").json()["entries"]
    assert {p["account"] for p in ledger[0]["postings"]} == {f"customer:{who['customer_id']}", "adjustments:EUR"}
    assert (ledger[0]["operator"], ledger[0]["note"]) == ("operator", "correction: charged twice by the platform")
    assert ledger[-1]["kind"] == "topup" and ledger[-1]["operator"] is None
