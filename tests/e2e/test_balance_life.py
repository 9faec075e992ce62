"""The balance's whole life through the public APIs, on both backends: a Chinese-speaking
traveller tops up, the eSIM platform spends, the balance runs low and a credit expires; the
statement, the receipt and every email in their language; the money check balances after.

Credits here are valid for seconds (CREDIT_VALIDITY), so that expiry can be seen."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.e2e.frontend import Frontend, decide
from tests.helpers import wait_for

SYSTEM_OVERRIDES = {"credit_validity": timedelta(seconds=20), "expiry_reminder_before": timedelta(seconds=10)}


def mails_to(frontend: Frontend, who: dict[str, Any]) -> list[Any]:
    return [m for m in frontend.system.mail_sink.messages() if m["To"] == who["email"]]


def with_subject(frontend: Frontend, who: dict[str, Any], words: str, count: int = 1) -> list[Any]:
    def found() -> list[Any] | None:
        matching = [m for m in mails_to(frontend, who) if words in m["Subject"]]
        return matching if len(matching) >= count else None

    return wait_for(found, timeout=30, what=f"{count} email(s) saying {words!r}")


def text(message: Any) -> str:
    return str(message.get_body(("plain",)).get_content())


def statement(frontend: Frontend, who: dict[str, Any]) -> list[dict[str, Any]]:
    return list(frontend.get(who, "/v1/balance/entries").json()["entries"])


def test_a_chinese_speaking_traveller_tops_up_spends_runs_low_and_sees_a_credit_expire(frontend: Frontend) -> None:
    who = frontend.register("CN")
    assert who["language"] == "zh-CN" and who["currency"] == "CNY"
    options = frontend.get(who, "/v1/topup-options").json()
    assert options["max_balance"] == 1_500_000 and options["validity"] == "PT20S"
    assert any(p["name"] == "满¥500.00减¥50.00" for p in options["promotions"])

    order = frontend.top_up(who, 20000, method="wechat_pay")
    page = frontend.http.get(order["next_action"]["url"])
    assert "使用微信支付付款" in page.text and "¥200.00" in page.text
    decide(frontend, order, "approve")
    done = frontend.wait_status(who, order["order_id"], "completed", timeout=20)
    assert done["valid_until"]

    receipt = wait_for(lambda: (r := frontend.get(who, f"/v1/orders/{order['order_id']}/receipt")).ok and r.json(),
                       what="the receipt")
    assert receipt["receipt_number"].startswith("R-") and receipt["language"] == "zh-CN"
    assert receipt["lines"] == [{"description": "余额充值", "amount": 20000}]
    assert receipt["payment_method"] == "微信支付"
    [emailed] = with_subject(frontend, who, receipt["receipt_number"])
    assert emailed["Subject"] == f"您的充值收据 {receipt['receipt_number']}" and "中国标准时间" in text(emailed)

    spent = frontend.debit(who, 15000, key="plan-1")
    assert spent.status_code == 201 and spent.json()["balance"] == {"amount": 5000, "currency": "CNY"}
    assert frontend.debit(who, 15000, key="plan-1").headers["Idempotent-Replayed"] == "true"
    poor = frontend.debit(who, 9000)
    assert poor.status_code == 409 and poor.json()["code"] == "insufficient_funds"
    assert frontend.debit(who, 1500, description="Data top-up 1 GB").status_code == 201  # 5000 -> 3500 < 4000
    [low] = with_subject(frontend, who, "余额不足提醒")
    assert "¥35.00" in low["Subject"] and "¥40.00" in text(low)

    wait_for(lambda: [e["kind"] for e in statement(frontend, who)] == ["debit", "debit", "topup"],
             what="the statement with both debits")
    balance = frontend.get(who, "/v1/balance").json()
    assert balance["amount"] == 3500 == statement(frontend, who)[0]["balance_after"], "never behind the balance"
    assert balance["expiring"][0]["amount"] == 3500

    [soon] = with_subject(frontend, who, "到期")
    assert "¥35.00" in soon["Subject"]
    [gone] = with_subject(frontend, who, "已过期")
    assert "¥35.00" in gone["Subject"] and "最新余额：¥0.00" in text(gone)
    wait_for(lambda: frontend.get(who, "/v1/balance").json()["amount"] == 0, what="the balance after the expiry")
    entries = statement(frontend, who)
    assert [(e["kind"], e["amount"], e["balance_after"]) for e in entries] == [
        ("expiry", -3500, 0), ("debit", -1500, 3500), ("debit", -15000, 5000), ("topup", 20000, 20000)]
    assert entries[0]["description"] == "余额过期" and entries[0]["order_id"] == order["order_id"]
    assert entries[1]["description"] == "Data top-up 1 GB"
    assert frontend.get(who, "/v1/balance").json()["expiring"] == []

    resent = frontend.http.post(f"{frontend.order_url}/v1/orders/{order['order_id']}/receipt/resend",
                                headers=who["headers"])
    assert resent.status_code == 202 and resent.json()["receipt_number"] == receipt["receipt_number"]
    copies = with_subject(frontend, who, receipt["receipt_number"], count=2)
    assert text(copies[0]) == text(copies[1])


def test_a_reversed_debit_comes_back_and_an_english_customer_reads_english(frontend: Frontend) -> None:
    who = frontend.register("DE")
    order = frontend.top_up(who, 5000)
    frontend.pay(order)
    frontend.wait_status(who, order["order_id"], "completed")
    debit = frontend.debit(who, 2000).json()
    reversal = frontend.http.post(
        f"{frontend.system.url('wallet')}/v1/accounts/{who['customer_id']}/debits/{debit['debit_id']}/reversal",
        headers={"Authorization": f"Bearer {frontend.system.settings.platform_token}"})
    assert reversal.status_code == 201 and reversal.json()["balance"]["amount"] == 5000
    wait_for(lambda: statement(frontend, who)[0]["kind"] == "debit_reversal", what="the reversal on the statement")
    assert statement(frontend, who)[0]["description"] == "Refund: Japan 7 days, 5 GB"
    receipt = with_subject(frontend, who, "Your top-up receipt")[0]
    assert "€50.00" in text(receipt) and "Central European" in text(receipt)
    me = frontend.http.patch(f"{frontend.order_url}/v1/me", headers=who["headers"], json={"language": "zh-CN"})
    assert me.json()["language"] == "zh-CN"
    refused = frontend.quote(who, 10**6)
    assert refused.json()["title"] == "无法充值该金额。", "the customer's new language, from this request on"
