"""The order service's side of the customer's account, on real PostgreSQL and RabbitMQ: the
profile, the balance and statement kept from the wallet's announcements (in any order),
the receipts kept from the notify service's, and answers in the customer's language."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from shared.clock import utcnow
from tests.helpers import wait_for
from tests.integration.order_saga import Saga


def state(customer_id: str, version: int, balance: int, entry: dict[str, Any] | None = None,
          status: str = "active", frozen_reason: str | None = None) -> dict[str, Any]:
    expires = utcnow() + timedelta(days=30)
    return {"customer_id": customer_id, "balance": balance, "currency": "EUR", "status": status,
            "frozen_reason": frozen_reason, "version": version,
            "expiring": [{"amount": balance, "expires_at": expires}] if balance else [], "entry": entry}


def entry(entry_id: str, kind: str, amount: int, balance_after: int, **more: Any) -> dict[str, Any]:
    return {"entry_id": entry_id, "kind": kind, "amount": amount, "balance_after": balance_after,
            "occurred_at": utcnow(), **more}


def get(saga: Saga, who: dict[str, Any], path: str, **headers: str) -> Any:
    return saga.client.get(path, headers={**who["headers"], **headers})


def test_versions_out_of_order_move_the_balance_only_when_none_is_missing(saga: Saga) -> None:
    who = saga.customer()
    customer = who["customer_id"]
    debit = entry("je_2", "debit", -700, 5300, reference="dbt_1", description="Japan 7 days")
    saga.send("wallet.account_updated", state(customer, 3, 5300, debit))
    saga.send("wallet.account_updated", state(customer, 2, 6000, entry("je_1", "topup", 6000, 6000, order_id="ord_x")))
    wait_for(lambda: saga.count_messages_handled("account_updated") >= 2, what="both handled")
    assert get(saga, who, "/v1/balance").get_json()["amount"] == 0, "version 1 has not arrived: nothing moves"
    assert get(saga, who, "/v1/balance/entries").get_json()["entries"] == [], "nor does the statement"

    saga.send("wallet.account_updated", state(customer, 1, 0))
    wait_for(lambda: get(saga, who, "/v1/balance").get_json()["amount"] == 5300, what="the balance at version 3")
    statement = get(saga, who, "/v1/balance/entries").get_json()
    assert [(e["kind"], e["amount"], e["balance_after"]) for e in statement["entries"]] == [
        ("debit", -700, 5300), ("topup", 6000, 6000)]
    assert statement["entries"][0]["description"] == "Japan 7 days"
    assert statement["entries"][1]["order_id"] == "ord_x" and statement["entries"][1]["description"] == "Balance top-up"

    saga.send("wallet.account_updated", state(customer, 3, 5300, entry("je_2", "debit", -700, 5300)))  # again
    first = get(saga, who, "/v1/balance/entries?limit=1").get_json()
    assert len(first["entries"]) == 1 and first["next_cursor"]
    rest = get(saga, who, f"/v1/balance/entries?limit=1&cursor={first['next_cursor']}").get_json()
    assert [e["entry_id"] for e in first["entries"] + rest["entries"]] == ["je_2", "je_1"]
    assert rest["next_cursor"] is None
    assert get(saga, who, "/v1/balance/entries", **{"Accept-Language": "zh-CN"}).get_json()["entries"][1][
        "description"] == "余额充值"
    for cursor in ("nonsense", "v\u0663", "v99999999999"):  # letters; an Arabic-Indic three; past 32 bits
        assert get(saga, who, f"/v1/balance/entries?cursor={cursor}").status_code == 422


def test_the_next_version_moves_the_balance_at_once_and_takes_the_ones_waiting_after_it(saga: Saga) -> None:
    """The usual case (the version right after the balance's) moves it in one statement;
    a version that came early waits for it and then moves too; a copy changes nothing."""
    who = saga.customer()
    customer = who["customer_id"]

    def balance() -> Any:
        return get(saga, who, "/v1/balance").get_json()

    saga.send("wallet.account_updated", state(customer, 1, 0))
    saga.send("wallet.account_updated", state(customer, 2, 1000, entry("je_1", "topup", 1000, 1000, order_id="o1")))
    wait_for(lambda: balance()["amount"] == 1000, what="version 2")
    saga.send("wallet.account_updated", state(customer, 4, 3000, entry("je_3", "topup", 1500, 3000, order_id="o3")))
    wait_for(lambda: saga.count_messages_handled("account_updated") >= 3, what="version 4 kept")
    assert balance()["amount"] == 1000, "version 3 is missing: 4 waits"
    saga.send("wallet.account_updated", state(customer, 3, 1500, entry("je_2", "topup", 500, 1500, order_id="o2")))
    wait_for(lambda: balance()["amount"] == 3000, what="versions 3 and 4")
    saga.send("wallet.account_updated", state(customer, 3, 1500, entry("je_2", "topup", 500, 1500, order_id="o2")))
    saga.send("wallet.account_updated", state(customer, 5, 2000, entry("je_4", "debit", -1000, 2000),
                                              status="frozen", frozen_reason="overdue_payment"))
    wait_for(lambda: balance()["amount"] == 2000, what="version 5")
    assert balance()["status"] == "frozen"
    assert [e["balance_after"] for e in get(saga, who, "/v1/balance/entries").get_json()["entries"]] == [
        2000, 3000, 1500, 1000]


def test_a_credit_that_has_just_ended_is_not_shown_as_spendable(saga: Saga) -> None:
    who = saga.customer()
    ended = {**state(who["customer_id"], 1, 900), "expiring": [
        {"amount": 400, "expires_at": utcnow() - timedelta(seconds=1)},
        {"amount": 500, "expires_at": utcnow() + timedelta(days=3)}]}
    saga.send("wallet.account_updated", ended)
    balance = wait_for(lambda: (b := get(saga, who, "/v1/balance").get_json())["amount"] == 900 and b,
                       what="the balance")
    assert [e["amount"] for e in balance["expiring"]] == [500], "its expiry is about to be booked"


def test_a_frozen_customer_is_told_why_in_their_words(saga: Saga) -> None:
    who = saga.customer()
    customer = who["customer_id"]
    saga.send("wallet.account_updated", state(customer, 1, 0))
    saga.send("wallet.account_updated", state(customer, 2, 0, status="frozen", frozen_reason="overdue_payment"))
    balance = wait_for(lambda: (b := get(saga, who, "/v1/balance").get_json())["status"] == "frozen" and b,
                       what="frozen")
    assert balance["frozen_reason"] == {"code": "overdue_payment", "message": "A payment to your provider is overdue."}
    chinese = get(saga, who, "/v1/balance", **{"Accept-Language": "zh-CN"}).get_json()
    assert chinese["frozen_reason"]["message"] == "您有一笔应付给运营商的款项已逾期。"
    refused = saga.client.post("/v1/quotes", headers={**who["headers"], "Accept-Language": "zh-CN"},
                               json={"amount": 2000, "currency": "EUR", "method": "card"})
    assert refused.status_code == 403 and refused.get_json()["code"] == "account_frozen"
    assert refused.get_json()["title"] == "此账户已被冻结。" and "逾期" in refused.get_json()["detail"]
    assert refused.headers["Content-Language"] == "zh-CN"
    saga.send("wallet.account_updated", state(customer, 3, 0, status="frozen", frozen_reason="an old free text"))
    wait_for(lambda: get(saga, who, "/v1/balance").get_json()["frozen_reason"]["code"] == "other", what="reason")
    unknown = saga.client.post("/v1/quotes", headers=who["headers"],
                               json={"amount": 2000, "currency": "EUR", "method": "card"}).get_json()
    assert unknown["detail"] == "This account is frozen and cannot be topped up. Please contact support to learn why."


def test_a_quote_that_would_break_the_currencys_cap_is_refused_before_paying(saga: Saga) -> None:
    who = saga.customer()
    customer = who["customer_id"]
    saga.send("wallet.account_updated", state(customer, 1, 0))
    saga.send("wallet.account_updated", state(customer, 2, 196_000, entry("je_1", "topup", 196_000, 196_000)))
    wait_for(lambda: get(saga, who, "/v1/balance").get_json()["amount"] == 196_000, what="the balance")
    refused = saga.client.post("/v1/quotes", headers=who["headers"],
                               json={"amount": 5000, "currency": "EUR", "method": "card"})
    assert refused.status_code == 422 and refused.get_json()["code"] == "balance_cap_exceeded"
    assert saga.client.post("/v1/quotes", headers=who["headers"],
                            json={"amount": 4000, "currency": "EUR", "method": "card"}).status_code == 201
    options = get(saga, who, "/v1/topup-options").get_json()
    assert options["max_balance"] == 200_000 and options["validity"] == "P365D"


def test_an_account_frozen_or_filled_after_its_quote_is_refused_at_order_time(saga: Saga) -> None:
    """The saga no longer asks the wallet first: the order service checks again as the order
    is placed, from the balance the wallet last announced, and nothing is half-written."""
    who = saga.customer()
    customer = who["customer_id"]
    saga.send("wallet.account_updated", state(customer, 1, 0))
    wait_for(lambda: get(saga, who, "/v1/balance").get_json()["status"] == "active", what="the account")

    def quote(amount: int) -> str:
        body = {"amount": amount, "currency": "EUR", "method": "card"}
        return str(saga.client.post("/v1/quotes", headers=who["headers"], json=body).get_json()["quote_id"])

    def place(quote_id: str) -> Any:
        return saga.client.post("/v1/orders", headers={**who["headers"], "Idempotency-Key": quote_id},
                                json={"quote_id": quote_id})

    big, small = quote(40_000), quote(2_000)
    saga.send("wallet.account_updated", state(customer, 2, 180_000, entry("je_1", "topup", 180_000, 180_000)))
    wait_for(lambda: get(saga, who, "/v1/balance").get_json()["amount"] == 180_000, what="the balance")
    refused = place(big)
    assert refused.status_code == 422 and refused.get_json()["code"] == "balance_cap_exceeded"
    saga.send("wallet.account_updated", state(customer, 3, 180_000, status="frozen", frozen_reason="overdue_payment"))
    wait_for(lambda: get(saga, who, "/v1/balance").get_json()["status"] == "frozen", what="frozen")
    frozen = place(small)
    assert frozen.status_code == 403 and frozen.get_json()["code"] == "account_frozen"
    assert saga.client.get("/v1/orders", headers=who["headers"]).get_json()["orders"] == []
    assert saga.sent_about("payment.create", customer) == [], "nobody is asked to pay"


def test_the_profile_is_read_changed_and_announced_with_a_new_version(saga: Saga) -> None:
    who = saga.customer()
    me = get(saga, who, "/v1/me").get_json()
    assert me["language"] == "en" and me["time_zone"] == "Europe/Berlin"
    assert me["low_balance_threshold"] == 500 and me["reminders"] is True
    changed = saga.client.patch("/v1/me", headers=who["headers"],
                                json={"language": "zh-CN", "low_balance_threshold": 1500, "reminders": False})
    assert changed.status_code == 200
    assert changed.get_json() == {**me, "language": "zh-CN", "low_balance_threshold": 1500, "reminders": False}
    assert saga.client.patch("/v1/me", headers=who["headers"], json={"reminders": False}).status_code == 200
    updates = wait_for(lambda: saga.sent_about("customer.updated", who["customer_id"]), what="the update announced")
    assert [(u["version"], u["language"], u["low_balance_threshold"], u["reminders"]) for u in updates] == [
        (2, "zh-CN", 1500, False)], "a PATCH that changes nothing announces nothing"
    back = saga.client.patch("/v1/me", headers=who["headers"], json={"low_balance_threshold": None})
    assert back.get_json()["low_balance_threshold"] == 500, "null: the currency's default again"
    too_much = saga.client.patch("/v1/me", headers={**who["headers"], "Accept-Language": "zh-CN"},
                                 json={"low_balance_threshold": 10**9})
    assert too_much.status_code == 422 and too_much.get_json()["code"] == "threshold_out_of_range"
    assert "€2,000.00" in too_much.get_json()["detail"] and "提醒金额" in too_much.get_json()["detail"]


def test_the_language_comes_from_the_choice_else_the_browser_else_the_country(saga: Saga) -> None:
    def register(email: str, country: str, **extra: Any) -> str:
        headers = extra.pop("headers", {})
        body = {"email": email, "password": "correct horse", "country": country, **extra}
        return str(saga.client.post("/v1/auth/register", json=body, headers=headers).get_json()["language"])

    assert register("a@example.com", "DE", language="zh-CN") == "zh-CN"
    assert register("b@example.com", "DE", headers={"Accept-Language": "zh-TW,zh;q=0.8"}) == "zh-CN"
    assert register("c@example.com", "CN") == "zh-CN"
    assert register("d@example.com", "CN", headers={"Accept-Language": "en-US"}) == "en"
    assert register("e@example.com", "JP") == "en"
    refused = saga.client.post("/v1/auth/register", headers={"Accept-Language": "zh-CN"},
                               json={"email": "f@example.com", "password": "correct horse", "country": "DE",
                                     "language": "fr"})
    assert refused.status_code == 422 and refused.get_json()["code"] == "validation_failed"
    assert refused.get_json()["title"] == "请求无效。"
    assert "必须是以下之一" in refused.get_json()["errors"]["language"][0]


def test_a_receipt_is_readable_once_issued_and_resent_at_most_three_times_an_hour(saga: Saga) -> None:
    who = saga.customer()
    order_id = saga.place(who)
    missing = get(saga, who, f"/v1/orders/{order_id}/receipt")
    assert missing.status_code == 404 and missing.get_json()["code"] == "receipt_not_found"
    issued = {"order_id": order_id, "customer_id": who["customer_id"], "receipt_number": "R-2026-000042",
              "issued_at": utcnow(), "language": "en", "time_zone": "Europe/Berlin", "currency": "EUR",
              "lines": [{"description": "Balance top-up", "amount": 10000},
                        {"description": "Spend €100.00, get €10.00 off", "amount": -1000}],
              "total_charged": 9000, "credited": 10000, "valid_until": utcnow() + timedelta(days=365),
              "payment_method": "Card (Visa) ending 4242", "promotion": "SPEND100GET10",
              "merchant": {"name": "topup", "address": "", "tax_id": ""}}
    saga.send("receipt.issued", issued, order_id)
    receipt = wait_for(lambda: (r := get(saga, who, f"/v1/orders/{order_id}/receipt")).status_code == 200 and r,
                       what="the receipt").get_json()
    assert receipt["receipt_number"] == "R-2026-000042" and receipt["total_charged"] == 9000
    assert sum(line["amount"] for line in receipt["lines"]) == receipt["total_charged"]

    for _ in range(3):
        resent = saga.client.post(f"/v1/orders/{order_id}/receipt/resend", headers=who["headers"])
        assert resent.status_code == 202 and resent.get_json()["receipt_number"] == "R-2026-000042"
    fourth = saga.client.post(f"/v1/orders/{order_id}/receipt/resend", headers=who["headers"])
    assert fourth.status_code == 429 and fourth.get_json()["code"] == "too_many_requests"
    assert 3500 < int(fourth.headers["Retry-After"]) <= 3600
    copies = saga.sent("receipt.resend", order_id)
    assert len(copies) == 3 and len({c["resend_id"] for c in copies}) == 3
    assert copies[0]["email"] == "ana@example.com"

    stranger = saga.customer("bo@example.com")
    assert get(saga, stranger, f"/v1/orders/{order_id}/receipt").status_code == 404
    assert saga.client.post(f"/v1/orders/{order_id}/receipt/resend", headers=stranger["headers"]).status_code == 404
