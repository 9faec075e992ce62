"""The order service alone on real PostgreSQL and RabbitMQ: the saga driven by raw messages
(published with pika, as the other services would), in order, out of order, and twice."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import event

from services.order import app as order_app
from services.order.watch import RECHECK_SECONDS, OrderWatch
from shared.clock import utcnow
from shared.config import Settings
from tests.helpers import publish_raw, wait_for
from tests.integration.order_saga import Saga, Waiting


def test_the_saga_completes_even_when_the_capture_overtakes_payment_created(saga: Saga) -> None:
    who = saga.customer()
    order_id = saga.place(who)
    assert saga.sent("wallet.authorize_credit", order_id) == [], "no round trip to the wallet first"
    wait_for(lambda: saga.sent("payment.create", order_id), what="payment.create")
    assert saga.sent("payment.create", order_id)[0]["amount"] == 9000, "the charge, after the promotion"

    capture = saga.captured(order_id)
    saga.wait(order_id, "paid")
    saga.send("payment.created", {"order_id": order_id, "payment_id": "pay_1", "method": "card",
                                  "redirect_url": "http://gateway.test/checkout/cs_1"}, order_id)
    publish_raw(saga.settings.amqp_url, saga.settings.amqp_namespace, capture)  # redelivered
    saga.captured(order_id)  # and announced again under a new id
    credited = {"order_id": order_id, "customer_id": who["customer_id"], "entry_id": "je_1", "amount": 10000,
                "currency": "EUR", "balance_after": 10000}
    saga.send("wallet.credited", credited, order_id)
    saga.send("wallet.credited", credited, order_id)
    saga.wait(order_id, "completed")

    assert len(saga.sent("wallet.credit", order_id)) == 1
    completed = saga.sent("order.completed", order_id)
    assert len(completed) == 1
    assert completed[0]["email"] == "ana@example.com" and completed[0]["card_last4"] == "4242"
    assert completed[0]["balance_after"] == 10000 and completed[0]["charge_amount"] == 9000
    body = saga.client.get(f"/v1/orders/{order_id}", headers=who["headers"]).get_json()
    assert [step["event"] for step in body["timeline"]] == [
        "placed", "payment_captured", "credited"]
    assert body["next_action"] is None


@pytest.mark.payment_deadline(900)
def test_a_saga_step_finding_the_order_where_it_usually_is_moves_it_with_one_statement(saga: Saga) -> None:
    """The happy path's steps neither lock nor read the order first (USUALLY_FROM), nor read
    the customer for the completion's announcement; one that finds the order elsewhere is
    decided on the order read, by the same table."""
    who = saga.customer()
    order_id = saga.place(who)
    seen: list[str] = []

    def on_orders(conn: object, cursor: object, statement: str, *rest: object) -> None:
        if threading.current_thread() is not threading.main_thread() and (
                statement.startswith("UPDATE orders") or ("FROM orders" in statement and "FOR UPDATE" in statement)):
            seen.append("update" if statement.startswith("UPDATE") else "lock")
        elif threading.current_thread() is not threading.main_thread() and statement.startswith(
                "SELECT") and "FROM customers" in statement:
            seen.append("customer read")

    event.listen(saga.ctx.engine, "before_cursor_execute", on_orders)
    try:
        saga.send("payment.created", {"order_id": order_id, "payment_id": "pay_1", "method": "card",
                                      "redirect_url": "http://gateway.test/checkout/cs_1"}, order_id)
        saga.wait(order_id, "awaiting_payment")
        saga.captured(order_id)
        saga.wait(order_id, "paid")
        saga.send("wallet.credited", {"order_id": order_id, "customer_id": who["customer_id"], "entry_id": "je_1",
                                      "amount": 10000, "currency": "EUR", "balance_after": 10000}, order_id)
        saga.wait(order_id, "completed")
        assert seen == ["update", "update", "update"], "one statement per step"
        completed = saga.sent("order.completed", order_id)[0]
        assert (completed["email"], completed["language"], completed["time_zone"]) == (
            "ana@example.com", "en", "Europe/Berlin"), "addressed from the customer the update answered with"
        seen.clear()
        saga.send("payment.created", {"order_id": order_id, "payment_id": "pay_1", "method": "card",
                                      "redirect_url": "http://gateway.test/checkout/cs_1"}, order_id)  # late
        wait_for(lambda: seen, what="the late message handled")
        time.sleep(0.2)
    finally:
        event.remove(saga.ctx.engine, "before_cursor_execute", on_orders)
    assert seen == ["update", "lock"], "not where it usually is: read, and ignored by the table"
    assert saga.status(order_id) == "completed" and len(saga.sent("order.completed", order_id)) == 1


def test_a_paid_top_up_the_wallet_refuses_is_refunded(saga: Saga) -> None:
    who = saga.customer()
    order_id = saga.place(who)
    saga.paid_then_refused(who, order_id, "account_frozen")
    assert saga.sent("payment.refund", order_id)[0] == {"order_id": order_id, "payment_id": "pay_1",
                                                        "reason": "account_frozen"}
    saga.send("payment.refunded", {"order_id": order_id, "payment_id": "pay_1", "amount": 9000, "currency": "EUR",
                                   "refunded_at": utcnow()}, order_id)
    saga.wait(order_id, "refunded")
    assert saga.sent("order.reversed", order_id)[0]["reason"] == "account_frozen"
    assert saga.sent("order.completed", order_id) == []


def test_an_unpaid_order_expires_and_late_money_is_refunded(saga: Saga) -> None:
    who = saga.customer()
    order_id = saga.place(who)
    saga.wait(order_id, "expired")
    assert saga.sent("payment.cancel", order_id)[0]["reason"] == "payment_timeout"
    saga.captured(order_id, payment_id="pay_late")
    wait_for(lambda: saga.sent("payment.refund", order_id), what="the late payment refunded")
    assert saga.status(order_id) == "expired", "a terminal status never changes"
    assert saga.sent("wallet.credit", order_id) == []


def test_the_customer_cancels_an_unpaid_order_and_a_racing_capture_is_refunded(saga: Saga) -> None:
    who, other = saga.customer(), saga.customer("ben@example.com")
    order_id = saga.place(who)
    cancel = f"/v1/orders/{order_id}/cancel"
    assert saga.client.post(cancel, headers=other["headers"]).status_code == 404, "another's order is not there"
    cancelled = saga.client.post(cancel, headers=who["headers"])
    assert cancelled.status_code == 202, cancelled.get_json()
    body = cancelled.get_json()
    assert body["status"] == "cancelled" and body["next_action"] is None
    assert body["timeline"][-1]["event"] == "cancel_requested"
    assert saga.sent("payment.cancel", order_id)[0]["reason"] == "cancelled_by_customer"
    again = saga.client.post(cancel, headers=who["headers"])
    assert again.status_code == 202 and len(saga.sent("payment.cancel", order_id)) == 1, "asked again: the same"

    saga.captured(order_id, payment_id="pay_raced")  # the customer paid in the same moment
    wait_for(lambda: saga.sent("payment.refund", order_id), what="the racing capture refunded")
    assert saga.status(order_id) == "cancelled" and saga.sent("wallet.credit", order_id) == []


def test_a_paid_order_cannot_be_cancelled(saga: Saga) -> None:
    who = saga.customer()
    order_id = saga.place(who)
    saga.captured(order_id)
    saga.wait(order_id, "paid")
    refused = saga.client.post(f"/v1/orders/{order_id}/cancel", headers={**who["headers"], "Accept-Language": "zh-CN"})
    assert refused.status_code == 409 and refused.get_json()["code"] == "order_not_cancellable"
    assert any("\u4e00" <= ch <= "\u9fff" for ch in refused.get_json()["title"])
    assert saga.sent("payment.cancel", order_id) == []


@pytest.mark.payment_deadline(900)
def test_the_customer_returns_only_to_the_shops_own_pages(saga: Saga) -> None:
    who = saga.customer()
    shop = saga.ctx.settings.allowed_return_origins[0]
    for elsewhere in ("https://evil.example/done", "javascript:alert(1)", "/relative/return",
                      f"{shop}.evil.example/done", f"http://user:pw@{shop.removeprefix('http://')}/done"):
        quote = saga.client.post("/v1/quotes", headers=who["headers"],
                                 json={"amount": 5000, "currency": "EUR", "method": "card"}).get_json()
        refused = saga.client.post("/v1/orders", json={"quote_id": quote["quote_id"], "return_url": elsewhere},
                                   headers={**who["headers"], "Idempotency-Key": quote["quote_id"],
                                            "Accept-Language": "zh-CN"})
        assert refused.status_code == 422 and refused.get_json()["code"] == "return_url_not_allowed", elsewhere
        assert any("\u4e00" <= ch <= "\u9fff" for ch in refused.get_json()["title"])
    assert saga.client.get("/v1/orders", headers=who["headers"]).get_json()["orders"] == [], "nothing half-written"

    back = f"{shop}/return?from=topup#top"
    order_id = saga.place(who, return_url=back)
    assert saga.client.get(f"/v1/orders/{order_id}", headers=who["headers"]).get_json()["return_url"] == back
    wait_for(lambda: saga.sent("payment.create", order_id), what="payment.create")
    assert saga.sent("payment.create", order_id)[0]["return_url"] == back


@pytest.mark.payment_deadline(900)
def test_each_declined_try_is_on_the_timeline_and_the_last_one_fails_the_order(saga: Saga) -> None:
    who = saga.customer()
    order_id = saga.place(who)
    saga.send("payment.created", {"order_id": order_id, "payment_id": "pay_1", "method": "card",
                                  "redirect_url": "http://gateway.test/checkout/cs_1"}, order_id)
    saga.wait(order_id, "awaiting_payment")
    for attempt, reason in ((1, "card_declined"), (2, "insufficient_funds")):
        saga.send("payment.attempt_failed", {"order_id": order_id, "payment_id": "pay_1", "reason": reason,
                                             "attempt": attempt, "attempts_allowed": 3}, order_id)

    def attempts() -> list[Any]:
        body = saga.client.get(f"/v1/orders/{order_id}", headers=who["headers"]).get_json()
        return [(s["reason"], s["status"]) for s in body["timeline"] if s["event"] == "payment_attempt_failed"]

    wait_for(lambda: len(attempts()) == 2, what="both declined tries on the timeline")
    assert sorted(attempts()) == [("card_declined", "awaiting_payment"), ("insufficient_funds", "awaiting_payment")]
    body = saga.client.get(f"/v1/orders/{order_id}", headers=who["headers"]).get_json()
    assert body["status"] == "awaiting_payment" and body["failure_reason"] is None, "a try is not the order's end"
    assert body["next_action"]["url"] == "http://gateway.test/checkout/cs_1", "the page takes another card"
    saga.send("payment.failed", {"order_id": order_id, "payment_id": "pay_1", "reason": "card_declined"}, order_id)
    saga.wait(order_id, "failed")
    late = {"order_id": order_id, "payment_id": "pay_1", "reason": "card_declined", "attempt": 3,
            "attempts_allowed": 3}
    saga.send("payment.attempt_failed", late, order_id)
    saga.send("payment.captured", {"order_id": order_id, "payment_id": "pay_1", "amount": 9000, "currency": "EUR",
                                   "method": "card", "captured_at": utcnow()}, order_id)
    wait_for(lambda: saga.sent("payment.refund", order_id), what="the late capture refunded")
    body = saga.client.get(f"/v1/orders/{order_id}", headers=who["headers"]).get_json()
    assert body["failure_reason"] == "card_declined" and len(attempts()) == 2, "a late try changes nothing"


def test_a_refund_the_gateway_refuses_is_flagged_for_an_operator_who_retries_it(saga: Saga) -> None:
    ops = {"Authorization": f"Bearer {saga.settings.operator_token}"}
    who = saga.customer()
    order_id = saga.place(who)
    saga.paid_then_refused(who, order_id, "balance_cap_exceeded")
    assert saga.client.post(f"/v1/operator/orders/{order_id}/retry-refund", headers=ops).status_code == 409

    saga.send("payment.refund_failed", {"order_id": order_id, "payment_id": "pay_1", "reason": "refund_declined",
                                        "attempts": 5}, order_id)

    def flagged() -> list[dict[str, Any]]:
        listed = saga.client.get("/v1/operator/orders?needs_operator=true", headers=ops).get_json()["orders"]
        return [o for o in listed if o["order_id"] == order_id]

    listed = wait_for(flagged, what="the order listed for an operator")
    assert listed[0]["status"] == "paid" and listed[0]["timeline"][-1]["reason"] == "refund_declined"
    assert saga.client.get("/v1/operator/orders?needs_operator=true").status_code == 401

    retried = saga.client.post(f"/v1/operator/orders/{order_id}/retry-refund", headers=ops)
    assert retried.status_code == 202 and retried.get_json()["timeline"][-1]["event"] == "refund_retried"
    assert len(saga.sent("payment.refund", order_id)) == 2
    saga.send("payment.refunded", {"order_id": order_id, "payment_id": "pay_1", "amount": 9000, "currency": "EUR",
                                   "refunded_at": utcnow()}, order_id)
    saga.wait(order_id, "refunded")
    assert flagged() == []
    assert saga.client.get(f"/v1/operator/orders/{order_id}", headers=ops).get_json()["needs_operator"] is False


def test_a_frontend_can_wait_for_its_order_to_change_instead_of_polling(saga: Saga) -> None:
    who = saga.customer()
    order_id = saga.place(who)
    first = saga.client.get(f"/v1/orders/{order_id}", headers=who["headers"])
    tag = first.headers["ETag"]
    unchanged = saga.client.get(f"/v1/orders/{order_id}", headers={**who["headers"], "If-None-Match": tag})
    assert unchanged.status_code == 304 and unchanged.headers["ETag"] == tag

    waiting = {**who["headers"], "If-None-Match": tag, "Prefer": "wait=10"}
    frontend = Waiting(saga.client, f"/v1/orders/{order_id}", waiting)
    time.sleep(0.5)
    assert frontend.thread.is_alive(), "the request waits while nothing changes"
    saga.send("payment.created", {"order_id": order_id, "payment_id": "pay_1", "method": "card",
                                  "redirect_url": "http://gateway.test/checkout/cs_1"}, order_id)
    changed = frontend.answer(10)
    assert changed.status_code == 200 and changed.headers["Preference-Applied"] == "wait=10"
    assert changed.headers["ETag"] != tag and frontend.seconds < 5
    assert [e["event"] for e in changed.get_json()["timeline"]] == ["placed", "payment_created"]

    started = time.monotonic()
    quiet = saga.client.get(f"/v1/orders/{order_id}", headers={**waiting, "If-None-Match": changed.headers["ETag"],
                                                                "Prefer": "wait=1"})
    assert quiet.status_code == 304 and time.monotonic() - started >= 1


@pytest.mark.payment_deadline(900)
def test_placing_an_order_can_wait_for_its_payment_page_so_no_first_poll_is_needed(saga: Saga) -> None:
    who = saga.customer()
    quote = saga.client.post("/v1/quotes", headers=who["headers"],
                             json={"amount": 5000, "currency": "EUR", "method": "card"}).get_json()
    headers = {**who["headers"], "Idempotency-Key": quote["quote_id"], "Prefer": "wait=5"}
    # The process's first wait starts its listener, which may miss what commits before it
    # connects: that one reads once more. Every later one is what is counted below.
    other = saga.customer("first@example.com")
    first = saga.client.post("/v1/quotes", headers=other["headers"],
                             json={"amount": 1000, "currency": "EUR", "method": "card"}).get_json()["quote_id"]
    assert saga.client.post("/v1/orders", json={"quote_id": first}, headers={
        **other["headers"], "Idempotency-Key": first, "Prefer": "wait=1"}).status_code == 201
    reads: list[str] = []

    def count_reads(conn: object, cursor: object, statement: str, *rest: object) -> None:
        if "FROM orders LEFT OUTER JOIN order_timeline" in statement:
            reads.append(statement)

    event.listen(saga.ctx.engine, "before_cursor_execute", count_reads)
    try:
        placing = Waiting(saga.client, "/v1/orders", headers, json={"quote_id": quote["quote_id"]})
        order_id = wait_for(lambda: saga.client.get("/v1/orders", headers=who["headers"]).get_json()["orders"],
                            what="the order placed")[0]["order_id"]
        time.sleep(0.3)
        assert placing.thread.is_alive(), "the answer waits for the payment page"
        saga.send("payment.created", {"order_id": order_id, "payment_id": "pay_1", "method": "card",
                                      "redirect_url": "http://gateway.test/checkout/cs_1"}, order_id)
        placed = placing.answer(10)
    finally:
        event.remove(saga.ctx.engine, "before_cursor_execute", count_reads)
    assert len(reads) == 1, "the order is read once, when its page is known (not for its own placing's news)"
    assert placed.status_code == 201 and placed.headers["Preference-Applied"] == "wait=5"
    assert placed.get_json()["next_action"] == {"type": "redirect", "url": "http://gateway.test/checkout/cs_1"}
    unchanged = saga.client.get(f"/v1/orders/{order_id}", headers={**who["headers"],
                                                                    "If-None-Match": placed.headers["ETag"]})
    assert unchanged.status_code == 304, "the ETag it answered with is the order's"
    again = saga.client.post("/v1/orders", headers=headers, json={"quote_id": quote["quote_id"]})
    assert again.headers["Idempotent-Replayed"] == "true" and "Preference-Applied" not in again.headers, (
        "a replay that already has its page answers at once")
    assert again.get_json()["next_action"] == placed.get_json()["next_action"]


def test_without_postgresql_the_wait_preference_is_declined_and_the_answer_immediate(
        sqlite_settings: Settings) -> None:
    ctx = order_app.start(sqlite_settings)
    saga = Saga(ctx, order_app.create_app(ctx=ctx).test_client())
    who = saga.customer()
    order_id = saga.place(who)
    tag = saga.client.get(f"/v1/orders/{order_id}", headers=who["headers"]).headers["ETag"]
    started = time.monotonic()
    answer = saga.client.get(f"/v1/orders/{order_id}", headers={**who["headers"], "If-None-Match": tag,
                                                                 "Prefer": "wait=5"})
    assert answer.status_code == 304 and "Preference-Applied" not in answer.headers
    assert time.monotonic() - started < 1
    ctx.engine.dispose()


def test_a_change_whose_announcement_is_lost_is_still_found_by_a_waiting_read(
        saga: Saga, monkeypatch: pytest.MonkeyPatch) -> None:
    """As behind a pooler that drops notifications: the waiting read looks again by itself,
    and answers long before its 20 s are over."""
    monkeypatch.setattr(OrderWatch, "_listen", lambda self: None)
    client = order_app.create_app(ctx=saga.ctx).test_client()
    who = saga.customer()
    order_id = saga.place(who)
    tag = client.get(f"/v1/orders/{order_id}", headers=who["headers"]).headers["ETag"]
    frontend = Waiting(client, f"/v1/orders/{order_id}",
                       {**who["headers"], "If-None-Match": tag, "Prefer": "wait=20"})
    time.sleep(0.5)
    answer = frontend.answer(25)
    assert answer.status_code == 200 and answer.headers["Preference-Applied"] == "wait=20"
    assert frontend.seconds < RECHECK_SECONDS + 5 < 20
